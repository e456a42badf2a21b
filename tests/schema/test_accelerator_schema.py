"""The accelerator values in values.schema.json: seldon-model's components.<node>.accelerator and
gpu-node-pool's pools[].accelerator accept every kind and name the path of a bad value; the custom
resources of every accelerator scenario are checked against their CRDs by test_schema_scenarios."""
from __future__ import annotations

import copy
from typing import Any

import pytest
import yaml

from harness import CHARTS, RenderError, render, values_errors

pytestmark = pytest.mark.schema

Obj = dict[str, Any]
MODEL_DEFAULTS = yaml.safe_load((CHARTS / "seldon-model" / "values.yaml").read_text())
POOL_DEFAULTS = yaml.safe_load((CHARTS / "gpu-node-pool" / "values.yaml").read_text())
TPU = {"kind": "tpu", "tpu": {"type": "tpu-v5-lite-podslice", "topology": "2x4"}, "pool": {"name": "tpu"}}


def model_errors(accelerator: Any, where: str = "component") -> list[str]:
    values = copy.deepcopy(MODEL_DEFAULTS)
    predictor = values["predictors"][0]
    component = {"accelerator": accelerator}
    if where == "version":
        component = {"versions": [{"pod": "second", "accelerator": accelerator}]}
        predictor["pods"] = [{"name": "second"}]
    predictor["components"] = {predictor["graph"]["name"]: component}
    return values_errors("seldon-model", values)


def pool_errors(pool: Obj) -> list[str]:
    values = copy.deepcopy(POOL_DEFAULTS)
    values.update(provider="simulated", pools=[{"name": "p", **pool}])
    return values_errors("gpu-node-pool", values)


@pytest.mark.parametrize("accelerator", [
    TPU, {"kind": "tpu", "tpu": {"type": "tpu-v5p-slice", "topology": "2x2x1"}, "anyPool": True},
    {"kind": "neuron", "count": 2, "resource": "aws.amazon.com/neuroncore", "pool": {"name": "inf2"}},
    {"kind": "amd", "pool": {"name": "mi300", "taints": [{"key": "amd.com/gpu", "effect": "NoSchedule"}]}},
    {"kind": "nvidia", "migProfile": "1g.5gb", "pool": {"name": "a100", "nodeSelector": {"nvidia.com/gpu.product": "A100"}}},
], ids=["tpu", "tpu-any-pool", "neuron-cores", "amd", "nvidia-mig"])
def test_model_accepts_every_kind(accelerator: Obj) -> None:
    assert model_errors(accelerator) == []
    assert model_errors(accelerator, "version") == []


@pytest.mark.parametrize(("accelerator", "path", "message"), [
    ({"count": 1}, "", "'kind' is a required property"),
    ({"kind": "gaudi"}, ".kind", "'gaudi' is not one of"),
    ({"kind": "amd", "count": 0}, ".count", "0 is less than the minimum of 1"),
    ({"kind": "tpu", "tpu": {"type": "v5e", "topology": "2x2"}}, ".tpu.type", "'v5e' is not one of"),
    ({"kind": "tpu", "tpu": {"type": "tpu-v6e-slice", "topology": "2by2"}}, ".tpu.topology", "'2by2' does not match"),
    ({"kind": "tpu", "tpu": {"type": "tpu-v6e-slice"}}, ".tpu", "'topology' is a required property"),
    ({"kind": "amd", "gpus": 1}, "", "Additional properties are not allowed ('gpus' was unexpected)"),
    ({"kind": "amd", "pool": {"name": "p", "taints": [{"key": "amd.com/gpu", "effect": "Never"}]}}, ".pool.taints.0.effect", "'Never' is not one of"),
], ids=["no-kind", "unknown-kind", "zero-count", "tpu-type", "tpu-topology", "tpu-without-topology", "unknown-key", "taint-effect"])
def test_model_accelerator_is_typed(accelerator: Obj, path: str, message: str) -> None:
    for where, prefix in (("component", "predictors.0.components.classifier.accelerator"),
                          ("version", "predictors.0.components.classifier.versions.0.accelerator")):
        found = model_errors(accelerator, where)
        assert any(e.startswith(prefix + path + ":") and message in e for e in found), (where, found)


@pytest.mark.parametrize("pool", [
    {"accelerator": {"kind": "tpu", "tpu": {"type": "tpu-v6e-slice", "topology": "2x2"}}},
    {"accelerator": {"kind": "neuron", "count": 6, "product": "inferentia2", "neuron": {"coresPerDevice": 2}}},
    {"accelerator": {"kind": "amd", "count": 8, "product": "MI300X"}},
], ids=["tpu", "neuron", "amd"])
def test_pool_accepts_every_kind(pool: Obj) -> None:
    assert pool_errors(pool) == []


@pytest.mark.parametrize(("pool", "path", "message"), [
    ({"accelerator": {"kind": "nvidia"}}, "pools.0.accelerator.kind", "'nvidia' is not one of"),
    ({"accelerator": {"kind": "amd", "count": -1}}, "pools.0.accelerator.count", "-1 is less than the minimum of 0"),
    ({"accelerator": {"kind": "tpu", "tpu": {"type": "tpu-v7", "topology": "2x2"}}}, "pools.0.accelerator.tpu.type", "'tpu-v7' is not one of"),
    ({"accelerator": {"kind": "tpu", "tpu": {"type": "tpu-v6e-slice", "topology": "2x2x2x2"}}}, "pools.0.accelerator.tpu.topology", "does not match"),
    ({"accelerator": {"kind": "neuron", "count": 1, "neuron": {"coresPerDevice": 0}}}, "pools.0.accelerator.neuron.coresPerDevice",
     "0 is less than the minimum of 1"),
    ({"accelerator": {"kind": "amd", "gpus": 8}}, "pools.0.accelerator", "Additional properties are not allowed ('gpus' was unexpected)"),
], ids=["nvidia-is-gpu", "negative-count", "tpu-type", "tpu-topology", "neuron-cores", "unknown-key"])
def test_pool_accelerator_is_typed(pool: Obj, path: str, message: str) -> None:
    found = pool_errors(pool)
    assert any(e.startswith(path + ":") and message in e for e in found), found


@pytest.mark.parametrize(("defaults", "name"), [
    ({"accelerator": None}, "accelerator"), ({"accelerator": {"tpu": None}}, "tpu"), ({"accelerator": {"neuron": None}}, "neuron"),
], ids=["accelerator", "tpu", "neuron"])
def test_null_accelerator_settings_are_refused_by_name(defaults: Obj, name: str, helm: str) -> None:
    """A null deletes the default when Helm coalesces values; the schema then refuses the missing setting by
    name (under both Helms) instead of a template crashing on it."""
    pools = [{"name": "inf2", "accelerator": {"kind": "neuron", "count": 1}},
             {"name": "tpu", "accelerator": {"kind": "tpu", "tpu": {"type": "tpu-v6e-slice", "topology": "2x2"}}}]
    with pytest.raises(RenderError) as err:
        render("gpu-node-pool", {"provider": "simulated", "pools": pools, "poolDefaults": defaults}, helm=helm)
    assert "schema" in err.value.stderr and name in err.value.stderr, err.value.stderr
