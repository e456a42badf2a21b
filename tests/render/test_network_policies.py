"""NetworkPolicies beyond the operator's (issue 18, point 3): the DCGM exporter's (gpu-node-pool: scraped only
from the monitoring namespace), the model pods' (seldon-model: the namespaces the user names plus monitoring)
and ml-platform, where they are on by default with a value to turn them off. That a CNI enforces them is the
kind tier's (tests/cluster_kind/test_kind_network_policies.py)."""
from __future__ import annotations

import copy
from typing import Any

import pytest
import yaml

from harness import CHARTS, find, find_all, render, validate_object, values_errors

pytestmark = pytest.mark.render

Obj = dict[str, Any]
MONITORING_NS = {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "monitoring"}}}
METRICS = [{"port": "metrics", "protocol": "TCP"}]


def names_in(peer: Obj) -> list[str]:
    """The namespace names a peer's namespaceSelector lets in."""
    (expr,) = peer["namespaceSelector"]["matchExpressions"]
    assert expr["key"] == "kubernetes.io/metadata.name" and expr["operator"] == "In"
    return expr["values"]


# ------------------------------------------------------------------ gpu-node-pool: DCGM exporter

def dcgm(values: Obj | None = None, helm: str = "helm4") -> list[Obj]:
    return render("gpu-node-pool", values or {}, helm=helm, release="g", namespace="gpu-operator")


def test_dcgm_policy_off_by_default_in_its_chart() -> None:
    assert not find_all(dcgm(), "NetworkPolicy")


def test_dcgm_exporter_is_scraped_only_from_the_monitoring_namespace(helm: str) -> None:
    rendered = dcgm({"dcgmExporter": {"networkPolicy": {"enabled": True}}}, helm)
    policy = find(rendered, "NetworkPolicy")
    daemonset = find(rendered, "DaemonSet", "g-gpu-node-pool-dcgm-exporter")
    assert policy["spec"]["podSelector"] == daemonset["spec"]["selector"]
    assert policy["spec"]["policyTypes"] == ["Ingress"]
    assert policy["spec"]["ingress"] == [{"from": [MONITORING_NS], "ports": METRICS}]
    ports = {p["name"] for p in daemonset["spec"]["template"]["spec"]["containers"][0]["ports"]}
    assert "metrics" in ports, "the policy names the container's own port"
    assert not daemonset["spec"]["template"]["spec"].get("hostNetwork"), "a NetworkPolicy never covers host-network pods"
    assert not validate_object(policy)


def test_dcgm_scrapers_are_the_users() -> None:
    peer = {"namespaceSelector": {"matchLabels": {"team": "obs"}}, "podSelector": {"matchLabels": {"app": "vm"}}}
    policy = find(dcgm({"dcgmExporter": {"networkPolicy": {"enabled": True, "scrapeFrom": [peer]}}}), "NetworkPolicy")
    assert policy["spec"]["ingress"][0]["from"] == [peer]


def test_dcgm_policy_schema_refuses_an_empty_peer_list() -> None:
    values = yaml.safe_load((CHARTS / "gpu-node-pool" / "values.yaml").read_text())
    values["dcgmExporter"]["networkPolicy"]["scrapeFrom"] = []
    assert any("dcgmExporter.networkPolicy.scrapeFrom" in e for e in values_errors("gpu-node-pool", values))


# ------------------------------------------------------------------ seldon-model: named namespaces

def test_model_policy_lets_in_the_named_namespaces_and_monitoring(helm: str) -> None:
    rendered = render("seldon-model", {"networkPolicy": {"enabled": True, "ingressNamespaces": ["istio-system", "gw"]}},
                      helm=helm, release="m", namespace="models")
    policy = find(rendered, "NetworkPolicy")
    serving, scraping = policy["spec"]["ingress"][1:]
    assert names_in(serving["from"][0]) == ["istio-system", "gw"]
    assert [p["port"] for p in serving["ports"]] == ["http", "grpc"]
    assert scraping["from"][0]["namespaceSelector"] == MONITORING_NS["namespaceSelector"]
    assert scraping["ports"] == METRICS
    assert not validate_object(policy)


def test_model_policy_schema_refuses_a_namespace_that_is_no_name() -> None:
    values = yaml.safe_load((CHARTS / "seldon-model" / "values.yaml").read_text())
    values["networkPolicy"]["ingressNamespaces"] = ["Not_A_Namespace"]
    assert any("networkPolicy.ingressNamespaces.0" in e for e in values_errors("seldon-model", values))


# ------------------------------------------------------------------ ml-platform: on by default, one value off

def platform(values: Obj | None = None) -> list[Obj]:
    return render("ml-platform", values or {}, release="p", namespace="platform")


def test_platform_renders_every_policy_by_default() -> None:
    policies = {(p["metadata"]["namespace"], p["metadata"]["name"]): p for p in find_all(platform(), "NetworkPolicy")}
    assert set(policies) == {("platform", "p-seldon-operator-controller"), ("platform", "p-gpu-node-pool-dcgm-exporter"),
                             ("models", "p-ml-platform-models")}
    models = policies[("models", "p-ml-platform-models")]
    assert models["spec"]["podSelector"] == {"matchExpressions": [{"key": "seldon-deployment-id", "operator": "Exists"}]}
    assert models["spec"]["ingress"] == [{"from": [{"podSelector": {}}]}, {"from": [MONITORING_NS], "ports": METRICS}]
    for policy in policies.values():
        assert not validate_object(policy)


def test_platform_model_namespaces_name_their_callers() -> None:
    rendered = platform({"modelNamespaces": [{"name": "team-a", "ingressNamespaces": ["istio-system"]},
                                             {"name": "team-b"}],
                         "networkPolicy": {"enabled": True, "monitoringNamespace": "obs"}})
    by_ns = {p["metadata"]["namespace"]: p for p in find_all(rendered, "NetworkPolicy") if p["metadata"]["name"] == "p-ml-platform-models"}
    assert set(by_ns) == {"team-a", "team-b"}
    assert names_in(by_ns["team-a"]["spec"]["ingress"][0]["from"][1]) == ["istio-system"]
    assert by_ns["team-b"]["spec"]["ingress"][0]["from"] == [{"podSelector": {}}]
    assert by_ns["team-b"]["spec"]["ingress"][1]["from"] == [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "obs"}}}]


def test_platform_policies_turn_off() -> None:
    off = {"networkPolicy": {"enabled": False}, "seldon-operator": {"networkPolicy": {"enabled": False}},
           "gpu-node-pool": {"dcgmExporter": {"networkPolicy": {"enabled": False}}}}
    assert not find_all(platform(off), "NetworkPolicy")
    only_models_off = find_all(platform({"networkPolicy": {"enabled": False}}), "NetworkPolicy")
    assert {p["metadata"]["name"] for p in only_models_off} == {"p-seldon-operator-controller", "p-gpu-node-pool-dcgm-exporter"}


def test_platform_schema_refuses_an_unknown_network_policy_key() -> None:
    values = copy.deepcopy(yaml.safe_load((CHARTS / "ml-platform" / "values.yaml").read_text()))
    values["networkPolicy"]["enable"] = True
    assert any("networkPolicy" in e for e in values_errors("ml-platform", values))
