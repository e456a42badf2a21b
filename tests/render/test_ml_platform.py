"""The umbrella: components behind switches, model namespaces with Pod Security, global values reaching
every component, and a helm test aimed at the operator's real webhook Service."""
from __future__ import annotations

import pytest

from harness import RenderError, find, find_all, pod_specs, render

pytestmark = pytest.mark.render

CHART = "ml-platform"
COMPONENT_MARKERS = {  # an object only that component renders
    "seldonOperator": ("ValidatingWebhookConfiguration", None),
    "gpuNodePool": ("PriorityClass", "ml-inference"),
    "mlMonitoring": ("PodMonitor", None),
}


@pytest.mark.parametrize("component", sorted(COMPONENT_MARKERS))
def test_each_component_switches_off_alone(component: str, helm: str) -> None:
    objs = render(CHART, {"install": {c: c != component for c in COMPONENT_MARKERS}}, helm=helm)
    for other, (kind, name) in COMPONENT_MARKERS.items():
        present = bool(find_all(objs, kind, name))
        assert present == (other != component), f"{other}: {kind} present={present} with {component} off"


def test_model_namespaces_enforce_pod_security_and_quota() -> None:
    objs = render(CHART, {"modelNamespaces": [{"name": "a", "podSecurity": "restricted", "gpuQuota": 4},
                                               {"name": "b", "podSecurity": "baseline"}]})
    a, b = find(objs, "Namespace", "a"), find(objs, "Namespace", "b")
    for ns, level in ((a, "restricted"), (b, "baseline")):
        labels = ns["metadata"]["labels"]
        assert labels["pod-security.kubernetes.io/enforce"] == level
        assert labels["pod-security.kubernetes.io/warn"] == level and labels["pod-security.kubernetes.io/audit"] == level
    defaulted = find(render(CHART, {"modelNamespaces": [{"name": "c"}]}), "Namespace", "c")["metadata"]["labels"]
    assert defaulted["pod-security.kubernetes.io/enforce"] == "restricted", "podSecurity defaults to restricted"
    quotas = find_all(objs, "ResourceQuota")
    assert [(q["metadata"]["namespace"], q["spec"]["hard"]) for q in quotas] == [("a", {"requests.nvidia.com/gpu": "4"})]


def test_duplicate_namespace_fails_with_the_fix(helm: str) -> None:
    with pytest.raises(RenderError) as err:
        render(CHART, {"modelNamespaces": [{"name": "m"}, {"name": "m"}]}, helm=helm)
    assert 'modelNamespaces[1].name "m" is listed twice: give each namespace one entry' in err.value.stderr


def test_bad_pod_security_level_rejected_by_schema(helm: str) -> None:
    with pytest.raises(RenderError) as err:
        render(CHART, {"modelNamespaces": [{"name": "m", "podSecurity": "strict"}]}, helm=helm)
    assert "podSecurity" in err.value.stderr


def test_global_registry_and_pull_secrets_reach_every_component() -> None:
    objs = render(CHART, {"global": {"imageRegistry": "mirror.local", "imagePullSecrets": ["pull"]},
                          "gpu-node-pool": {"headroom": {"enabled": False}}})
    specs = pod_specs(objs)
    assert len(specs) >= 4
    for owner, spec in specs:
        for container in spec.get("containers", []) + spec.get("initContainers", []):
            assert container["image"].startswith("mirror.local/"), f"{owner['kind']}/{owner['metadata']['name']}: {container['image']}"
        assert {"name": "pull"} in spec.get("imagePullSecrets", []), f"{owner['kind']}/{owner['metadata']['name']}"


def test_helm_test_targets_the_operator_webhook_service() -> None:
    objs = render(CHART, release="plat", namespace="platform")
    webhook = find(objs, "ValidatingWebhookConfiguration")["webhooks"][0]["clientConfig"]["service"]
    test_pod = find(objs, "Pod", "plat-ml-platform-test")
    env = {e["name"]: e["value"] for e in test_pod["spec"]["containers"][0]["env"]}
    assert env["WEBHOOK"] == f"{webhook['name']}.{webhook['namespace']}.svc:{webhook.get('port', 443)}"
    off = render(CHART, {"install": {"seldonOperator": False, "gpuNodePool": True, "mlMonitoring": True}})
    assert {e["name"]: e["value"] for e in find(off, "Pod", "test-ml-platform-test")["spec"]["containers"][0]["env"]}["WEBHOOK"] == ""
