"""ml-monitoring rendered object by object: monitors, rule groups and their switches, dashboards ConfigMaps,
the helm test Pod (and its script, run against a fake Prometheus), and the render-time `fail` rules."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any, Iterator

import pytest
import yaml

from harness import CHARTS, VALUES, RenderError, assert_valid, find, find_all, render
from harness.loopback import QuietHandler, serve_http

pytestmark = pytest.mark.render

CHART = "ml-monitoring"
Obj = dict[str, Any]
MONITOR_KINDS = ("PodMonitor", "ServiceMonitor", "PrometheusRule")


def objs(values: Obj | None = None, helm: str = "helm4", **kwargs: Any) -> list[Obj]:
    return render(CHART, values or {}, helm=helm, release="obs", namespace="monitoring", **kwargs)


def component(objects: list[Obj], kind: str, name: str) -> Obj:
    return find(objects, kind, f"obs-ml-monitoring-{name}")


def rules_of(objects: list[Obj], name: str) -> list[Obj]:
    (group,) = component(objects, "PrometheusRule", name)["spec"]["groups"]
    return group["rules"]


def alerts(objects: list[Obj]) -> list[Obj]:
    return [r for o in find_all(objects, "PrometheusRule") for g in o["spec"]["groups"] for r in g["rules"] if "alert" in r]


# ------------------------------------------------------------------ monitors

def test_seldon_podmonitor_scrapes_executors_and_models(helm: str) -> None:
    monitor = component(objs(helm=helm), "PodMonitor", "seldon")
    assert monitor["spec"] == {
        "selector": {"matchLabels": {"app.kubernetes.io/managed-by": "seldon-core"}},
        "namespaceSelector": {"any": True},
        "podMetricsEndpoints": [{"port": "metrics", "path": "/prometheus"}],
    }


def test_operator_podmonitor_defaults_to_port_8080_of_the_seldon_operator_chart(helm: str) -> None:
    monitor = component(objs(helm=helm), "PodMonitor", "seldon-operator")
    assert monitor["spec"]["selector"] == {"matchLabels": {"app.kubernetes.io/name": "seldon-operator",
                                                           "app.kubernetes.io/component": "controller"}}
    assert monitor["spec"]["podMetricsEndpoints"] == [{"portNumber": 8080, "path": "/metrics"}]


def test_operator_podmonitor_selects_the_seldon_operator_charts_manager() -> None:
    """The default selector and port match the controller-manager pods the seldon-operator chart renders."""
    operator = Path(CHARTS / "seldon-operator")
    if not (operator / "Chart.yaml").exists():
        pytest.skip("seldon-operator chart not in this checkout")
    monitor = component(objs(), "PodMonitor", "seldon-operator")
    (endpoint,) = monitor["spec"]["podMetricsEndpoints"]
    managers = [o for o in render(operator) if o["kind"] == "Deployment"
                and monitor["spec"]["selector"]["matchLabels"].items() <= o["spec"]["template"]["metadata"]["labels"].items()]
    assert len(managers) == 1, "exactly the controller manager matches"
    ports = [p["containerPort"] for c in managers[0]["spec"]["template"]["spec"]["containers"] for p in c.get("ports", [])]
    assert endpoint["portNumber"] in ports


def test_operator_port_name_wins_over_port_number() -> None:
    monitor = component(objs({"monitors": {"operator": {"port": "metrics"}}}), "PodMonitor", "seldon-operator")
    assert monitor["spec"]["podMetricsEndpoints"] == [{"port": "metrics", "path": "/metrics"}]


def test_dcgm_servicemonitor_honors_exporter_labels(helm: str) -> None:
    monitor = component(objs(helm=helm), "ServiceMonitor", "dcgm-exporter")
    assert monitor["spec"]["endpoints"] == [{"port": "metrics", "honorLabels": True, "path": "/metrics"}]
    assert monitor["spec"]["selector"] == {"matchLabels": {"app.kubernetes.io/component": "dcgm-exporter"}}


def test_dcgm_servicemonitor_selects_the_gpu_node_pool_exporter_service() -> None:
    """The default selector matches the Service the gpu-node-pool chart renders for its DCGM exporter."""
    monitor = component(objs(), "ServiceMonitor", "dcgm-exporter")
    pool = Path(CHARTS / "gpu-node-pool")
    if not (pool / "Chart.yaml").exists():
        pytest.skip("gpu-node-pool chart not in this checkout")
    services = [o for o in render(pool) if o["kind"] == "Service" and "dcgm" in o["metadata"]["name"]]
    assert services, "gpu-node-pool renders no DCGM exporter Service by default"
    for service in services:
        labels = service["metadata"]["labels"]
        assert monitor["spec"]["selector"]["matchLabels"].items() <= labels.items()
        assert monitor["spec"]["endpoints"][0]["port"] in {p["name"] for p in service["spec"]["ports"]}


def test_dcgm_selector_can_point_at_nvidias_chart() -> None:
    monitor = component(objs({"monitors": {"dcgm": {"selector": {"matchLabels": {
        "app.kubernetes.io/component": None, "app.kubernetes.io/name": "dcgm-exporter"}}}}}), "ServiceMonitor", "dcgm-exporter")
    assert monitor["spec"]["selector"] == {"matchLabels": {"app.kubernetes.io/name": "dcgm-exporter"}}


def test_monitor_scrape_settings_pass_through() -> None:
    relabel = [{"sourceLabels": ["__meta_kubernetes_pod_label_seldon_deployment_id"], "targetLabel": "seldon_deployment"}]
    drop = [{"sourceLabels": ["__name__"], "regex": "go_.*", "action": "drop"}]
    settings = {"interval": "15s", "scrapeTimeout": "10s", "relabelings": relabel, "metricRelabelings": drop,
                # null removes a default key: Helm merges maps, so any/matchLabels would stay otherwise
                "namespaceSelector": {"any": None, "matchNames": ["models"]},
                "selector": {"matchLabels": None, "matchExpressions": [{"key": "seldon-deployment-id", "operator": "Exists"}]}}
    rendered = objs({"monitors": {name: settings for name in ("seldon", "operator", "dcgm")}})
    for kind, name, key in (("PodMonitor", "seldon", "podMetricsEndpoints"),
                            ("PodMonitor", "seldon-operator", "podMetricsEndpoints"),
                            ("ServiceMonitor", "dcgm-exporter", "endpoints")):
        spec = component(rendered, kind, name)["spec"]
        (endpoint,) = spec[key]
        assert endpoint["interval"] == "15s" and endpoint["scrapeTimeout"] == "10s"
        assert endpoint["relabelings"] == relabel and endpoint["metricRelabelings"] == drop
        assert spec["namespaceSelector"] == {"matchNames": ["models"]}
        assert spec["selector"] == {"matchExpressions": [{"key": "seldon-deployment-id", "operator": "Exists"}]}
    assert_valid(rendered)


def test_release_label_on_every_monitor_and_rule_only(helm: str) -> None:
    rendered = objs({"prometheus": {"release": "kps"}}, helm=helm)
    for obj in rendered:
        labels = obj["metadata"]["labels"]
        if obj["kind"] in MONITOR_KINDS:
            assert labels["release"] == "kps", f"{obj['kind']}/{obj['metadata']['name']}"
        else:
            assert "release" not in labels, f"{obj['kind']}/{obj['metadata']['name']}"
    assert len([o for o in rendered if o["kind"] in MONITOR_KINDS]) == 9


def test_no_release_label_by_default() -> None:
    assert all("release" not in o["metadata"]["labels"] for o in objs())


# ------------------------------------------------------------------ switches

SWITCHES = {
    "monitors.seldon": ("PodMonitor", "seldon"),
    "monitors.operator": ("PodMonitor", "seldon-operator"),
    "monitors.dcgm": ("ServiceMonitor", "dcgm-exporter"),
    "rules.recording": ("PrometheusRule", "seldon-recording"),
    "rules.slo.availability": ("PrometheusRule", "slo-availability"),
    "rules.slo.latency": ("PrometheusRule", "slo-latency"),
    "rules.gpu": ("PrometheusRule", "gpu"),
    "rules.servingHealth": ("PrometheusRule", "serving-health"),
    "rules.webhookCertificate": ("PrometheusRule", "webhook-certificate"),
    "dashboards.modelServing": ("ConfigMap", "dashboard-model-serving"),
    "dashboards.gpu": ("ConfigMap", "dashboard-gpu"),
    "tests": ("Pod", "test"),
}


def _nested(path: str, value: Any) -> Obj:
    out: Any = value
    for key in reversed(path.split(".")):
        out = {key: out}
    return out


@pytest.mark.parametrize("switch", sorted(SWITCHES))
def test_each_part_can_be_switched_off(switch: str) -> None:
    kind, name = SWITCHES[switch]
    assert component(objs(), kind, name)
    rendered = objs(_nested(switch, {"enabled": False}))
    gone = f"obs-ml-monitoring-{name}"
    assert not [o for o in rendered if o["kind"] == kind and o["metadata"]["name"] == gone]
    assert len(rendered) == len(objs()) - 1, "switching one part off removes exactly that object"


def test_everything_off_renders_nothing_but_the_helm_test() -> None:
    off = {"enabled": False}
    rendered = objs({"monitors": {"seldon": off, "operator": off, "dcgm": off},
                     "rules": {"recording": off, "slo": {"availability": off, "latency": off}, "gpu": off,
                               "servingHealth": off, "webhookCertificate": off},
                     "dashboards": {"modelServing": off, "gpu": off}})
    (pod,) = rendered
    assert pod["kind"] == "Pod"
    env = {e["name"]: e["value"] for e in pod["spec"]["containers"][0]["env"]}
    assert env["EXPECTED_GROUPS"] == "", "with no rule groups the test only checks that Prometheus answers"


# ------------------------------------------------------------------ rules

def test_rule_groups_are_named_like_their_objects_and_share_the_interval(helm: str) -> None:
    rendered = objs({"rules": {"interval": "30s"}}, helm=helm)
    for rule in find_all(rendered, "PrometheusRule"):
        (group,) = rule["spec"]["groups"]
        assert group["name"] == rule["metadata"]["name"]
        assert group["interval"] == "30s"


def test_recording_rules_per_deployment_predictor_and_model() -> None:
    records = {(r["record"], r.get("labels", {}).get("quantile")) for r in rules_of(objs(), "seldon-recording")}
    for level in ("namespace_deployment_name", "namespace_deployment_name_predictor_name"):
        assert (f"{level}:seldon_executor_requests:rate5m", None) in records
        assert (f"{level}:seldon_executor_errors:ratio_rate5m", None) in records
        for q in ("0.5", "0.95", "0.99"):
            assert (f"{level}:seldon_executor_request_duration_seconds:histogram_quantile_5m", q) in records
    model = "namespace_deployment_name_predictor_name_model_name"
    assert (f"{model}:seldon_model_requests:rate5m", None) in records
    assert (f"{model}:seldon_model_request_duration_seconds:histogram_quantile_5m", "0.99") in records
    assert len(records) == 15


def test_recording_rules_read_server_and_client_series() -> None:
    rules = {(r["record"], r.get("labels", {}).get("quantile")): r["expr"] for r in rules_of(objs(), "seldon-recording")}
    assert "seldon_api_executor_server_requests_seconds_count" in rules[
        ("namespace_deployment_name_predictor_name:seldon_executor_requests:rate5m", None)]
    assert "sum by (namespace, deployment_name, predictor_name, model_name) (rate(seldon_api_executor_client_requests_seconds_count[5m]))" \
        == rules[("namespace_deployment_name_predictor_name_model_name:seldon_model_requests:rate5m", None)]
    assert rules[("namespace_deployment_name:seldon_executor_request_duration_seconds:histogram_quantile_5m", "0.99")] == \
        "histogram_quantile(0.99, sum by (namespace, deployment_name, le) (rate(seldon_api_executor_server_requests_seconds_bucket[5m])))"


def test_default_slo_windows_follow_the_sre_workbook(helm: str) -> None:
    burn = [r for r in alerts(objs(helm=helm)) if r["alert"] == "SeldonAvailabilityBudgetBurn"]
    got = [(r["labels"]["long_window"], r["labels"]["short_window"], r.get("for"), r["labels"]["severity"]) for r in burn]
    assert got == [("1h", "5m", "2m", "critical"), ("6h", "30m", "15m", "critical"),
                   ("1d", "2h", "1h", "warning"), ("3d", "6h", "3h", "warning")]
    assert burn[0]["expr"] == (
        "namespace_deployment_name:seldon_slo_availability_errors:ratio_rate1h > (14.4 * (100 - 99.9) / 100)\n"
        "and\n"
        "namespace_deployment_name:seldon_slo_availability_errors:ratio_rate5m > (14.4 * (100 - 99.9) / 100)")


def test_slo_windows_each_get_one_recording_rule_shortest_first() -> None:
    records = [r["record"] for r in rules_of(objs(), "slo-latency") if "record" in r]
    assert records == [f"namespace_deployment_name:seldon_slo_latency_slow_requests:ratio_rate{w}"
                       for w in ("5m", "30m", "1h", "2h", "6h", "1d", "3d")]


def test_custom_slo_scenario_objectives_windows_threshold_and_selector(helm: str) -> None:
    rendered = objs(helm=helm, values_files=[VALUES / CHART / "custom-slo.yaml"])
    latency = rules_of(rendered, "slo-latency")
    burn = [r for r in latency if "alert" in r]
    assert [(r["labels"]["long_window"], r["labels"]["short_window"]) for r in burn] == [("2h", "10m"), ("1d", "2h")]
    assert all(r["labels"]["team"] == "ml-platform" for r in alerts(rendered))
    assert "(10 * (100 - 95) / 100)" in burn[0]["expr"]
    record = next(r for r in latency if r.get("record", "").endswith("ratio_rate10m"))
    # le matches Prometheus 3's "1.0" as well as Prometheus 2's "1"
    assert 'seldon_api_executor_server_requests_seconds_bucket{le=~"1(\\\\.0)?", service="predictions"}[10m]' in record["expr"]
    availability = rules_of(rendered, "slo-availability")
    assert "(2 * (100 - 99.5) / 100)" in [r for r in availability if "alert" in r][1]["expr"]


def test_latency_threshold_with_decimals_matches_le_exactly() -> None:
    record = rules_of(objs(), "slo-latency")[0]
    assert 'seldon_api_executor_server_requests_seconds_bucket{le="0.5"}[5m]' in record["expr"]


def test_gpu_alert_thresholds_and_selector() -> None:
    rendered = objs({"rules": {"selectors": {"dcgm": 'job="dcgm"'},
                               "gpu": {"saturation": {"threshold": 80, "window": "30m", "for": "5m"},
                                       "memory": {"threshold": 95}}}})
    by_name = {r["alert"]: r for r in rules_of(rendered, "gpu")}
    assert by_name["GPUSaturated"]["expr"] == \
        'avg by (Hostname, gpu, UUID, modelName) (avg_over_time(DCGM_FI_DEV_GPU_UTIL{job="dcgm"}[30m])) > 80'
    assert by_name["GPUSaturated"]["for"] == "5m"
    assert by_name["GPUMemoryNearlyFull"]["expr"].endswith(") * 100 > 95")
    assert 'DCGM_FI_DEV_FB_FREE{job="dcgm"}' in by_name["GPUMemoryNearlyFull"]["expr"]
    assert "for" not in by_name["GPUXidError"], "a 0m `for` is left out"


def test_serving_health_finds_model_pods_and_deployments() -> None:
    by_name = {r["alert"]: r for r in rules_of(objs(), "serving-health")}
    assert by_name["SeldonModelPodRestarting"]["expr"].endswith(
        'and on (namespace, pod)\nkube_pod_container_info{container="seldon-container-engine", job="kube-state-metrics"}')
    assert by_name["SeldonModelReplicasBelowMinimum"]["expr"].endswith(
        'and on (namespace, deployment)\nkube_deployment_labels{label_seldon_deployment_id!="", job="kube-state-metrics"}')
    assert 'resource=~"nvidia_com_gpu.*|nvidia_com_mig_.*|amd_com_gpu"' in by_name["GPUPodPending"]["expr"]


def test_serving_health_without_model_selection_watches_every_workload() -> None:
    everything = {"metric": "", "matchers": ""}
    rendered = objs({"rules": {"selectors": {"kubeStateMetrics": ""},
                               "servingHealth": {"modelPods": everything, "modelDeployments": everything}}})
    by_name = {r["alert"]: r for r in rules_of(rendered, "serving-health")}
    assert by_name["SeldonModelPodRestarting"]["expr"] == "increase(kube_pod_container_status_restarts_total[15m]) > 2"
    assert "and on" not in by_name["SeldonModelReplicasBelowMinimum"]["expr"]
    assert "{" not in by_name["SeldonModelReplicasBelowMinimum"]["expr"].replace('{scaletargetref_kind="Deployment"}', "")


def test_every_alert_carries_runbook_and_extra_labels(helm: str) -> None:
    rendered = objs({"rules": {"runbookBaseUrl": "https://runbooks.example.com/ml/", "alertLabels": {"team": "ml"}}},
                    helm=helm)
    names = set()
    for rule in alerts(rendered):
        names.add(rule["alert"])
        assert rule["labels"]["team"] == "ml" and rule["labels"]["severity"]
        assert rule["annotations"]["runbook_url"] == f"https://runbooks.example.com/ml/{rule['alert'].lower()}"
        assert rule["annotations"]["summary"] and rule["annotations"]["description"]
    assert names == {"SeldonAvailabilityBudgetBurn", "SeldonLatencyBudgetBurn", "GPUSaturated", "GPUMemoryNearlyFull",
                     "GPUXidError", "SeldonModelPodRestarting", "GPUPodPending", "SeldonModelReplicasBelowMinimum",
                     "SeldonWebhookCertificateExpiresSoon"}


def test_alert_labels_cannot_override_severity() -> None:
    rendered = objs({"rules": {"alertLabels": {"severity": "info"}}})
    assert {r["labels"]["severity"] for r in alerts(rendered)} == {"critical", "warning"}


# ------------------------------------------------------------------ dashboards

DASHBOARD_FILES = {"model-serving": "model-serving.json", "gpu": "gpu.json"}


@pytest.mark.parametrize("name", sorted(DASHBOARD_FILES))
def test_dashboard_configmaps_carry_the_json_as_written(name: str, helm: str) -> None:
    cm = component(objs(helm=helm), "ConfigMap", f"dashboard-{name}")
    assert cm["metadata"]["labels"]["grafana_dashboard"] == "1"
    assert "annotations" not in cm["metadata"], "no folder annotation unless a folder is set"
    text = (CHARTS / CHART / "dashboards" / DASHBOARD_FILES[name]).read_text()
    assert json.loads(cm["data"][f"{name}.json"]) == json.loads(text)


def test_dashboard_label_and_folder_are_configurable() -> None:
    rendered = objs({"dashboards": {"label": "grafana.com/dashboard", "labelValue": "ml", "folder": "ML serving",
                                    "folderAnnotation": "k8s-sidecar-target-directory",
                                    "annotations": {"owner": "ml-platform"}}})
    for cm in find_all(rendered, "ConfigMap"):
        assert cm["metadata"]["labels"]["grafana.com/dashboard"] == "ml"
        assert "grafana_dashboard" not in cm["metadata"]["labels"]
        assert cm["metadata"]["annotations"] == {"k8s-sidecar-target-directory": "ML serving", "owner": "ml-platform"}


@pytest.mark.parametrize("name", sorted(DASHBOARD_FILES.values()))
def test_dashboards_use_a_datasource_variable_everywhere(name: str) -> None:
    dashboard = json.loads((CHARTS / CHART / "dashboards" / name).read_text())
    variables = {v["name"]: v for v in dashboard["templating"]["list"]}
    assert variables["datasource"]["type"] == "datasource" and variables["datasource"]["query"] == "prometheus"
    assert "namespace" in variables
    datasources = []

    def walk(node: Any) -> Iterator[Any]:
        if isinstance(node, dict):
            if "datasource" in node:
                yield node["datasource"]
            for value in node.values():
                yield from walk(value)
        elif isinstance(node, list):
            for value in node:
                yield from walk(value)
    datasources = [d for d in walk(dashboard["panels"]) if d is not None]
    datasources += [v["datasource"] for v in variables.values() if v["type"] == "query"]
    assert datasources and all(d == {"type": "prometheus", "uid": "${datasource}"} for d in datasources)
    assert dashboard["uid"].startswith("ml-serving-") and "id" not in dashboard


def test_model_serving_dashboard_panels() -> None:
    dashboard = json.loads((CHARTS / CHART / "dashboards" / "model-serving.json").read_text())
    assert {"namespace", "deployment"} <= {v["name"] for v in dashboard["templating"]["list"]}
    titles = {p["title"] for p in dashboard["panels"]}
    assert {"Requests/s by predictor", "Latency quantiles", "Error ratio by predictor", "Traffic split across predictors",
            "Replicas by Kubernetes Deployment", "p95 latency by model"} <= titles
    quantiles = next(p for p in dashboard["panels"] if p["title"] == "Latency quantiles")
    assert [t["legendFormat"] for t in quantiles["targets"]] == ["p50", "p95", "p99"]


def test_gpu_dashboard_panels() -> None:
    dashboard = json.loads((CHARTS / CHART / "dashboards" / "gpu.json").read_text())
    titles = {p["title"] for p in dashboard["panels"]}
    assert {"Utilisation", "Framebuffer memory used", "Power draw", "Utilisation by pod",
            "Framebuffer used by pod"} <= titles
    by_pod = next(p for p in dashboard["panels"] if p["title"] == "Utilisation by pod")
    assert by_pod["targets"][0]["expr"].startswith("avg by (namespace, pod) (DCGM_FI_DEV_GPU_UTIL{")


# ------------------------------------------------------------------ helm test

def test_helm_test_pod_is_restricted_and_expects_the_rendered_groups(helm: str) -> None:
    rendered = objs({"tests": {"prometheusUrl": "http://prom.example:9090"}}, helm=helm)
    pod = component(rendered, "Pod", "test")
    assert pod["metadata"]["annotations"]["helm.sh/hook"] == "test"
    spec = pod["spec"]
    assert spec["restartPolicy"] == "Never" and spec["automountServiceAccountToken"] is False
    assert spec["securityContext"]["runAsNonRoot"] is True
    (container,) = spec["containers"]
    assert container["image"] == "localhost/ml-serving-charts/helm-test-client:0.1.0"
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    assert container["resources"]["limits"] and container["resources"]["requests"]
    env = {e["name"]: e["value"] for e in container["env"]}
    groups = sorted(g["name"] for r in find_all(rendered, "PrometheusRule") for g in r["spec"]["groups"])
    assert sorted(env["EXPECTED_GROUPS"].split(",")) == groups and len(groups) == 6
    assert env["PROMETHEUS_URL"] == "http://prom.example:9090"
    assert container["command"][:2] == ["python3", "-c"]


def test_helm_test_image_registry_digest_and_pull_secrets() -> None:
    pod = component(objs({"global": {"imageRegistry": "registry.local:5000", "imagePullSecrets": ["regcred"]},
                          "tests": {"image": {"digest": "sha256:" + "a" * 64}}}), "Pod", "test")
    assert pod["spec"]["containers"][0]["image"] == "registry.local:5000/ml-serving-charts/helm-test-client@sha256:" + "a" * 64
    assert pod["spec"]["imagePullSecrets"] == [{"name": "regcred"}]


class _FakePrometheus(QuietHandler):
    groups: list[Obj] = []

    def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
        body = json.dumps({"status": "success", "data": {"groups": self.groups}}).encode()
        self.send_response(200 if self.path == "/api/v1/rules" else 404)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(body)


@pytest.fixture
def fake_prometheus() -> Iterator[tuple[str, type[_FakePrometheus]]]:
    handler = type("Handler", (_FakePrometheus,), {"groups": []})
    with serve_http(handler) as url:
        yield url, handler


def _run_helm_test(url: str) -> subprocess.CompletedProcess[str]:
    pod = component(objs({"tests": {"prometheusUrl": url, "timeoutSeconds": 0}}), "Pod", "test")
    container = pod["spec"]["containers"][0]
    env = {**os.environ, **{e["name"]: e["value"] for e in container["env"]}}
    return subprocess.run([sys.executable, *container["command"][1:]], env=env, capture_output=True, text=True, timeout=60)


def _groups(names: list[str], health: str = "ok") -> list[Obj]:
    return [{"name": n, "rules": [{"name": "r", "health": health, "lastError": "" if health == "ok" else "boom"}]}
            for n in names]


def test_helm_test_script_passes_when_every_group_is_loaded(fake_prometheus: tuple[str, Any]) -> None:
    url, handler = fake_prometheus
    expected = sorted(g["name"] for r in find_all(objs(), "PrometheusRule") for g in r["spec"]["groups"])
    handler.groups = _groups(expected + ["someone-elses-group"])
    proc = _run_helm_test(url)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "OK:" in proc.stdout


def test_helm_test_script_fails_on_a_missing_group(fake_prometheus: tuple[str, Any]) -> None:
    url, handler = fake_prometheus
    handler.groups = _groups(["obs-ml-monitoring-gpu"])
    proc = _run_helm_test(url)
    assert proc.returncode == 1
    assert "FAIL: rule groups not loaded: ['obs-ml-monitoring-seldon-recording'" in proc.stderr


def test_helm_test_script_fails_on_rules_that_do_not_evaluate(fake_prometheus: tuple[str, Any]) -> None:
    url, handler = fake_prometheus
    handler.groups = _groups(["obs-ml-monitoring-gpu"], health="err")
    proc = _run_helm_test(url)
    assert proc.returncode == 1 and "obs-ml-monitoring-gpu/r: boom" in proc.stderr


def test_helm_test_script_fails_when_prometheus_is_unreachable() -> None:
    proc = _run_helm_test("http://127.0.0.1:9")
    assert proc.returncode == 1 and "FAIL: cannot read http://127.0.0.1:9/api/v1/rules" in proc.stderr


# ------------------------------------------------------------------ fail rules (both Helms)

WINDOW = {"longWindow": "1h", "shortWindow": "5m", "burnRate": 14.4, "for": "2m", "severity": "critical"}


@pytest.mark.parametrize(("values", "message"), [
    ({"monitors": {"dcgm": {"namespaceSelector": {"matchNames": ["gpu-operator"]}}}},
     "monitors.dcgm.namespaceSelector has any: true and matchNames [gpu-operator]: prometheus-operator then ignores "
     "matchNames; set monitors.dcgm.namespaceSelector.any to null (or false) to watch only those namespaces"),
    ({"monitors": {"operator": {"port": "", "portNumber": 0}}},
     "monitors.operator: both port and portNumber are empty: set monitors.operator.portNumber (8080 for Seldon's manager)"),
    ({"rules": {"slo": {"windows": [WINDOW, {**WINDOW, "longWindow": "6h", "shortWindow": "6h"}]}}},
     "rules.slo.windows[1]: shortWindow 6h is not shorter than longWindow 6h"),
    ({"rules": {"slo": {"windows": [{**WINDOW, "longWindow": "30m", "shortWindow": "1h"}]}}},
     "rules.slo.windows[0]: shortWindow 1h is not shorter than longWindow 30m"),
    ({"rules": {"slo": {"windows": [WINDOW, {**WINDOW, "burnRate": 6}]}}},
     "rules.slo.windows[1]: longWindow 1h with shortWindow 5m is listed twice: remove one"),
    ({"rules": {"slo": {"latency": {"objective": 90}}}},
     "rules.slo.windows[0]: burnRate 14.4 with rules.slo.latency.objective 90 needs a bad-request ratio of 1.44, "
     "above 100%, so the alert could never fire: lower the burnRate or raise the objective"),
])
def test_fail_rules_name_the_value_and_the_fix(values: Obj, message: str, helm: str) -> None:
    with pytest.raises(RenderError) as err:
        objs(values, helm=helm)
    assert message in err.value.stderr


def test_impossible_burn_rate_is_fine_when_that_slo_is_off() -> None:
    assert objs({"rules": {"slo": {"latency": {"objective": 90, "enabled": False}}}})


def test_durations_compare_across_units() -> None:
    """90m is longer than 1h: the window check converts units instead of comparing strings."""
    rendered = objs({"rules": {"slo": {"windows": [{**WINDOW, "longWindow": "1d", "shortWindow": "90m"},
                                                   {**WINDOW, "longWindow": "1h30m", "shortWindow": "1h"}]}}})
    records = [r["record"] for r in rules_of(rendered, "slo-availability") if "record" in r]
    assert [r.rsplit("rate", 1)[1] for r in records] == ["1h", "1h30m", "90m", "1d"]


def test_scenario_files_exist() -> None:
    names = {p.name for p in (VALUES / CHART).glob("*.yaml")}
    assert {"kube-prometheus-stack.yaml", "gpu-off.yaml", "custom-slo.yaml"} <= names
    kps = yaml.safe_load((VALUES / CHART / "kube-prometheus-stack.yaml").read_text())
    assert kps["prometheus"]["release"] == "kps"


def test_gpu_off_scenario_drops_every_gpu_object() -> None:
    rendered = objs(values_files=[VALUES / CHART / "gpu-off.yaml"])
    names = {o["metadata"]["name"] for o in rendered}
    assert not {"obs-ml-monitoring-dcgm-exporter", "obs-ml-monitoring-gpu", "obs-ml-monitoring-dashboard-gpu"} & names
    assert "GPUPodPending" in {r["alert"] for r in alerts(rendered)}, "pending GPU pods are still a serving problem"
