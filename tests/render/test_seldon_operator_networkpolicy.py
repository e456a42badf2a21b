"""charts/seldon-operator's NetworkPolicy (issue 18, point 3; enforced on a cluster by the kind tier's CNI, not
here): with networkPolicy.enabled the manager's pods take connections only on the webhook port, from
webhookFrom (the API server's path), and on the metrics port, from metricsFrom (Prometheus), plus this chart's
helm test on both; nothing else, and the manager's own egress is left alone."""
from __future__ import annotations

import copy
from typing import Any

import pytest
import yaml

from harness import CHARTS, find, find_all, render, validate_object, values_errors

Obj = dict[str, Any]
CHART = "seldon-operator"
NS = "seldon-system"
DEFAULTS = yaml.safe_load((CHARTS / CHART / "values.yaml").read_text())
PROMETHEUS = {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "monitoring"}},
              "podSelector": {"matchLabels": {"app.kubernetes.io/name": "prometheus"}}}
TEST_POD = {"podSelector": {"matchLabels": {"app.kubernetes.io/name": "seldon-operator", "app.kubernetes.io/instance": "so",
                                            "app.kubernetes.io/component": "test"}}}


def objs(values: Obj | None = None, helm: str = "helm4") -> list[Obj]:
    return render(CHART, {"crd": {"install": False}, **(values or {})}, helm=helm, release="so", namespace=NS)


def by_port(policy: Obj) -> dict[str, list[Obj]]:
    out: dict[str, list[Obj]] = {}
    for rule in policy["spec"]["ingress"]:
        assert [p["protocol"] for p in rule["ports"]] == ["TCP"] * len(rule["ports"])
        for port in rule["ports"]:
            out.setdefault(port["port"], []).extend(rule["from"])
    return out


@pytest.mark.render
def test_off_by_default() -> None:
    assert not find_all(objs(), "NetworkPolicy")


@pytest.mark.render
def test_only_the_webhook_and_metrics_ports_from_their_callers(helm: str) -> None:
    rendered = objs({"networkPolicy": {"enabled": True}}, helm)
    policy = find(rendered, "NetworkPolicy")
    deployment = find(rendered, "Deployment")
    assert policy["spec"]["podSelector"] == deployment["spec"]["selector"]
    assert policy["spec"]["policyTypes"] == ["Ingress"], "the manager must still reach the API server"
    ports = by_port(policy)
    assert ports == {"webhook-server": [{"ipBlock": {"cidr": "0.0.0.0/0"}}, TEST_POD], "metrics": [PROMETHEUS, TEST_POD]}
    named = {p["name"] for p in deployment["spec"]["template"]["spec"]["containers"][0]["ports"]}
    assert set(ports) <= named, "the policy names the container's own ports"
    test_pod = find(rendered, "Pod")["metadata"]["labels"]
    assert TEST_POD["podSelector"]["matchLabels"].items() <= test_pod.items(), "the helm test is let through"
    assert not validate_object(policy)


@pytest.mark.render
def test_peers_are_the_users() -> None:
    control_plane = {"ipBlock": {"cidr": "10.0.0.0/24"}}
    policy = find(objs({"networkPolicy": {"enabled": True, "webhookFrom": [control_plane], "metricsFrom": []}}), "NetworkPolicy")
    assert by_port(policy) == {"webhook-server": [control_plane, TEST_POD], "metrics": [TEST_POD]}


@pytest.mark.schema
@pytest.mark.parametrize(("change", "where"), [
    ({"webhookFrom": []}, "networkPolicy.webhookFrom"),
    ({"metricsFrom": [{"namespace": "monitoring"}]}, "networkPolicy.metricsFrom.0"),
    ({"webhookFrom": [{"ipBlock": {}}]}, "networkPolicy.webhookFrom.0.ipBlock"),
    ({"enabled": "yes"}, "networkPolicy.enabled"),
])
def test_schema_refuses_bad_peers(change: Obj, where: str) -> None:
    values = copy.deepcopy(DEFAULTS)
    values["networkPolicy"].update(change)
    errors = values_errors(CHART, values)
    assert any(e.startswith(where) for e in errors), errors
