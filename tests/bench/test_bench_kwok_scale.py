"""Scale on a real control plane: 1,000 simulated GPU nodes from the gpu-node-pool chart (its `simulated`
provider with the pools of values/gpu-node-pool/simulated.yaml scaled up) and 5,000 model replicas from
seldon-model pod specs (as Deployments: no operator here) in a restricted model namespace, on a kwok cluster
started with --disable-qps-limits. Prints the time until every pod is bound, pods bound per second and the
peak RSS of each control-plane process; asserts only that every pod was bound (never on time).
Run: .tools/venv/bin/python -m pytest -m bench -s tests/bench/test_bench_kwok_scale.py"""
from __future__ import annotations

import contextlib
import copy
import os
import threading
import time
from pathlib import Path
from typing import Any, Callable, Iterator

import pykube
import pytest
import requests
import yaml
from msc import clusters
from msc.clusters.contract import POOL_LABEL
from msc.clusters.kwok import KwokCluster as KwokControlPlane
from msc.proc import pid_alive

from harness import VALUES, find, render
from harness.cluster import Helm, Kubectl, deployment_for, one_cluster_creation_at_a_time, wait_until


pytestmark = [pytest.mark.bench, pytest.mark.cluster_kwok,
              pytest.mark.skipif(not os.environ.get("MSC_SCALE_BENCH"),
                                 reason="the 1,000-node / 5,000-pod scale bench runs from scripts/bench (MSC_SCALE_BENCH=1)")]

CLUSTER = "msc-bench"
NAMESPACE = "bench-models"
NODES = {"cpu": 200, "gpu-a100": 300, "gpu-l4": 500}            # 1,000 nodes: 1,200 A100s and 1,000 L4s
# 5,000 replicas: one-GPU LLM servers on each GPU pool, CPU iris servers on the CPU pool.
MODELS = {"llm-a100": ("gpu-llm", "gpu-a100", 1100), "llm-l4": ("gpu-llm", "gpu-l4", 900), "iris": ("iris", None, 3000)}
BIND_TIMEOUT = 600   # a bound, not a target: a loaded 2-core machine is several times slower
RESTRICTED = {"pod-security.kubernetes.io/enforce": "restricted"}


class RssSampler(threading.Thread):
    """Peak resident memory of each control-plane process: /proc/<pid>/status VmRSS sampled every 0.5 s, and
    VmHWM (the kernel's own high-water mark) at the end."""

    def __init__(self, pids: dict[str, int]) -> None:
        super().__init__(daemon=True)
        self.pids, self.peak = pids, {c: 0 for c in pids}
        self.stop = threading.Event()

    @staticmethod
    def _field(pid: int, name: str) -> int:
        try:
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith(name + ":"):
                    return int(line.split()[1])
        except OSError:
            pass
        return 0

    def run(self) -> None:
        while not self.stop.wait(0.5):
            for component, pid in self.pids.items():
                self.peak[component] = max(self.peak[component], self._field(pid, "VmRSS"))

    def high_water(self) -> dict[str, int]:
        return {c: max(self.peak[c], self._field(pid, "VmHWM")) for c, pid in self.pids.items()}


