"""Conventions every chart follows (docs/architecture.md, "Chart conventions"): Chart.yaml fields, a closed values schema,
a README, NOTES.txt, helm tests and ci/ scenarios (test_chart_docs.py: the README's parameter tables cover
every value, generated from the @param lines)."""
from __future__ import annotations

import re
from pathlib import Path

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
