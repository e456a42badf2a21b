"""The cluster_kwok tier's cluster: one real control plane per session (kube-apiserver, etcd,
controller-manager and scheduler from .tools/bin, kwok faking the nodes' kubelets), started by
msc.clusters with no nodes. Every CRD the suite knows is applied first, then the fake GPU nodes come
from our own chart: `helm install` of gpu-node-pool with values/gpu-node-pool/simulated.yaml (a CPU pool,
gpu-a100: 2 nodes x 4 A100, gpu-l4: 2 nodes x 2 L4, one L4 headroom placeholder).

The cluster is deleted at the end unless MSC_KEEP_CLUSTER=1; a kept cluster is reused by the next run
(whatever a previous run left in test namespaces is swept first)."""
from __future__ import annotations

import contextlib
import itertools
import os
import secrets
from typing import Callable, Iterator

import pykube
import pytest
from pytest_helm_charts.k8s.namespace import ensure_namespace_exists
from pytest_helm_charts.utils import wait_for_objects_condition

from harness import VALUES
from harness.cluster import (TEST_NAMESPACE_LABEL, Helm, Kubectl, apply_crds, one_cluster_creation_at_a_time,
                             sweep_test_namespaces)
from msc import clusters
from msc.clusters.kwok import KwokCluster as KwokControlPlane

from kwok_support import POOL_LABEL, KwokEnv

# Not the default "msc": a developer's own cluster is never touched. One cluster per xdist worker: the tier
# is meant to run in one worker (tests/conftest.py groups it), and two workers must never share one.
# MSC_KWOK_CLUSTER names another one, for two checkouts or sessions testing side by side.
CLUSTER_NAME = os.environ.get("MSC_KWOK_CLUSTER", "msc-tests") + (
    f"-{os.environ['PYTEST_XDIST_WORKER']}" if os.environ.get("PYTEST_XDIST_WORKER") else "")
POOLS_RELEASE, POOLS_NAMESPACE = "pools", "gpu-pools"
SIMULATED_VALUES = VALUES / "gpu-node-pool" / "simulated.yaml"
KEEP = os.environ.get("MSC_KEEP_CLUSTER") == "1"
NAMESPACE_MARK = "cluster-kwok"   # TEST_NAMESPACE_LABEL value of this tier's namespaces


def _node_ready(node: pykube.Node) -> bool:
    return any(c["type"] == "Ready" and c["status"] == "True" for c in node.obj.get("status", {}).get("conditions", []))


@pytest.fixture(scope="session")
def kwok(tmp_path_factory: pytest.TempPathFactory) -> Iterator[KwokEnv]:
    ready = False
    try:
        with one_cluster_creation_at_a_time():
            kubeconfig = clusters.up("kwok", CLUSTER_NAME, apply_nodes=False)
        kubectl = Kubectl(kubeconfig, KwokControlPlane(CLUSTER_NAME).kubectl_cache)
        helm = Helm("helm4", tmp_path_factory.mktemp("helm-pools"), kubeconfig)
        sweep_test_namespaces(kubectl, helm, NAMESPACE_MARK)
        crds = apply_crds(kubectl)
        helm.upgrade(POOLS_RELEASE, "gpu-node-pool", POOLS_NAMESPACE, values_files=[SIMULATED_VALUES], install=True,
                     wait=True, extra=["--create-namespace"])
        nodes = [o for o in helm.manifest(POOLS_RELEASE, POOLS_NAMESPACE) if o["kind"] == "Node"]
        api = pykube.HTTPClient(pykube.KubeConfig.from_file(str(kubeconfig)))
        wait_for_objects_condition(api, pykube.Node, [n["metadata"]["name"] for n in nodes], None, _node_ready,
                                   timeout_sec=60, missing_ok=False)
        by_pool: dict[str, list[str]] = {}
        for node in nodes:
            by_pool.setdefault(node["metadata"]["labels"][POOL_LABEL], []).append(node["metadata"]["name"])
        ready = True
        yield KwokEnv(kubeconfig, kubectl, api, crds, by_pool, secrets.token_hex(2), CLUSTER_NAME)
    finally:
        if not (KEEP and ready):   # a cluster that never got ready is not worth keeping
            clusters.down("kwok", CLUSTER_NAME)


@pytest.fixture(autouse=True)
def control_plane_alive(kwok: KwokEnv) -> None:
    """Fail at once, saying why, when a control-plane process is gone (rather than time out in every test)."""
    exited = kwok.exited_components()
    if exited:
        pytest.fail(f"kwok control plane: {', '.join(exited)} exited; see {KwokControlPlane(kwok.name).workdir}"
                    "/logs")


@pytest.fixture(scope="session")
def kube_config(kwok: KwokEnv) -> str:
    """pytest-helm-charts' kube_config, pointed at the kwok cluster (so its kube_cluster fixture works)."""
    return str(kwok.kubeconfig)


@pytest.fixture(scope="session")
def helms(kwok: KwokEnv, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Helm]:
    """Helm 4 and Helm 3, each with its own isolated HELM_* home."""
    return {name: Helm(name, tmp_path_factory.mktemp(f"home-{name}"), kwok.kubeconfig) for name in ("helm4", "helm3")}


@pytest.fixture
def helm_cli(helm: str, helms: dict[str, Helm]) -> Helm:
    """The Helm of the `helm` parameter (tests/conftest.py runs the test once per Helm)."""
    return helms[helm]


NamespaceFactory = Callable[..., str]
_serial = itertools.count()


@pytest.fixture
def namespace(kwok: KwokEnv) -> Iterator[NamespaceFactory]:
    """Make namespaces for one test: namespace(base, labels={...}) -> unique name. They are deleted after
    the test without waiting (the namespace controller finishes in the background)."""
    made: list[str] = []

    def make(base: str, labels: dict[str, str] | None = None) -> str:
        name = f"{base[:46].rstrip('-')}-{kwok.token}{next(_serial):03d}"
        obj = {"apiVersion": "v1", "kind": "Namespace",
               "metadata": {"name": name, "labels": {TEST_NAMESPACE_LABEL: NAMESPACE_MARK, **(labels or {})}}}
        pykube.Namespace(kwok.api, obj).create()
        made.append(name)
        return name

    yield make
    for name in made:
        with contextlib.suppress(pykube.exceptions.ObjectDoesNotExist):
            pykube.Namespace.objects(kwok.api).get(name=name).delete()


@pytest.fixture(scope="session")
def ensure_namespace(kwok: KwokEnv) -> Callable[[str], None]:
    """A namespace with a fixed name that a scenario expects to exist (kept for the session; swept with the
    test namespaces when the cluster is kept)."""
    def ensure(name: str) -> None:
        ensure_namespace_exists(kwok.api, name, {"labels": {TEST_NAMESPACE_LABEL: NAMESPACE_MARK}})
    return ensure


@pytest.fixture(scope="session")
def restricted_labels() -> dict[str, str]:
    """Pod Security Admission: enforce (and warn/audit) the restricted standard at the server's version."""
    return {f"pod-security.kubernetes.io/{mode}": "restricted" for mode in ("enforce", "warn", "audit")} | \
           {"pod-security.kubernetes.io/enforce-version": "latest"}

