"""The Kubernetes types embedded in values.schema.json (tests/schema/k8s_types.py) are current: the closure of
their roots in the oldest supported minor's strict schemas. Rewrite them with
`.tools/venv/bin/python tests/schema/k8s_types.py`."""
from __future__ import annotations

import json

import pytest
import yaml

from harness import CHARTS
from k8s_types import CHARTS as TYPED, ROOT, expected_text

pytestmark = pytest.mark.schema


@pytest.mark.parametrize("chart", sorted(TYPED))
def test_embedded_kubernetes_types_are_current(chart: str) -> None:
    path = TYPED[chart]
    assert path.read_text() == expected_text(path), \
        f"{path.relative_to(ROOT)}: the embedded Kubernetes types are stale: run .tools/venv/bin/python tests/schema/k8s_types.py"


@pytest.mark.parametrize("chart", ["seldon-model", "gpu-node-pool", "seldon-operator"])
def test_settings_groups_are_required(chart: str) -> None:
    """A value that holds settings (a map of defaults, a scalar with a default) is required by the schema, so a null
    (Helm deletes the key) is refused naming it instead of reaching a template as nil."""
    schema = json.loads((CHARTS / chart / "values.schema.json").read_text())
    values = yaml.safe_load((CHARTS / chart / "values.yaml").read_text())
    optional = {"seldon-model": {"defaults.resources", "predictors", "networkPolicy.prometheusFrom"}}.get(chart, set())
    missing: list[str] = []

    def walk(v: dict, node: dict, path: str) -> None:
        props, required = node.get("properties") or {}, set(node.get("required") or [])
        for key, value in v.items():
            where = f"{path}.{key}" if path else key
            if key not in props or where in optional:
                continue
            if value not in (None, {}, []) and key not in required:
                missing.append(where)
            if isinstance(value, dict) and value and "$ref" not in props[key]:
                walk(value, props[key], where)

    walk(values, schema, "")
    assert not missing, f"{chart}: values.schema.json does not require {missing}"
