"""A value that holds settings set to null (Helm deletes the key) is refused by values.schema.json naming it,
under Helm 3 and Helm 4, and the templates that read it do not crash even when the schema is skipped."""
from __future__ import annotations

import pytest

from harness import RenderError, render

pytestmark = pytest.mark.schema

CASES = [
    ("seldon-operator", {"leaderElection": None}, "leaderElection"),
    ("seldon-operator", {"rbac": None}, "rbac"),
    ("seldon-model", {"protocol": None}, "protocol"),
    ("seldon-model", {"test": {"payloads": None}}, "payloads"),
    ("gpu-node-pool", {"provider": "azure", "azure": None}, "azure"),
    ("gpu-node-pool", {"poolDefaults": None}, "poolDefaults"),
]


@pytest.mark.parametrize(("chart", "values", "key"), CASES, ids=[f"{c}:{k}" for c, _, k in CASES])
def test_null_settings_are_refused_by_name(chart: str, values: dict, key: str, helm: str) -> None:
    with pytest.raises(RenderError) as err:
        render(chart, values, helm=helm)
    message = " ".join(err.value.stderr.split())
    assert "values don't meet the specifications of the schema" in message and key in message, message
    assert "nil pointer" not in message


@pytest.mark.parametrize(("chart", "values"), [("seldon-model", {"protocol": None}), ("seldon-model", {"transport": None})])
def test_templates_do_not_crash_on_null_even_without_the_schema(chart: str, values: dict) -> None:
    render(chart, values, extra_args=("--skip-schema-validation",))
