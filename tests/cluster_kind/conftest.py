"""The cluster_kind tier's cluster: the kind cluster `msc` of scripts/cluster (control plane, CPU worker
msc-worker, GPU-pool worker msc-worker2 tainted nvidia.com/gpu:NoSchedule advertising nvidia.com/gpu: 2),
brought up once per session (msc.clusters) (a running one is reused), with every local image we build loaded into it
(`kind load docker-image`; kind skips images the nodes already have).

At the end the cluster is deleted if this session created it, unless MSC_KEEP_CLUSTER=1; a cluster that
was already running (a developer's, the demo's) is left running. Test namespaces carry
harness.cluster.TEST_NAMESPACE_LABEL and are swept at the start of the next session on a kept cluster.
Timings (cluster up, image load, stacks) are printed in the terminal summary."""
from __future__ import annotations

import os
import secrets
import time
from typing import Callable, Iterator

import pytest

from harness import require_built
from harness.cluster import TEST_NAMESPACE_LABEL, Helm, sweep_test_namespaces
from msc import clusters
from msc import stack as ks
from msc.clusters.contract import POOL_LABEL
from msc.kube import Kubectl
from kind_support import KindEnv, Models, Monitoring


# MSC_KIND_CLUSTER names another cluster, for two checkouts or sessions testing side by side on one engine.
CLUSTER_NAME = os.environ.get("MSC_KIND_CLUSTER", "msc")
KEEP = os.environ.get("MSC_KEEP_CLUSTER") == "1"
# Every image we build is loaded at the start (about 13 GB in two workers). MSC_KIND_IMAGES=iris-model,loadgen,...
# (APP_IMAGES keys) loads only those, plus the operator's, and each test's kind.require() loads what it names: a
# developer's cluster beside another one on a small disk.
ONLY_IMAGES = {k for k in os.environ.get("MSC_KIND_IMAGES", "").split(",") if k}
NAMESPACE_MARK = "cluster-kind"
TIMINGS: dict[str, float | str] = {}
TIMINGS_KEY = "cluster_kind/timings"
SESSION_START = time.time()


def _timed(key: str, start: float) -> float:
    TIMINGS[key] = round(time.monotonic() - start, 1)
    return TIMINGS[key]  # type: ignore[return-value]


@pytest.fixture(scope="session")
def kind(tmp_path_factory: pytest.TempPathFactory, pytestconfig: pytest.Config) -> Iterator[KindEnv]:
    kind_cluster = clusters.cluster("kind", CLUSTER_NAME)
    was_running = kind_cluster.exists() and kind_cluster.running()
    t0 = time.monotonic()
    kubeconfig = kind_cluster.up()
    _timed(f"cluster up ({'warm: reused' if was_running else 'cold: created'})", t0)
    try:
        kubectl = Kubectl(kubeconfig, tmp_path_factory.mktemp("kubectl-cache"))
        sweep_test_namespaces(kubectl, Helm("helm4", tmp_path_factory.mktemp("helm-sweep"), kubeconfig), NAMESPACE_MARK)
        missing = ks.missing_images(ks.APP_IMAGES)
        # the explainer (2.7 GB) is not loaded into every node: its test loads it where its pod runs
        keys = [key for key in ks.APP_IMAGES if key not in missing and key != "alibi-explainer"
                and (not ONLY_IMAGES or key in ONLY_IMAGES)]
        present = [ks.APP_IMAGES[key] for key in keys] + [ref for ref in ks.SELDON_OPERATOR_IMAGES if ks.docker_has(ref)]
        TIMINGS[f"kind load ({len(present)} images)"] = round(kind_cluster.load(present), 1)
        nodes = {n["metadata"]["name"]: n["metadata"]["labels"].get(POOL_LABEL, "control-plane")
                 for n in kubectl.json("get", "nodes")["items"]}
        yield KindEnv(CLUSTER_NAME, kubeconfig, kubectl, secrets.token_hex(2), nodes, missing, set(keys), kind_cluster.load)
    finally:
        if KEEP or was_running:
            TIMINGS["cluster down"] = "kept (" + ("MSC_KEEP_CLUSTER=1" if KEEP else "it was running before the session") + ")"
        else:
            t0 = time.monotonic()
            kind_cluster.down()
            _timed("cluster down", t0)
        cache = getattr(pytestconfig, "cache", None)   # absent with -p no:cacheprovider
        if cache is not None:   # xdist: the controller prints what the worker measured
            cache.set(TIMINGS_KEY, {"written": time.time(), "timings": TIMINGS})


@pytest.fixture(scope="session")
def kube_config(kind: KindEnv) -> str:
    """pytest-helm-charts' kube_config, pointed at the kind cluster (.cluster/kind/kubeconfig)."""
    return str(kind.kubeconfig)


@pytest.fixture(scope="session")
def helm_cli(kind: KindEnv, tmp_path_factory: pytest.TempPathFactory) -> Helm:
    """Helm 4 with its own isolated HELM_* home."""
    return Helm("helm4", tmp_path_factory.mktemp("helm-kind"), kind.kubeconfig, timeout="300s")


