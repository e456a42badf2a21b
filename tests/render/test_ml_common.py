"""ml-common's helpers through the test chart tests/charts/ml-common-probe."""
from __future__ import annotations

import json

import pytest

from harness import RenderError, assert_valid, find, merge_values, render
from harness.unique_keys import render_unique_keys

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
    # No registry anywhere: docker.io, what a runtime would pull, written out (never left implicit).
    ({"registry": "", "repository": "a/b", "tag": "2"}, {}, "docker.io/a/b:2"),
    ({"registry": "", "repository": "busybox", "tag": "1"}, {}, "docker.io/library/busybox:1"),
    # A registry in the repository counts as the image's own; a global one replaces it (a mirror keeps the path).
    ({"registry": "", "repository": "nvcr.io/nvidia/cuda", "tag": "12"}, {}, "nvcr.io/nvidia/cuda:12"),
    ({"registry": "", "repository": "localhost:5000/m", "tag": "1"}, {}, "localhost:5000/m:1"),
    ({"registry": "", "repository": "nvcr.io/nvidia/cuda", "tag": "12"}, {"imageRegistry": "mirror.local"}, "mirror.local/nvidia/cuda:12"),
    ({"registry": "quay.io", "repository": "a/b", "tag": "1"}, {"imageRegistry": "mirror.local"}, "mirror.local/a/b:1"),
    # A reference that already names the global registry (a mirror with a path) is kept, not prefixed twice.
    ({"registry": "", "repository": "mirror.local/ml/seldonio/x", "tag": "1"}, {"imageRegistry": "mirror.local/ml"},
     "mirror.local/ml/seldonio/x:1"),
    ({"registry": "mirror.local/ml", "repository": "mirror.local/ml/a/b", "tag": "1"}, {}, "mirror.local/ml/a/b:1"),
    ({"registry": "", "repository": "mirror.local/other/a", "tag": "1"}, {"imageRegistry": "mirror.local/ml"},
     "mirror.local/ml/other/a:1"),
    # Our own images: localhost/ (never docker.io); a mirror the user pushed them to replaces it.
    ({"registry": "localhost", "repository": "ml-serving-charts/x", "tag": "1"}, {}, "localhost/ml-serving-charts/x:1"),
    ({"registry": "localhost", "repository": "ml-serving-charts/x", "tag": "1"}, {"imageRegistry": "mirror.local"},
     "mirror.local/ml-serving-charts/x:1"),
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


def test_restricted_profile_allows_what_restricted_leaves_free(helm: str) -> None:
    spec = pod({"podSecurityContext": {"runAsUser": 1000, "seccompProfile": {"type": "Localhost", "localhostProfile": "p.json"}},
                "securityContext": {"capabilities": {"add": ["NET_BIND_SERVICE"]}, "readOnlyRootFilesystem": False}}, helm)
    assert spec["securityContext"]["seccompProfile"] == {"type": "Localhost", "localhostProfile": "p.json"}
    assert spec["containers"][0]["securityContext"]["capabilities"] == {"drop": ["ALL"], "add": ["NET_BIND_SERVICE"]}


# The contract of ml-common's security helpers (charts/ml-common/README.md): the restricted profile never
# renders a securityContext that breaks the restricted Pod Security Standard; it fails, naming the value.
@pytest.mark.parametrize(("values", "message"), [
    ({"podSecurityContext": {"runAsNonRoot": False}}, "podSecurityContext: runAsNonRoot is false, but the restricted Pod Security Standard requires true"),
    ({"podSecurityContext": {"runAsUser": 0}}, "podSecurityContext: runAsUser is 0 (root)"),
    ({"podSecurityContext": {"seccompProfile": {"type": "Unconfined"}}}, 'podSecurityContext: seccompProfile.type is "Unconfined"'),
    ({"securityContext": {"runAsNonRoot": False}}, "securityContext: runAsNonRoot is false"),
    ({"securityContext": {"privileged": True}}, "securityContext: privileged is true"),
    ({"securityContext": {"allowPrivilegeEscalation": True}}, "securityContext: allowPrivilegeEscalation is true"),
    ({"securityContext": {"allowPrivilegeEscalation": None}}, "securityContext: allowPrivilegeEscalation is <nil>"),
    ({"securityContext": {"capabilities": {"drop": []}}}, "securityContext: capabilities.drop is [], but the restricted Pod Security Standard requires it to contain ALL"),
    ({"securityContext": {"capabilities": {"add": ["SYS_ADMIN"]}}}, "securityContext: capabilities.add has SYS_ADMIN"),
], ids=["pod-root-allowed", "pod-uid-0", "pod-unconfined", "container-root-allowed", "privileged", "escalation",
        "escalation-unset", "no-drop-all", "extra-capability"])
def test_restricted_profile_refuses_what_restricted_forbids(values: dict, message: str, helm: str) -> None:
    with pytest.raises(RenderError) as err:
        render(CHART, values, helm=helm)
    assert message in err.value.stderr


