"""Autoscaling under load, measured: a seldon-model release scales from 1 to 3 replicas while the in-cluster load
generator (msc.loadgen) sends a burst, and back to 1 after it, and no request fails on the way up or down.

- HPA on CPU: metrics-server v0.8.0 (our image, upstream's manifests: msc.autoscalers) and the chart's `hpa` values
  (targetCPUUtilization 40 over the pod's requests: the model's 50m plus the executor's 50m).
- KEDA v2.16.1 (operator, metrics API server and admission webhooks from our image; the session's Seldon operator is
  upgraded with keda.enabled, which needs KEDA's CRDs in place first) with the chart's Prometheus trigger on the
  executor's request rate, scraped through the chart's PodMonitor by the session's Prometheus.

Both releases are loaded at once (half the time; each autoscaler sees only its own model). Two load Jobs each: a steady trickle through the whole run (it sees the scale-down) and a burst at the start
(it causes the scale-up). Scale-up time is burst start to the last new replica Ready; scale-down time is burst end to
one replica left. The kind cluster's controller-manager waits 30 s before scaling down (msc.clusters.kind), not
the default 5 minutes. Each test prints its figures and the module prints the table (`scripts/bench autoscaling`).
Chosen alone with `-m faults`."""
from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator

import pytest

from msc import autoscalers, loadgen, stack as ks
from msc.clusters.kind import HPA_DOWNSCALE_STABILIZATION
from harness.cluster import Helm
from kind_support import KindEnv, wait_available

pytestmark = [pytest.mark.cluster_kind, pytest.mark.faults]
Obj = dict[str, Any]

MAX_REPLICAS = 3
STEADY_RATE, BURST_RATE = 4, 36        # requests per second: the trickle, and the burst on top of it
BURST_SECONDS = 90                     # time to reach 3 Ready replicas under it (the HPA took 57 s on kind)
STEADY_SECONDS = 240                   # the burst, then the scale-down under the trickle (about 70 s after it) and margin


def model_values(autoscaling: Obj, monitoring: bool = False) -> Obj:
    """One iris model whose pod asks for 50m (model) + the executor's 50m: the HPA's utilization is over both. The
    burst takes about 130m in one replica (130%, three replicas' worth at 40%), the trickle about 40m in three."""
    return {
        **({"monitoring": {"enabled": True, "release": ks.PROMETHEUS_RELEASE, "interval": "5s", "scrapeTimeout": "4s"}}
           if monitoring else {}),
        "predictors": [{
            "name": "default",
            "graph": {"name": "classifier", "type": "MODEL"},
            "components": {"classifier": {"image": ks.component_image("iris-model"),
                                          "resources": {"requests": {"cpu": "50m", "memory": "64Mi"},
                                                        "limits": {"cpu": "1", "memory": "1Gi"}}}},
            **autoscaling,
            "pdb": {"maxUnavailable": 1}}]}


@dataclass
class Scaling:
    autoscaler: str
    steady: loadgen.LoadResult
    burst: loadgen.LoadResult
    peak: int                       # most Ready replicas seen
    up_s: float                     # burst start -> MAX_REPLICAS Ready
    down_s: float                   # burst end -> one replica left
    timeline: list[tuple[float, int, int]] = field(default_factory=list)   # (s since burst start, pods, Ready)

    def row(self) -> str:
        sent = self.steady.sent + self.burst.sent
        failed = self.steady.failed + self.burst.failed
        p99 = max(self.steady.latency_ms.p99, self.burst.latency_ms.p99)
        return f"{self.autoscaler:<34}{sent:>7}{failed:>7}{p99:>9.1f}{self.peak:>6}{self.up_s:>10.1f}{self.down_s:>12.1f}"


TABLE: list[Scaling] = []


@pytest.fixture(scope="module", autouse=True)
def table() -> Iterator[None]:
    yield
    if TABLE:
        print(f"\n{'autoscaler':<34}{'sent':>7}{'failed':>7}{'p99 ms':>9}{'peak':>6}{'up s':>10}{'down s':>12}")
        print("\n".join(s.row() for s in TABLE))


@pytest.fixture(scope="module")
def metrics_server(kind: KindEnv) -> None:
    kind.require("metrics-server")
    autoscalers.install(kind.kubectl, autoscalers.metrics_server_manifest(), "metrics-server")
    autoscalers.wait_metrics_api(kind.kubectl)


