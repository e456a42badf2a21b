"""Every rendered object of every chart x scenario is valid for each supported Kubernetes minor
(strict schemas), every custom resource validates against its pinned CRD, and every scenario's values
pass the chart's values.schema.json."""
from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from harness import CHARTS, all_scenarios, assert_valid, merge_values, render, values_errors

SCENARIOS = all_scenarios()
IDS = [f"{chart}:{name}" for chart, name, _ in SCENARIOS]

pytestmark = pytest.mark.schema


@pytest.mark.parametrize(("chart", "scenario", "values_file"), SCENARIOS, ids=IDS)
def test_objects_valid_for_every_minor(chart: str, scenario: str, values_file: Path) -> None:
    assert_valid(render(chart, values_files=[values_file]))


@pytest.mark.parametrize(("chart", "scenario", "values_file"), SCENARIOS, ids=IDS)
def test_scenario_values_match_values_schema(chart: str, scenario: str, values_file: Path) -> None:
    defaults = yaml.safe_load((CHARTS / chart / "values.yaml").read_text())
    errors = values_errors(chart, merge_values(defaults, yaml.safe_load(values_file.read_text())))
    assert not errors, f"{values_file.name}: {errors}"


@pytest.mark.parametrize("chart", sorted(p.parent.name for p in CHARTS.glob("*/values.schema.json")))
def test_values_schema_is_closed_and_self_contained(chart: str) -> None:
    """No remote $ref (Helm 4 would fetch it) and no unknown top-level keys slip through."""
    text = (CHARTS / chart / "values.schema.json").read_text()
    assert '"$ref": "http' not in text, f"{chart}: values.schema.json must not reference remote schemas"
    assert values_errors(chart, {"noSuchValue": 1}), f"{chart}: values.schema.json accepts unknown top-level keys"