@pytest.fixture(scope="session")
def make_namespace(kind: KindEnv) -> Iterator[Callable[..., str]]:
    """make_namespace(base, restricted=True) -> a new namespace (restricted Pod Security by default),
    labelled for the sweep; deleted at the end of the session without waiting."""
    made: list[str] = []

    def make(base: str, restricted: bool = True) -> str:
        name = f"{base}-{kind.token}"
        labels = {TEST_NAMESPACE_LABEL: NAMESPACE_MARK, **(ks.RESTRICTED_NAMESPACE_LABELS if restricted else {})}
        ks.apply(kind.kubectl, [{"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name, "labels": labels}}])
        made.append(name)
        return name

    yield make
    if made:
        kind.kubectl("delete", "namespace", *made, "--wait=false", "--ignore-not-found", check=False)


@pytest.fixture(scope="session")
def models(kind: KindEnv, make_namespace: Callable[..., str]) -> Models:
    """Every model server whose image exists, as plain pods in a restricted namespace, plus the client pod.
    Not SeldonDeployments (see msc.stack): the images and the cluster network, not the operator."""
    kind.require("helm-test-client")
    namespace = make_namespace("kind-models")
    servers = {n: s for n, s in ks.SERVERS.items() if s.image not in kind.missing}
    t0 = time.monotonic()
    ks.deploy(kind.kubectl, namespace, servers.values())
    _timed(f"model pods Ready ({len(servers)} servers + client)", t0)
    pods = {}
    for name in servers:
        items = kind.kubectl.json("get", "pods", "-n", namespace, "-l", f"app.kubernetes.io/name={name}")["items"]
        pods[name] = next(p for p in items if p["metadata"].get("deletionTimestamp") is None)
    return Models(namespace, servers, pods)


OPERATOR_HA = {"replicaCount": 2, "leaderElection": {"enabled": True},
               "resources": {"requests": {"cpu": "50m", "memory": "128Mi"}, "limits": {"cpu": "500m", "memory": "500Mi"}}}


@pytest.fixture(scope="session")
def seldon_operator(kind: KindEnv, helm_cli: Helm) -> Iterator[str]:
    """The seldon-operator chart (operator + executor 1.17.1, built from source) in seldon-system, webhook on;
    every SeldonDeployment test of the session shares it. Returns the release name."""
    require_built(ks.seldon_operator_available(), ks.SELDON_OPERATOR_MISSING)
    # a fixed name: the CRD outlives its release (helm.sh/resource-policy: keep), and a reused cluster's next
    # session adopts it only under the same release name and namespace
    release = "msc-seldon"
    operator, executor = ks.SELDON_OPERATOR_IMAGES
    t0 = time.monotonic()
    # the executor's request is upstream's 0.5 CPU: a 2-core kind worker could then hold two graphs at once
    executor_values = {"image": ks.image_values(executor),
                       "resources": {"requests": {"cpu": "50m", "memory": "64Mi"}, "limits": {"cpu": "500m", "memory": "512Mi"}}}
    # upgrade --install: a reused cluster may still hold the release of a session that was killed
    # two leader-elected replicas, as a platform would run it: the webhook answers while the leader is replaced
    # (test_kind_resilience kills it mid-load)
    helm_cli.upgrade(release, "seldon-operator", ks.SELDON_NAMESPACE, install=True, wait=True,
                     values={"image": ks.image_values(operator), "executor": executor_values, **OPERATOR_HA,
                             **ks.seldon_crd_values(kind.kubectl, release, ks.SELDON_NAMESPACE)},
                     extra=["--create-namespace"])
    ks.wait_seldon_webhook(kind.kubectl, ks.SELDON_NAMESPACE)   # a Ready pod is not enough
    _timed("helm install seldon-operator (webhook answering)", t0)
    try:
        yield release
    finally:
        helm_cli.uninstall(release, ks.SELDON_NAMESPACE, check=False)


@pytest.fixture(scope="session")
def prometheus_stack(kind: KindEnv) -> str:
    """prometheus-operator (every monitoring.coreos.com CRD, upstream RBAC) and a Prometheus selecting
    release=prometheus, from our images, in namespace `monitoring`; returns that namespace."""
    kind.require("prometheus-operator", "prometheus", "helm-test-client")
    t0 = time.monotonic()
    steps = ks.install_prometheus_stack(kind.kubectl)
    _timed("prometheus-operator + Prometheus Ready", t0)
    TIMINGS.update({f"  {k}": round(v, 1) for k, v in steps.items()})
    return ks.MONITORING_NAMESPACE


@pytest.fixture(scope="session")
def ml_monitoring(kind: KindEnv, helm_cli: Helm, prometheus_stack: str) -> Iterator[Monitoring]:
    """ml-monitoring installed next to that Prometheus with prometheus.release=prometheus."""
    release = f"ml-monitoring-{kind.token}"
    t0 = time.monotonic()
    helm_cli.install(release, "ml-monitoring", prometheus_stack, values={"prometheus": {"release": ks.PROMETHEUS_RELEASE}},
                 wait=True)
    _timed("helm install ml-monitoring", t0)
    try:
        yield Monitoring(prometheus_stack, release, helm_cli.manifest(release, prometheus_stack))
    finally:
        helm_cli.uninstall(release, prometheus_stack, wait=False, check=False)


def pytest_terminal_summary(terminalreporter, exitstatus: int, config: pytest.Config) -> None:  # type: ignore[no-untyped-def]
    timings = TIMINGS
    cache = getattr(config, "cache", None)
    if not timings and cache is not None:      # the tier ran in an xdist worker
        cached = cache.get(TIMINGS_KEY, {})
        timings = cached.get("timings", {}) if cached.get("written", 0) > SESSION_START else {}
    if not timings:
        return
    terminalreporter.section("cluster_kind timings (seconds)")
    for key, value in timings.items():
        terminalreporter.write_line(f"{key:58} {value}")
