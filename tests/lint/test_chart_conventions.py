"""Conventions every chart follows (../shared/design.md): Chart.yaml fields, a closed values schema,
a README whose parameter table covers every value, NOTES.txt, helm tests and ci/ scenarios."""
from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Iterator

import pytest
import yaml

from harness import CHARTS

pytestmark = pytest.mark.lint

ALL = sorted(p.parent for p in CHARTS.glob("*/Chart.yaml"))
APPS = [c for c in ALL if yaml.safe_load((c / "Chart.yaml").read_text()).get("type") != "library"]
SEMVER = re.compile(r"^\d+\.\d+\.\d+(-[0-9A-Za-z.-]+)?$")


@pytest.mark.parametrize("chart", ALL, ids=lambda p: p.name)
def test_chart_yaml(chart: Path) -> None:
    meta = yaml.safe_load((chart / "Chart.yaml").read_text())
    assert meta["apiVersion"] == "v2"
    assert SEMVER.match(meta["version"]), meta["version"]
    assert meta.get("appVersion") and meta.get("description")
    assert meta.get("kubeVersion") == ">=1.30.0-0"
    annotations = meta.get("annotations") or {}
    assert annotations.get("artifacthub.io/license")
    changes = yaml.safe_load(annotations.get("artifacthub.io/changes", "") or "[]")
    assert changes and all(c.get("kind") in {"added", "changed", "deprecated", "removed", "fixed", "security"} and c.get("description")
                           for c in changes), "artifacthub.io/changes must list this version's changes"
    for dep in meta.get("dependencies") or []:
        assert dep["repository"].startswith("file://"), f"{dep['name']}: dependencies are local charts"


@pytest.mark.parametrize("chart", APPS, ids=lambda p: p.name)
def test_app_chart_has_docs_tests_and_scenarios(chart: Path) -> None:
    assert (chart / "values.schema.json").exists()
    assert (chart / "templates" / "NOTES.txt").exists()
    assert list((chart / "templates" / "tests").glob("*.yaml")), "helm test hooks in templates/tests/"
    assert list((chart / "ci").glob("*-values.yaml")), "ct scenarios in ci/*-values.yaml"
    assert (chart / "README.md").exists()


def leaf_paths(values: Any, prefix: str = "") -> Iterator[str]:
    """Dotted paths of documented values: maps recurse, everything else (lists, scalars, {}) is a leaf."""
    if isinstance(values, dict) and values:
        for key, value in values.items():
            yield from leaf_paths(value, f"{prefix}.{key}" if prefix else str(key))
    else:
        yield prefix


@pytest.mark.parametrize("chart", APPS, ids=lambda p: p.name)
def test_readme_parameter_table_covers_every_value(chart: Path) -> None:
    values = yaml.safe_load((chart / "values.yaml").read_text()) or {}
    readme = (chart / "README.md").read_text()
    documented = set(re.findall(r"^\|\s*`([^`]+)`\s*\|", readme, re.MULTILINE))
    missing = [p for p in leaf_paths(values) if p not in documented and not any(p.startswith(d + ".") for d in documented)]
    assert not missing, f"{chart.name}/README.md has no parameter row for: {missing}"
    stale = [d for d in documented if not any(p == d or p.startswith(d + ".") for p in leaf_paths(values))]
    assert not stale, f"{chart.name}/README.md documents values that do not exist: {stale}"