class BindingWatch(threading.Thread):
    """When each pod of the namespace was first seen bound (spec.nodeName set), from one watch stream: the
    API server sends each change once, where polling would list thousands of pods every few seconds (and
    slow down the very thing being measured). A dropped stream is opened again (its initial ADDED events
    re-sync)."""

    def __init__(self, api: pykube.HTTPClient, namespace: str, total: int) -> None:
        super().__init__(daemon=True)
        self.api, self.namespace, self.total = api, namespace, total
        self.bound: dict[str, float] = {}
        self.errors: list[str] = []
        self.done, self.stop = threading.Event(), threading.Event()

    def run(self) -> None:
        while not self.stop.is_set():
            try:
                for event in pykube.Pod.objects(self.api, namespace=self.namespace).watch():
                    if event.type == "ERROR":    # e.g. 410 Gone (too old a resourceVersion): watch again
                        self.errors.append(str(event.object.obj.get("message", event.object.obj))[:200])
                        break
                    if event.type in ("ADDED", "MODIFIED") and (event.object.obj.get("spec") or {}).get("nodeName"):
                        self.bound.setdefault(event.object.name, time.monotonic())
                    if len(self.bound) >= self.total:
                        self.done.set()
                        return
                    if self.stop.is_set():
                        return
            except (requests.RequestException, pykube.exceptions.HTTPError):
                time.sleep(1)

    def progress(self, since: float, points: int = 6) -> str:
        times = sorted(t - since for t in list(self.bound.values()))
        if not times:
            return "none bound"
        picks = [times[min(len(times) - 1, i * len(times) // points)] for i in range(1, points + 1)]
        return ", ".join(f"{min(len(times), i * len(times) // points)}@{t:.0f}s" for i, t in enumerate(picks, 1))


@pytest.fixture(scope="module")
def bench_cluster() -> Iterator[Path]:
    try:
        with one_cluster_creation_at_a_time():
            kubeconfig = clusters.up("kwok", CLUSTER, apply_nodes=False, disable_qps_limits=True)
        yield kubeconfig
    finally:
        if os.environ.get("MSC_KEEP_CLUSTER") != "1":
            clusters.down("kwok", CLUSTER)


def _pool_values() -> dict[str, Any]:
    values = yaml.safe_load((VALUES / "gpu-node-pool" / "simulated.yaml").read_text())
    for pool in values["pools"]:
        pool["simulated"]["nodes"] = NODES[pool["name"]]
    values["headroom"] = {"enabled": False}
    return values


def _model(name: str, scenario: str, pool: str | None, replicas: int) -> dict:
    values = yaml.safe_load((VALUES / "seldon-model" / f"{scenario}.yaml").read_text())
    if pool:
        values = copy.deepcopy(values)
        values["predictors"][0]["components"]["llm"]["gpu"]["pool"]["name"] = pool
    sd = find(render("seldon-model", values=values, release=name, namespace=NAMESPACE), "SeldonDeployment")
    component = sd["spec"]["predictors"][0]["componentSpecs"][0]
    return deployment_for(name, NAMESPACE, component["spec"], replicas, component["metadata"]["labels"])


def patient(check: Callable[[], bool]) -> Callable[[], bool]:
    """A poll that a busy API server (a read timing out under load) answers "not yet" instead of failing."""
    def poll() -> bool:
        try:
            return check()
        except requests.RequestException:
            return False
    return poll


def _ready_nodes(api: pykube.HTTPClient) -> int:
    return sum(1 for n in pykube.Node.objects(api) if any(
        c["type"] == "Ready" and c["status"] == "True" for c in n.obj.get("status", {}).get("conditions", [])))


def test_schedule_5000_model_replicas_on_1000_gpu_nodes(bench_cluster: Path, tmp_path: Path,
                                                        capsys: pytest.CaptureFixture[str]) -> None:
    kubectl = Kubectl(bench_cluster, KwokControlPlane(CLUSTER).kubectl_cache)
    api = pykube.HTTPClient(pykube.KubeConfig.from_file(str(bench_cluster)), timeout=60)  # lists of 5,000 pods
    sampler = RssSampler(KwokControlPlane(CLUSTER).pids())
    sampler.start()
    report: list[str] = []

    t0 = time.monotonic()
    helm = Helm("helm4", tmp_path / "helm", bench_cluster, timeout="300s")
    helm.upgrade("pools", "gpu-node-pool", "gpu-pools", values=_pool_values(), install=True,
                 extra=["--create-namespace"])
    total_nodes = sum(NODES.values())
    wait_until(patient(lambda: _ready_nodes(api) >= total_nodes), 300, f"{total_nodes} nodes Ready", interval=2)
    report.append(f"{total_nodes} nodes installed by helm and Ready in {time.monotonic() - t0:.1f}s")

    deployments = [_model(name, scenario, pool, replicas) for name, (scenario, pool, replicas) in MODELS.items()]
    total_pods = sum(d["spec"]["replicas"] for d in deployments)
    kubectl("create", "namespace", NAMESPACE, check=False)
    kubectl("label", "namespace", NAMESPACE, "--overwrite", *[f"{k}={v}" for k, v in RESTRICTED.items()])
    t1 = time.monotonic()
    # Its own client: a requests session is not meant to be shared between threads.
    watch = BindingWatch(pykube.HTTPClient(pykube.KubeConfig.from_file(str(bench_cluster)), timeout=60), NAMESPACE,
                         total_pods)
    watch.start()
    kubectl("apply", "--server-side", "-f", "-", stdin=yaml.safe_dump_all(deployments))
    cluster = KwokControlPlane(CLUSTER)

    def exited() -> list[str]:
        return [c for c, pid in cluster.pids().items() if not pid_alive(pid)]
    try:
        with contextlib.suppress(TimeoutError):   # reported below as the pods that did not get bound
            wait_until(lambda: watch.done.wait(5) or exited(), BIND_TIMEOUT, "every pod bound", interval=0)
        all_bound = watch.done.is_set()
        watch.stop.set()
        if all_bound:
            t_bound = max(watch.bound.values()) - t1
            report.append(f"{total_pods} pods bound in {t_bound:.1f}s after apply: {total_pods / t_bound:.0f} pods/s "
                          f"(bound@time: {watch.progress(t1)})")
        else:
            created = sum(int(pykube.Deployment.objects(api, namespace=NAMESPACE).get(name=d["metadata"]["name"])
                              .obj.get("status", {}).get("replicas", 0)) for d in deployments)
            report.append(f"only {len(watch.bound)} of {total_pods} pods bound ({created} created) after "
                          f"{time.monotonic() - t1:.0f}s (bound@time: {watch.progress(t1)}); components exited: "
                          f"{exited() or 'none'}; watch errors: {watch.errors[-3:] or 'none'}; "
                          f"logs in {cluster.workdir / 'logs'} (kept with MSC_KEEP_CLUSTER=1)")
        assert all_bound, report[-1]
        # Where they went: every pod on its own pool, none of the GPU servers on CPU nodes.
        pools = {n.name: n.labels.get(POOL_LABEL) for n in pykube.Node.objects(api)}
        for name, (_, pool, replicas) in MODELS.items():
            placed = [pools[p.obj["spec"]["nodeName"]] for p in
                      pykube.Pod.objects(api, namespace=NAMESPACE).filter(selector={"app.kubernetes.io/name": name})]
            assert len(placed) == replicas and set(placed) == {pool or "cpu"}, (name, set(placed))
        running = wait_until(patient(lambda: all(
            pykube.Deployment.objects(api, namespace=NAMESPACE).get(name=d["metadata"]["name"]).obj["status"]
            .get("availableReplicas", 0) == d["spec"]["replicas"] for d in deployments)), BIND_TIMEOUT,
            "every replica to be available", interval=2)
        assert running
        report.append(f"all {total_pods} replicas Running/Ready (kwok) {time.monotonic() - t1:.1f}s after apply")
    finally:
        sampler.stop.set()
        sampler.join()
        peaks = sampler.high_water()
        report.append("peak RSS: " + ", ".join(f"{c} {kib / 1024:.0f} MiB" for c, kib in sorted(peaks.items()))
                      + f"; total {sum(peaks.values()) / 1024:.0f} MiB")
        with capsys.disabled():
            for line in report:
                print(f"\n[bench] {line}", end="")
            print()
        kubectl("delete", "namespace", NAMESPACE, "--wait=false", check=False)
