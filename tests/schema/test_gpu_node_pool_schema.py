"""gpu-node-pool's values.schema.json names the bad value's path; our own AKSNodeClass and ComputeClass
CRD schemas (tests/harness/schemas) accept the providers' documented examples and reject what they must."""
from __future__ import annotations

import copy
from typing import Any

import pytest
import yaml

from harness import CHARTS, validate_object, values_errors

pytestmark = pytest.mark.schema

CHART = "gpu-node-pool"
DEFAULTS: dict[str, Any] = yaml.safe_load((CHARTS / CHART / "values.yaml").read_text())


def with_values(**overlay: Any) -> dict[str, Any]:
    values = copy.deepcopy(DEFAULTS)
    values.update(overlay)
    return values


def dp(configs: dict[str, Any]) -> dict[str, Any]:
    plugin = copy.deepcopy(DEFAULTS["devicePlugin"])
    plugin["configs"] = configs
    return plugin


BAD = {
    "unknown provider": (with_values(provider="openstack"), "provider: 'openstack' is not one of"),
    "one time-slicing replica": (with_values(devicePlugin=dp({"default": {"timeSlicing": {"replicas": 1}}})),
                                 "devicePlugin.configs.default.timeSlicing.replicas: 1 is less than the minimum of 2"),
    "one mps replica": (with_values(devicePlugin=dp({"default": {"mps": {"replicas": 1}}})),
                        "devicePlugin.configs.default.mps.replicas: 1 is less than the minimum of 2"),
    "rename without replicas": (with_values(devicePlugin=dp({"default": {"timeSlicing": {"renameByDefault": True}}})),
                                "devicePlugin.configs.default.timeSlicing: 'replicas' is a dependency of 'renameByDefault'"),
    "unknown mig strategy": (with_values(devicePlugin=dp({"default": {"migStrategy": "auto"}})),
                             "devicePlugin.configs.default.migStrategy: 'auto' is not one of"),
    "bad pool name": (with_values(pools=[{"name": "GPU_A100"}]), "pools.0.name: 'GPU_A100' does not match"),
    "pool without name": (with_values(pools=[{"gpu": {"count": 1}}]), "pools.0: 'name' is a required property"),
    "unknown pool key": (with_values(pools=[{"name": "p", "gpus": 1}]), "pools.0: Additional properties are not allowed ('gpus' was unexpected)"),
    "bad mig profile": (with_values(pools=[{"name": "p", "mig": {"profiles": {"big": 1}}}]), "pools.0.mig.profiles: 'big' does not match"),
    "bad capacity type": (with_values(pools=[{"name": "p", "capacityTypes": ["cheap"]}]), "pools.0.capacityTypes.0: 'cheap' is not one of"),
    "bad taint effect": (with_values(pools=[{"name": "p", "taints": [{"key": "k", "effect": "Sometimes"}]}]), "pools.0.taints: "),
    "bad budget": (with_values(pools=[{"name": "p", "disruption": {"budgets": [{"nodes": "110%"}]}}]), "pools.0.disruption.budgets.0.nodes: '110%' does not match"),
    "positive headroom priority": (with_values(headroom={**DEFAULTS["headroom"], "priorityClass": {"name": "h", "value": 10}}),
                                   "headroom.priorityClass.value: 10 is greater than the maximum of -1"),
    "resources without limits": (with_values(dcgmExporter={**DEFAULTS["dcgmExporter"], "resources": {"requests": {"cpu": "1"}}}),
                                 "dcgmExporter.resources: 'limits' is a required property"),
    "unknown top-level key": (with_values(gpuPools=[]), "(root): Additional properties are not allowed ('gpuPools' was unexpected)"),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_values_schema_rejects_with_path(case: str) -> None:
    values, message = BAD[case]
    errors = values_errors(CHART, values)
    assert any(e.startswith(message) or message in e for e in errors), f"{case}: {errors}"


def test_values_schema_accepts_defaults_and_a_full_pool() -> None:
    pool = {"name": "gpu-a100", "gpu": {"product": "NVIDIA-A100-SXM4-40GB", "count": 8, "memoryMiB": 40960},
            "devicePluginConfig": "default", "mig": {"config": "all-1g.5gb", "profiles": {"1g.5gb": 7}},
            "labels": {"team": "llm"}, "taints": [{"key": "nvidia.com/gpu", "effect": "NoSchedule"}],
            "node": {"cpu": "96", "memory": "1152Gi", "pods": 110, "ephemeralStorage": "500Gi"}, "minNodes": 0, "maxNodes": 2,
            "limits": {"nvidia.com/gpu": 16}, "capacityTypes": ["on-demand"], "weight": 10, "expireAfter": "Never",
            "disruption": {"consolidationPolicy": "WhenEmpty", "consolidateAfter": "Never", "budgets": [{"nodes": "0", "schedule": "@daily", "duration": "8h"}]},
            "aws": {"instanceFamilies": ["p4d"]}, "simulated": {"nodes": 2}}
    assert values_errors(CHART, DEFAULTS) == []
    assert values_errors(CHART, with_values(provider="simulated", pools=[pool])) == []


# ------------------------------------------------------------------ our own CRD schemas

AKS = {"apiVersion": "karpenter.azure.com/v1beta1", "kind": "AKSNodeClass", "metadata": {"name": "gpu"},
       "spec": {"imageFamily": "Ubuntu2204", "osDiskSizeGB": 256, "maxPods": 110, "tags": {"team": "ml"},
                "vnetSubnetID": "/subscriptions/0000/resourceGroups/rg-1/providers/Microsoft.Network/virtualNetworks/vnet/subnets/nodes",
                "kubelet": {"cpuManagerPolicy": "static", "imageGCHighThresholdPercent": 85, "imageGCLowThresholdPercent": 80}}}
CC = {"apiVersion": "cloud.google.com/v1", "kind": "ComputeClass", "metadata": {"name": "l4"},
      "spec": {"priorities": [{"gpu": {"type": "nvidia-l4", "count": 1, "driverVersion": "default"}},
                              {"machineFamily": "n2", "minCores": 16, "minMemoryGb": 64, "spot": True,
                               "reservations": {"affinity": "Specific", "specific": [{"name": "r", "project": "p"}]},
                               "storage": {"bootDiskSize": 100, "bootDiskType": "pd-balanced", "localSSDCount": 1}},
                              {"nodepools": ["first", "second"]}, {"tpu": {"type": "tpu-v5-lite-device", "count": 8, "topology": "2x4"}}],
               "nodePoolAutoCreation": {"enabled": True}, "whenUnsatisfiable": "ScaleUpAnyway",
               "activeMigration": {"optimizeRulePriority": False}, "autoscalingPolicy": {"consolidationDelayMinutes": 1},
               "nodePoolConfig": {"imageType": "ubuntu_containerd", "serviceAccount": "sa@p.iam.gserviceaccount.com",
                                  "nodeLabels": {"k": "v"}, "taints": [{"key": "k", "value": "v", "effect": "NoSchedule"}]}}}


def test_reference_examples_are_valid() -> None:
    assert validate_object(AKS) == []
    assert validate_object(CC) == []


@pytest.mark.parametrize(("obj", "path", "value", "message"), [
    (AKS, ["spec", "imageFamily"], "Windows", "spec.imageFamily: \"Windows\" is not one of"),
    (AKS, ["spec", "osDiskSizeGB"], 10, "spec.osDiskSizeGB: 10 is less than the minimum of 30"),
    (AKS, ["spec", "imageSKU"], "x", "Additional properties are not allowed ('imageSKU'"),
    (AKS, ["spec", "kubelet", "cpuManagerPolicy"], "dynamic", "spec.kubelet.cpuManagerPolicy: \"dynamic\" is not one of"),
    (CC, ["spec", "whenUnsatisfiable"], "Wait", "spec.whenUnsatisfiable: \"Wait\" is not one of"),
    (CC, ["spec", "priorities"], [], "spec.priorities: [] has less than 1 item"),
    (CC, ["spec", "priorities", 0, "gpu", "driverVersion"], "newest", "spec.priorities.0.gpu.driverVersion: \"newest\" is not one of"),
    (CC, ["spec", "priorities", 0, "gpus"], 1, "Additional properties are not allowed ('gpus'"),
    (CC, ["spec", "nodePoolConfig", "nodeLabels"], {"k": 1}, "spec.nodePoolConfig.nodeLabels.k: 1 is not of type \"string\""),
], ids=["aks-image-family", "aks-disk", "aks-unknown", "aks-kubelet", "cc-unsatisfiable", "cc-no-priorities", "cc-driver", "cc-unknown", "cc-label"])
def test_own_crd_schemas_reject(obj: dict, path: list, value: Any, message: str) -> None:
    bad = copy.deepcopy(obj)
    target = bad
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    problems = validate_object(bad)
    assert any(message in p for p in problems), problems