@pytest.fixture(scope="module")
def keda(kind: KindEnv, helm_cli: Helm, seldon_operator: str, prometheus_stack: str) -> None:
    """KEDA, then the session's operator with keda.enabled (it watches ScaledObjects, so their CRD comes first)."""
    kind.require("keda")
    autoscalers.install(kind.kubectl, autoscalers.keda_manifest(), "keda")
    helm_cli.upgrade(seldon_operator, "seldon-operator", ks.SELDON_NAMESPACE, reuse_values=True, wait=True,
                     values={"keda": {"enabled": True}})
    ks.wait_seldon_webhook(kind.kubectl, ks.SELDON_NAMESPACE)


def controller_manager_stabilization(kind: KindEnv) -> str:
    """The cluster's --horizontal-pod-autoscaler-downscale-stabilization (a reused older cluster may lack it)."""
    pod = kind.kubectl.json("get", "pods", "-n", "kube-system", "-l", "component=kube-controller-manager")["items"][0]
    flag = "--horizontal-pod-autoscaler-downscale-stabilization="
    return next((a[len(flag):] for a in pod["spec"]["containers"][0]["command"] if a.startswith(flag)), "5m0s")


def replica_counts(kind: KindEnv, namespace: str, sdep: str) -> tuple[int, int]:
    """(pods not terminating, of them Ready) of the SeldonDeployment."""
    pods = [p for p in kind.kubectl.json("get", "pods", "-n", namespace, "-l", f"seldon-deployment-id={sdep}")["items"]
            if not p["metadata"].get("deletionTimestamp")]
    ready = [p for p in pods if any(c["type"] == "Ready" and c["status"] == "True" for c in p["status"].get("conditions", []))]
    return len(pods), len(ready)


def scale_under_load(kind: KindEnv, namespace: str, sdep: str, autoscaler: str, down_timeout: float) -> Scaling:
    """The trickle and the burst at once; the replica timeline sampled every second until one replica is left
    after the burst (or down_timeout after its end), then both loads' results."""
    url = f"http://{sdep}-default.{namespace}.svc.cluster.local:8000"
    steady = loadgen.seldon_rest(url, rate=STEADY_RATE, duration=STEADY_SECONDS, timeout=5)
    burst = loadgen.seldon_rest(url, rate=BURST_RATE, duration=BURST_SECONDS, timeout=5)
    loadgen.start(kind.kubectl, steady, "load-steady", namespace)
    loadgen.wait_sending(kind.kubectl, "load-steady", namespace)
    loadgen.start(kind.kubectl, burst, "load-burst", namespace)
    loadgen.wait_sending(kind.kubectl, "load-burst", namespace)
    t0 = time.time()
    timeline: list[tuple[float, int, int]] = []
    up = down = float("nan")
    while time.time() - t0 < BURST_SECONDS + down_timeout:
        pods, ready = replica_counts(kind, namespace, sdep)
        now = time.time() - t0
        timeline.append((round(now, 1), pods, ready))
        if ready >= MAX_REPLICAS and up != up:
            up = now
            print(f"\n{autoscaler}: {ready} replicas Ready {now:.1f}s after the burst started")
        if now > BURST_SECONDS and up == up and pods == ready == 1:
            down = now - BURST_SECONDS
            print(f"{autoscaler}: back to 1 replica {down:.1f}s after the burst ended")
            break
        time.sleep(1)
    burst_result = loadgen.wait(kind.kubectl, "load-burst", namespace)
    steady_result = loadgen.wait(kind.kubectl, "load-steady", namespace)
    peak = max(r for _, _, r in timeline)
    scaling = Scaling(autoscaler, steady_result, burst_result, peak, up, down, timeline)
    TABLE.append(scaling)
    changes = [timeline[0]] + [b for a, b in zip(timeline, timeline[1:]) if a[1:] != b[1:]]
    print(f"{autoscaler}: replicas (s, pods, Ready): {changes}\n  steady: {steady_result.describe()}\n"
          f"  burst: {burst_result.describe()}")
    return scaling


def assert_scaled(s: Scaling) -> None:
    assert s.peak >= MAX_REPLICAS and s.up_s == s.up_s, f"{s.autoscaler} never reached {MAX_REPLICAS} Ready replicas: {s.timeline}"
    assert s.down_s == s.down_s, f"{s.autoscaler} never went back to 1 replica: {s.timeline[-20:]}"
    assert BURST_SECONDS + s.down_s < STEADY_SECONDS, \
        f"{s.autoscaler} scaled down {s.down_s:.0f}s after the burst, after the trickle ended: no load saw it"
    for result in (s.steady, s.burst):
        assert result.sent > 0, result.describe()
        assert result.failed == 0, f"{s.autoscaler}: {result.describe_failures()}"


