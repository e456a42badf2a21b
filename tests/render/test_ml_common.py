"""ml-common's helpers through the test chart tests/charts/ml-common-probe."""
from __future__ import annotations

import pytest

from harness import RenderError, assert_valid, find, render

pytestmark = pytest.mark.render

CHART = "ml-common-probe"


def pod(values: dict, helm: str = "helm4") -> dict:
    return find(render(CHART, values, helm=helm), "Deployment")["spec"]["template"]["spec"]


# Each supported resource name: (gpu block, resource the container must ask for)
GPU_CASES = {
    "whole-gpu": ({"count": 2, "pool": {"name": "gpu-a100"}}, "nvidia.com/gpu"),
    "mig-slice": ({"count": 1, "migProfile": "1g.5gb", "pool": {"name": "gpu-a100"}}, "nvidia.com/mig-1g.5gb"),
    "time-sliced": ({"count": 1, "resource": "nvidia.com/gpu.shared", "pool": {"name": "gpu-l4"}}, "nvidia.com/gpu.shared"),
    "amd": ({"count": 1, "resource": "amd.com/gpu", "pool": {"name": "mi300", "taints": [{"key": "amd.com/gpu", "effect": "NoSchedule"}]}},
            "amd.com/gpu"),
}


@pytest.mark.parametrize("case", sorted(GPU_CASES))
def test_gpu_block_gives_limits_toleration_and_affinity(case: str, helm: str) -> None:
    gpu, resource = GPU_CASES[case]
    spec = pod({"gpu": gpu}, helm)
    resources = spec["containers"][0]["resources"]
    assert resources["limits"][resource] == gpu["count"]
    assert resources["requests"][resource] == gpu["count"], "extended resources need requests == limits"
    assert resources["limits"]["cpu"] == "200m", "existing resources are kept"
    taint_key = gpu["pool"].get("taints", [{"key": "nvidia.com/gpu"}])[0]["key"]
    assert {"key": taint_key, "operator": "Exists", "effect": "NoSchedule"} in spec["tolerations"]
    terms = spec["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]["nodeSelectorTerms"]
    assert terms == [{"matchExpressions": [{"key": "ml-serving-charts.io/pool", "operator": "In", "values": [gpu["pool"]["name"]]}]}]


def test_gpu_affinity_is_anded_into_user_terms_and_extra_labels() -> None:
    user = {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [
        {"matchExpressions": [{"key": "zone", "operator": "In", "values": ["a"]}]},
        {"matchExpressions": [{"key": "zone", "operator": "In", "values": ["b"]}]}]}}}
    spec = pod({"affinity": user, "gpu": {"count": 1, "pool": {"name": "p", "labelKey": "cloud.google.com/compute-class",
                                                                  "nodeSelector": {"nvidia.com/gpu.product": "NVIDIA-L4"}}}})
    terms = spec["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]["nodeSelectorTerms"]
    assert len(terms) == 2
    for term, zone in zip(terms, "ab"):
        assert term["matchExpressions"] == [
            {"key": "zone", "operator": "In", "values": [zone]},
            {"key": "cloud.google.com/compute-class", "operator": "In", "values": ["p"]},
            {"key": "nvidia.com/gpu.product", "operator": "In", "values": ["NVIDIA-L4"]}]


def test_no_gpu_means_no_placement() -> None:
    spec = pod({})
    assert "tolerations" not in spec and "affinity" not in spec
    assert set(spec["containers"][0]["resources"]["limits"]) == {"cpu", "memory"}


def test_any_pool_tolerates_but_does_not_pin() -> None:
    spec = pod({"gpu": {"count": 1, "anyPool": True}})
    assert "affinity" not in spec
    assert spec["tolerations"] == [{"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}]


def test_user_tolerations_kept_without_duplicates() -> None:
    mine = {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}
    spec = pod({"tolerations": [mine, {"key": "spot", "operator": "Exists"}], "gpu": {"count": 1, "pool": {"name": "p"}}})
    assert spec["tolerations"] == [mine, {"key": "spot", "operator": "Exists"}]


@pytest.mark.parametrize(("gpu", "message"), [
    ({"count": 1}, "gpu.count is 1 but gpu.pool.name is empty: set it to the GPU pool"),
    ({"count": -1}, "gpu.count is -1: set it to 0"),
    ({"count": 1, "migProfile": "1g.5gb", "resource": "amd.com/gpu", "pool": {"name": "p"}}, "sets both migProfile"),
])
def test_gpu_block_errors_name_value_and_fix(gpu: dict, message: str, helm: str) -> None:
    with pytest.raises(RenderError) as err:
        render(CHART, {"gpu": gpu}, helm=helm)
    assert message in err.value.stderr


def test_labels_selector_and_names() -> None:
    dep = find(render(CHART, {"commonLabels": {"team": "ml"}}, release="rel"), "Deployment")
    assert dep["metadata"]["name"] == "rel-ml-common-probe"
    assert dep["spec"]["selector"]["matchLabels"] == {
        "app.kubernetes.io/name": "ml-common-probe", "app.kubernetes.io/instance": "rel", "app.kubernetes.io/component": "probe"}
    labels = dep["metadata"]["labels"]
    assert labels["team"] == "ml" and labels["helm.sh/chart"] == "ml-common-probe-0.1.0"
    assert labels["app.kubernetes.io/part-of"] == "ml-serving-charts" and labels["app.kubernetes.io/version"] == "1.0.0"
    long = find(render(CHART, {"fullnameOverride": "x" * 80}), "Deployment")
    assert long["metadata"]["name"] == "x" * 63


@pytest.mark.parametrize(("image", "glob", "expected"), [
    ({"registry": "docker.io", "repository": "a/b", "tag": "1"}, {}, "docker.io/a/b:1"),
    ({"registry": "docker.io", "repository": "a/b", "tag": "1", "digest": "sha256:" + "0" * 64}, {}, "docker.io/a/b@sha256:" + "0" * 64),
    ({"registry": "docker.io", "repository": "a/b"}, {"imageRegistry": "mirror.local"}, "mirror.local/a/b:1.0.0"),
    ({"registry": "", "repository": "a/b", "tag": "2"}, {}, "a/b:2"),
])
def test_image_reference(image: dict, glob: dict, expected: str) -> None:
    spec = pod({"image": image, "global": glob})
    assert spec["containers"][0]["image"] == expected


def test_pull_secrets_merge_global_and_local() -> None:
    spec = pod({"imagePullSecrets": ["a", {"name": "b"}], "global": {"imagePullSecrets": [{"name": "g"}, "a"]}})
    assert spec["imagePullSecrets"] == [{"name": "g"}, {"name": "a"}, {"name": "b"}]


def test_security_defaults_are_restricted_and_overridable() -> None:
    spec = pod({"securityContext": {"readOnlyRootFilesystem": False}, "podSecurityContext": {"runAsUser": 1000}})
    assert spec["securityContext"]["runAsUser"] == 1000 and spec["securityContext"]["runAsNonRoot"] is True
    sc = spec["containers"][0]["securityContext"]
    assert sc["readOnlyRootFilesystem"] is False and sc["capabilities"] == {"drop": ["ALL"]}


@pytest.mark.schema
def test_probe_objects_are_valid_kubernetes() -> None:
    for case in GPU_CASES.values():
        assert_valid(render(CHART, {"gpu": case[0]}))
