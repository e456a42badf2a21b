"""Metrics really scraped: prometheus-operator v0.85.0 and Prometheus v3.14.0 from our own images (every
monitoring.coreos.com CRD, upstream's example RBAC), a Prometheus that selects monitors and rules labelled
release=prometheus (as kube-prometheus-stack's does), and ml-monitoring installed with
prometheus.release=prometheus. The iris model pod (labelled as Seldon's operator labels its pods) is
found by ml-monitoring's PodMonitor, its python wrapper's metrics reach Prometheus, the chart's rule
groups are loaded and evaluate, and its `helm test` passes."""
from __future__ import annotations

import pytest

from msc import stack as ks
from harness.cluster import Helm, wait_until
from kind_support import KindEnv, Models, Monitoring

pytestmark = pytest.mark.cluster_kind


def _podmonitor(monitoring: Monitoring) -> dict:
    """ml-monitoring's PodMonitor for Seldon pods (the one selecting app.kubernetes.io/managed-by: seldon-core)."""
    found = [o for o in monitoring.manifest if o["kind"] == "PodMonitor"
             and o["spec"]["selector"].get("matchLabels", {}) == ks.SELDON_MANAGED_BY]
    assert len(found) == 1, [o["metadata"]["name"] for o in monitoring.manifest if o["kind"] == "PodMonitor"]
    return found[0]


def _job(monitoring: Monitoring) -> str:
    """The `job` label prometheus-operator gives the PodMonitor's targets: <namespace>/<name>."""
    monitor = _podmonitor(monitoring)
    return f"{monitor['metadata'].get('namespace', monitoring.namespace)}/{monitor['metadata']['name']}"


def test_monitors_and_rules_carry_the_release_label(ml_monitoring: Monitoring) -> None:
    kinds = {o["kind"] for o in ml_monitoring.manifest}
    assert {"PodMonitor", "PrometheusRule"} <= kinds, kinds
    for obj in ml_monitoring.manifest:
        if obj["kind"] in ("PodMonitor", "ServiceMonitor", "PrometheusRule"):
            assert obj["metadata"]["labels"].get("release") == ks.PROMETHEUS_RELEASE, obj["metadata"]


def test_iris_metrics_scraped_through_the_podmonitor(kind: KindEnv, models: Models, ml_monitoring: Monitoring) -> None:
    """After a prediction, Prometheus holds the wrapper's iris_predictions counter for the iris pod, scraped
    by the job of ml-monitoring's PodMonitor (`<namespace>/<name>`), endpoint `metrics`."""
    models.need(kind, "iris")
    ns, pod = models.namespace, models.pods["iris"]["metadata"]["name"]
    ks.ok(ks.call(kind.kubectl, ns, [{"name": "p", "url": ks.SERVERS["iris"].url(ns, "/api/v1.0/predictions"),
                                      "body": ks.seldon_request()}])["p"], "iris predict")
    job = _job(ml_monitoring)
    # by job: on a reused cluster another release's PodMonitor (the demo's platform) may scrape the pod too
    up = wait_until(lambda: ks.promql(kind.kubectl, ns, f'up{{namespace="{ns}",pod="{pod}",job="{job}"}} == 1'), 150,
                    f"Prometheus to scrape {pod} as job {job} (up == 1)", interval=5)
    assert up[0]["metric"]["endpoint"] == "metrics", up
    query = f'{{__name__=~"iris_predictions(_total)?",namespace="{ns}",pod="{pod}",job="{job}"}}'
    series = wait_until(lambda: ks.promql(kind.kubectl, ns, query), 120, f"series {query}", interval=5)
    classes = {s["metric"].get("class") for s in series}
    assert set(ks.CLASSES) <= classes, series
    assert all(float(s["value"][1]) >= 1 for s in series), series


def test_mlserver_metrics_scraped_through_the_podmonitor(kind: KindEnv, models: Models,
                                                         ml_monitoring: Monitoring) -> None:
    """MLServer's metrics port (named `metrics`, /prometheus) is picked up by the same PodMonitor."""
    models.need(kind, "mlserver-iris")
    ns, pod = models.namespace, models.pods["mlserver-iris"]["metadata"]["name"]
    job = _job(ml_monitoring)
    up = wait_until(lambda: ks.promql(kind.kubectl, ns, f'up{{namespace="{ns}",pod="{pod}",job="{job}"}} == 1'), 150,
                    f"Prometheus to scrape {pod} as job {job}", interval=5)
    assert up[0]["metric"]["endpoint"] == "metrics", up


def test_rule_groups_loaded_and_healthy(kind: KindEnv, models: Models, ml_monitoring: Monitoring) -> None:
    """Every rule group of the release's PrometheusRules is listed by /api/v1/rules, none failing to evaluate."""
    expected = {g["name"] for o in ml_monitoring.manifest if o["kind"] == "PrometheusRule" for g in o["spec"]["groups"]}
    assert expected

    def loaded() -> dict | None:
        res = ks.call(kind.kubectl, models.namespace, [{"name": "r", "url": f"{ks.PROMETHEUS_URL}/api/v1/rules",
                                                        "retry": 30}])["r"]
        groups = {g["name"]: g for g in ks.ok(res, "/api/v1/rules")["data"]["groups"]}
        return groups if expected <= set(groups) else None

    groups = wait_until(loaded, 180, f"rule groups {sorted(expected)} in Prometheus", interval=5)
    failing = [f"{n}/{r.get('name')}: {r.get('lastError')}" for n in expected for r in groups[n]["rules"]
               if r.get("health") == "err"]
    assert not failing, failing


def test_ml_monitoring_helm_test_passes(helm_cli: Helm, ml_monitoring: Monitoring) -> None:
    """The chart's own test pod asks the same Prometheus (prometheus-operated.monitoring.svc) for its rule groups."""
    proc = helm_cli.run("test", ml_monitoring.release, "--namespace", ml_monitoring.namespace, "--logs",
                        "--timeout", "300s", check=False, timeout=360)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "OK:" in proc.stdout, proc.stdout
