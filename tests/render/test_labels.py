"""Every chart writes each object's labels as one map (ml-common.labels.standard with customLabels): a user
label with the key of a standard label, or of a label the chart adds itself (release, the Grafana sidecar
label, Pod Security labels), appears exactly once. render_unique_keys fails on a key written twice."""
from __future__ import annotations

from typing import Any

import pytest

from harness import find, find_all
from harness.unique_keys import render_unique_keys

pytestmark = pytest.mark.render

Obj = dict[str, Any]
CLASH = {"app.kubernetes.io/part-of": "team-platform", "app.kubernetes.io/name": "hijack", "release": "common"}


def labels(obj: Obj) -> dict[str, str]:
    return obj["metadata"]["labels"]


def test_seldon_model_monitoring_labels(helm: str) -> None:
    objs = render_unique_keys("seldon-model", {"commonLabels": CLASH, "monitoring": {
        "enabled": True, "rules": {"enabled": True}, "release": "kps",
        "labels": {"release": "mine", "app.kubernetes.io/managed-by": "me", "team": "ml"}}}, helm)
    for kind in ("PodMonitor", "PrometheusRule"):
        got = labels(find(objs, kind))
        assert got["release"] == "kps", "monitoring.release wins over monitoring.labels and commonLabels"
        assert (got["team"], got["app.kubernetes.io/managed-by"]) == ("ml", "me"), "monitoring.labels win over the standard ones"
        assert (got["app.kubernetes.io/part-of"], got["app.kubernetes.io/name"]) == ("team-platform", "seldon-model")


def test_seldon_operator_pod_and_monitor_labels(helm: str) -> None:
    objs = render_unique_keys("seldon-operator", {
        "podLabels": {"app.kubernetes.io/version": "pinned", "app.kubernetes.io/component": "hijack", "team": "ml"},
        "metrics": {"serviceMonitor": {"enabled": True, "labels": {"release": "kps", "app.kubernetes.io/instance": "hijack"}}}}, helm)
    deployment = find(objs, "Deployment")
    pod = deployment["spec"]["template"]["metadata"]["labels"]
    assert (pod["app.kubernetes.io/version"], pod["team"]) == ("pinned", "ml")
    assert pod["app.kubernetes.io/component"] == "controller", "selector labels keep the chart's value"
    assert deployment["spec"]["selector"]["matchLabels"].items() <= pod.items()
    monitor = labels(find(objs, "ServiceMonitor"))
    assert (monitor["release"], monitor["app.kubernetes.io/instance"]) == ("kps", "test")


def test_gpu_node_pool_node_and_monitor_labels(helm: str) -> None:
    objs = render_unique_keys("gpu-node-pool", {
        "provider": "simulated", "devicePlugin": {"enabled": False},
        "pools": [{"name": "l4", "gpu": {"count": 1, "product": "NVIDIA-L4"},
                   "labels": {"kubernetes.io/hostname": "spoofed", "nvidia.com/gpu.count": "9", "ml-serving-charts.io/pool": "other",
                              "team": "ml"}}],
        "dcgmExporter": {"serviceMonitor": {"enabled": True, "release": "kps", "labels": {"release": "mine", "team": "ml"}}}}, helm)
    node = labels(find(objs, "Node"))
    assert node["kubernetes.io/hostname"] == "kwok-l4-0" and node["nvidia.com/gpu.count"] == "1", "what the kubelet and GFD set wins"
    assert (node["ml-serving-charts.io/pool"], node["team"]) == ("l4", "ml"), "the pool identity label wins over the pool's labels"
    monitor = labels(find(objs, "ServiceMonitor"))
    assert (monitor["release"], monitor["team"]) == ("kps", "ml")


def test_ml_monitoring_release_and_dashboard_labels(helm: str) -> None:
    objs = render_unique_keys("ml-monitoring", {"commonLabels": {**CLASH, "grafana_dashboard": "0"},
                                                "prometheus": {"release": "kps"}}, helm)
    for rule in find_all(objs, "PrometheusRule"):
        assert labels(rule)["release"] == "kps", "prometheus.release wins over commonLabels"
    for dashboard in find_all(objs, "ConfigMap"):
        assert labels(dashboard)["grafana_dashboard"] == "1", "the sidecar label wins over commonLabels"


def test_ml_platform_namespace_labels(helm: str) -> None:
    objs = render_unique_keys("ml-platform", {"modelNamespaces": [{
        "name": "models", "podSecurity": "restricted",
        "labels": {"pod-security.kubernetes.io/enforce": "privileged", "team": "ml"}}]}, helm)
    namespace = labels(find(objs, "Namespace", "models"))
    assert namespace["pod-security.kubernetes.io/enforce"] == "restricted", "podSecurity wins over the namespace's labels"
    assert namespace["team"] == "ml"