def test_privileged_profile_for_node_agents() -> None:
    """Root and extra capabilities pass; privileged: true gives privileged plus the seccomp profile, nothing else."""
    spec = pod({"securityProfile": "privileged", "podSecurityContext": {"runAsNonRoot": False, "runAsUser": 0},
                "securityContext": {"runAsNonRoot": False, "capabilities": {"add": ["SYS_ADMIN"]}}})
    assert spec["securityContext"]["runAsUser"] == 0 and spec["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    assert spec["containers"][0]["securityContext"]["capabilities"] == {"drop": ["ALL"], "add": ["SYS_ADMIN"]}
    privileged = pod({"securityProfile": "privileged", "securityContext": {"privileged": True}})
    assert privileged["containers"][0]["securityContext"] == {"privileged": True, "seccompProfile": {"type": "RuntimeDefault"}}
    with pytest.raises(RenderError) as err:
        render(CHART, {"securityProfile": "privileged", "securityContext": {"seccompProfile": {"type": "Unconfined"}}})
    assert 'securityContext: seccompProfile.type is "Unconfined"' in err.value.stderr


# ------------------------------------------------------------------ ml-common.values.merge, rule by rule
# (name, layers, expected result). The same cases run through the chart helper under both Helms and through
# harness.merge_values, which states the same semantics for the tests' own values arithmetic.
MERGE_RULES = [
    ("maps-merge-recursively", [{"a": {"x": 1, "y": {"p": 1, "q": 2}}}, {"a": {"y": {"q": 3}, "z": 4}}],
     {"a": {"x": 1, "y": {"p": 1, "q": 3}, "z": 4}}),
    ("false-0-empty-string-replace", [{"t": True, "n": 5, "s": "x", "f": 1.5}, {"t": False, "n": 0, "s": "", "f": 0}],
     {"t": False, "n": 0, "s": "", "f": 0}),
    ("empty-list-replaces", [{"l": [1, 2]}, {"l": []}], {"l": []}),
    ("lists-replaced-not-appended", [{"l": [{"name": "a"}, {"name": "b"}]}, {"l": [{"name": "c"}]}], {"l": [{"name": "c"}]}),
    ("empty-map-over-map-changes-nothing", [{"m": {"k": 1}}, {"m": {}}], {"m": {"k": 1}}),
    ("map-over-scalar-and-scalar-over-map-replace", [{"m": 1, "s": {"k": 1}}, {"m": {"k": 2}, "s": "x"}], {"m": {"k": 2}, "s": "x"}),
    ("empty-map-over-scalar-replaces", [{"m": "x"}, {"m": {}}], {"m": {}}),
    ("missing-key-keeps-the-earlier-value", [{"a": 1, "b": {"c": 2}}, {"d": 3}], {"a": 1, "b": {"c": 2}, "d": 3}),
    ("null-removes-the-key", [{"a": 1, "m": {"k": 1, "j": 2}}, {"a": None, "m": {"k": None}}], {"m": {"j": 2}}),
    ("no-null-inside-maps-but-kept-in-lists", [{"a": None, "m": {"k": None}, "l": [None, {"k": None}]}, {}],
     {"m": {}, "l": [None, {"k": None}]}),
    ("null-layer-is-empty", [None, {"a": 1}, None], {"a": 1}),
    ("later-layers-win", [{"a": 1, "b": 1, "c": 1}, {"b": 2, "c": 2}, {"c": 3}], {"a": 1, "b": 2, "c": 3}),
]


@pytest.mark.parametrize(("layers", "expected"), [c[1:] for c in MERGE_RULES], ids=[c[0] for c in MERGE_RULES])
def test_values_merge_rule(layers: list, expected: dict, helm: str) -> None:
    cm = find(render(CHART, {"mergeLayers": layers}, helm=helm), "ConfigMap")
    assert json.loads(cm["data"]["result"]) == expected
    assert json.loads(cm["data"]["layersAfter"]) == layers, "the layers must not be modified"
    assert merge_values(*layers) == expected, "harness.merge_values must agree with the chart helper"


def test_values_merge_refuses_a_non_map(helm: str) -> None:
    with pytest.raises(RenderError) as err:
        render(CHART, {"mergeLayers": [{"a": 1}, ["not", "a", "map"]]}, helm=helm)
    assert "ml-common.values.merge: argument 1 is a slice" in err.value.stderr
    with pytest.raises(TypeError):
        merge_values({"a": 1}, ["not", "a", "map"])  # type: ignore[arg-type]


def test_merge_values_shares_nothing_with_its_layers() -> None:
    base, overlay = {"m": {"l": [1]}}, {"n": {"l": [2]}}
    out = merge_values(base, overlay)
    out["m"]["l"].append(9)
    out["n"]["l"].append(9)
    assert base == {"m": {"l": [1]}} and overlay == {"n": {"l": [2]}}


# ------------------------------------------------------------------ labels: one map, no key twice


def test_user_label_with_a_standard_key_is_written_once(helm: str) -> None:
    values = {"commonLabels": {"app.kubernetes.io/part-of": "team-platform", "app.kubernetes.io/name": "hijack", "team": "ml"},
              "customLabels": {"team": "serving", "helm.sh/chart": "mine", "app.kubernetes.io/component": "hijack"}}
    dep = find(render_unique_keys(CHART, values, helm), "Deployment")
    labels = dep["metadata"]["labels"]
    assert labels["app.kubernetes.io/part-of"] == "team-platform", "commonLabels win over the standard labels"
    assert labels["team"] == "serving" and labels["helm.sh/chart"] == "mine", "customLabels win over commonLabels"
    assert labels["app.kubernetes.io/name"] == "ml-common-probe", "selector labels keep the chart's value"
    assert labels["app.kubernetes.io/component"] == "probe"
    assert dep["spec"]["selector"]["matchLabels"].items() <= labels.items()


@pytest.mark.schema
def test_probe_objects_are_valid_kubernetes() -> None:
    for case in GPU_CASES.values():
        assert_valid(render(CHART, {"gpu": case[0]}))