def serve(kind: KindEnv, helm_cli: Helm, namespace: str, release: str, values: Obj) -> str:
    helm_cli.install(release, "seldon-model", namespace, values=values)
    sdep = f"{release}-seldon-model"
    wait_available(kind, sdep, namespace)
    return sdep


HPA = "HPA (CPU, metrics-server)"
KEDA = "KEDA (Prometheus, executor rate)"
KEDA_THRESHOLD = 6   # requests per second per replica: the burst's 40/s wants 7 (capped at 3) once its 1-minute
                     # rate passes 12/s, about 15 s in; the trickle's 4/s wants 1


@pytest.fixture(scope="module")
def scalings(kind: KindEnv, helm_cli: Helm, seldon_operator: str, metrics_server: None, keda: None,
             make_namespace: Callable[..., str]) -> Iterator[dict[str, Scaling | BaseException]]:
    """Both releases, then both loads at once (each autoscaler sees only its own model's CPU or rate; together they
    take half the time): autoscaler -> its Scaling, or the error that stopped it."""
    kind.require("iris-model", "loadgen")
    stabilization = controller_manager_stabilization(kind)
    assert stabilization == HPA_DOWNSCALE_STABILIZATION, f"a reused cluster made before the flag: {stabilization}; recreate it"
    hpa_ns, keda_ns = make_namespace("kind-hpa"), make_namespace("kind-keda")
    releases = {
        HPA: (hpa_ns, serve(kind, helm_cli, hpa_ns, "hpa", model_values(
            {"hpa": {"minReplicas": 1, "maxReplicas": MAX_REPLICAS, "targetCPUUtilization": 40}}))),
        KEDA: (keda_ns, serve(kind, helm_cli, keda_ns, "keda", model_values({"keda": {
            "minReplicaCount": 1, "maxReplicaCount": MAX_REPLICAS, "pollingInterval": 5,
            "prometheus": {"serverAddress": ks.PROMETHEUS_URL, "threshold": KEDA_THRESHOLD},
            # KEDA passes this to the HPA it makes: the chart's way to a per-model scale-down window
            "advanced": {"horizontalPodAutoscalerConfig": {"behavior": {"scaleDown": {"stabilizationWindowSeconds": 30}}}}}},
            monitoring=True)))}
    out: dict[str, Scaling | BaseException] = {}

    def run(autoscaler: str) -> None:
        namespace, sdep = releases[autoscaler]
        try:
            out[autoscaler] = scale_under_load(kind, namespace, sdep, autoscaler,
                                               down_timeout=STEADY_SECONDS - BURST_SECONDS + 60)
        except BaseException as err:   # reported by the autoscaler's own test
            out[autoscaler] = err
    threads = [threading.Thread(target=run, args=(a,)) for a in releases]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    yield out
    for autoscaler, (namespace, _) in releases.items():
        helm_cli.uninstall("hpa" if autoscaler == HPA else "keda", namespace, wait=False, check=False)


def scaling_of(scalings: dict[str, Scaling | BaseException], autoscaler: str) -> Scaling:
    result = scalings[autoscaler]
    if isinstance(result, BaseException):
        raise result
    return result


def test_hpa_on_cpu_scales_up_under_load_and_back_without_a_failed_request(kind: KindEnv, scalings: dict) -> None:
    hpa = [h for h in kind.kubectl.json("get", "hpa", "-A")["items"] if h["metadata"]["name"].startswith("hpa-")]
    assert [h["spec"]["maxReplicas"] for h in hpa] == [MAX_REPLICAS], hpa
    assert_scaled(scaling_of(scalings, HPA))


def test_keda_on_the_executor_request_rate_scales_up_under_load_and_back_without_a_failed_request(
        kind: KindEnv, scalings: dict) -> None:
    scaled = kind.kubectl.json("get", "scaledobjects.keda.sh", "-A")["items"]
    assert len(scaled) == 1 and scaled[0]["spec"]["triggers"][0]["type"] == "prometheus", scaled
    assert_scaled(scaling_of(scalings, KEDA))
