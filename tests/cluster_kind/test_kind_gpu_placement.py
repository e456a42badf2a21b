"""GPU placement on real nodes, for the pool chart's own pod and for a model the Seldon operator deploys.

The gpu-node-pool chart's GPU helm-test pod (templates/tests/test-gpu.yaml,
rendered with ci/kind-values.yaml) lands on kind's GPU worker (pool gpu-l4: nvidia.com/gpu:NoSchedule,
nvidia.com/gpu: 2 advertised) and nowhere else, two such pods use up its two GPUs, and the same pod
without the toleration ml-common adds stays Pending.

Scheduling only: the pod's container (nvidia-smi from nvcr.io) cannot start here (no registry, no GPU),
so the pods are created from the rendered manifest rather than by `helm test`, which would wait for them
to succeed. The chart refuses pools with `provider: none` (kind-values' provider) and a simulated pool
needs a fake node, so the render adds one simulated gpu-l4 pool; only the test pod is used.

The `gpu-llm` scenario of seldon-model (its pool set to kind's GPU pool), reconciled by the real operator: the
pod the operator makes asks for the GPU and lands on the GPU worker, with the pool's toleration and affinity
ml-common's helper put into the SeldonDeployment. Its HUGGINGFACE_SERVER image is not built here, so only the
scheduling is checked, not the model."""
from __future__ import annotations

import copy
import json
from typing import Callable, Iterator

import pytest
import yaml

from harness import CHARTS, VALUES, find_all, render
from harness.cluster import Helm, wait_until
from kind_support import GPU_POOL, KindEnv, install_model

pytestmark = pytest.mark.cluster_kind

CHART = "gpu-node-pool"
GPU_TEST_VALUES = {"provider": "simulated",
                   "pools": [{"name": GPU_POOL, "gpu": {"product": "NVIDIA-L4", "count": 2, "memoryMiB": 23034},
                              "simulated": {"nodes": 1}}],
                   "tests": {"gpu": {"enabled": True, "pool": GPU_POOL}}}


@pytest.fixture(scope="module")
def gpu_namespace(make_namespace: Callable[..., str]) -> str:
    return make_namespace("kind-gpu")


@pytest.fixture(scope="module")
def gpu_test_pod(gpu_namespace: str, tmp_path_factory: pytest.TempPathFactory) -> dict:
    """The chart's GPU test pod as `helm test` would create it (GPU_TEST_VALUES given after kind-values)."""
    extra = tmp_path_factory.mktemp("gpu-values") / "gpu-test-values.yaml"
    extra.write_text(json.dumps(GPU_TEST_VALUES))
    objs = render(CHART, values_files=[CHARTS / CHART / "ci" / "kind-values.yaml", extra],
                  release="gpu", namespace=gpu_namespace)
    pods = [p for p in find_all(objs, "Pod") if p["metadata"]["name"].endswith("-test-gpu")]
    assert len(pods) == 1, [p["metadata"]["name"] for p in find_all(objs, "Pod")]
    pod = pods[0]
    assert pod["metadata"]["annotations"]["helm.sh/hook"] == "test"
    assert pod["spec"]["containers"][0]["resources"]["limits"]["nvidia.com/gpu"] == 1
    return pod


def _copy(pod: dict, name: str, drop_tolerations: bool = False) -> dict:
    out = copy.deepcopy(pod)
    out["metadata"]["name"] = name
    out["metadata"].pop("annotations", None)            # a plain pod, not a hook
    if drop_tolerations:
        out["spec"].pop("tolerations", None)
    return out


@pytest.fixture
def created(kind: KindEnv, gpu_namespace: str) -> Iterator[Callable[[dict], dict]]:
    names: list[str] = []

    def create(pod: dict) -> dict:
        kind.kubectl("create", "-f", "-", stdin=json.dumps(pod))
        names.append(pod["metadata"]["name"])
        return pod

    yield create
    if names:
        kind.kubectl("delete", "pod", *names, "-n", gpu_namespace, "--wait=true", "--grace-period=0", "--force",
                     check=False, timeout=120)


def _scheduling(kind: KindEnv, namespace: str, name: str) -> tuple[str | None, dict]:
    """(nodeName, PodScheduled condition) once the scheduler has decided, else (None, {})."""
    pod = kind.kubectl.json("get", "pod", name, "-n", namespace)
    cond = next((c for c in pod["status"].get("conditions", []) if c["type"] == "PodScheduled"), {})
    return pod["spec"].get("nodeName"), cond


def _decided(kind: KindEnv, namespace: str, name: str) -> tuple[str | None, dict]:
    return wait_until(lambda: (lambda n, c: (n, c) if (n or c.get("reason") == "Unschedulable") else None)(
        *_scheduling(kind, namespace, name)), 60, f"the scheduler's decision on {name}", interval=1)


def test_gpu_test_pod_lands_on_the_gpu_worker_only(kind: KindEnv, gpu_namespace: str, gpu_test_pod: dict,
                                                   created: Callable[[dict], dict]) -> None:
    """Two copies take the GPU worker's two GPUs; a third finds no node with a free nvidia.com/gpu: the pod
    can run on no other node (required node affinity to the pool, the pool's taint tolerated)."""
    gpu_node = kind.node_of_pool(GPU_POOL)
    allocatable = kind.kubectl.json("get", "node", gpu_node)["status"]["allocatable"]
    assert allocatable.get("nvidia.com/gpu") == "2", allocatable
    for i in range(3):
        created(_copy(gpu_test_pod, f"test-gpu-{i}"))
    placed = [_decided(kind, gpu_namespace, f"test-gpu-{i}") for i in range(3)]
    on_gpu = [node for node, _ in placed if node]
    assert on_gpu == [gpu_node, gpu_node], placed
    node, cond = next((n, c) for n, c in placed if not n)
    assert cond["reason"] == "Unschedulable", cond
    assert "Insufficient nvidia.com/gpu" in cond["message"], cond["message"]
    # the other nodes were ruled out by placement, not by capacity
    assert "didn't match Pod's node affinity/selector" in cond["message"] or "untolerated taint" in cond["message"], \
        cond["message"]


def test_gpu_pod_without_toleration_stays_pending(kind: KindEnv, gpu_namespace: str, gpu_test_pod: dict,
                                                  created: Callable[[dict], dict]) -> None:
    """The same pod without ml-common's nvidia.com/gpu toleration: no node accepts it (the GPU worker's taint),
    and it stays Pending."""
    created(_copy(gpu_test_pod, "test-gpu-untolerated", drop_tolerations=True))
    node, cond = _decided(kind, gpu_namespace, "test-gpu-untolerated")
    assert node is None
    assert cond["reason"] == "Unschedulable", cond
    # Kubernetes 1.34 counts taints without naming them: the GPU worker is the one node the pool affinity
    # matches, so it is among the tainted ones, and its taint is the GPU pool's.
    assert "untolerated taint" in cond["message"], cond["message"]
    assert f"{len(kind.nodes) - 1} node(s) had untolerated taint" in cond["message"], cond["message"]
    taints = kind.kubectl.json("get", "node", kind.node_of_pool(GPU_POOL))["spec"]["taints"]
    assert {"key": "nvidia.com/gpu", "effect": "NoSchedule"} in [{k: t[k] for k in ("key", "effect")} for t in taints]
    pod = kind.kubectl.json("get", "pod", "test-gpu-untolerated", "-n", gpu_namespace)
    assert pod["status"]["phase"] == "Pending"


def test_gpu_llm_scenario_lands_on_the_gpu_worker(kind: KindEnv, helm_cli: Helm, seldon_operator: str,
                                                  make_namespace: Callable[..., str]) -> None:
    """values/seldon-model/gpu-llm.yaml through the operator: its model pod requests nvidia.com/gpu, tolerates
    the pool's taint and is scheduled onto the GPU worker (the only node its pool affinity matches)."""
    namespace = make_namespace("kind-gpu-llm")
    values = yaml.safe_load((VALUES / "seldon-model" / "gpu-llm.yaml").read_text())
    values["predictors"][0]["components"]["llm"]["gpu"]["pool"]["name"] = GPU_POOL
    sdep = install_model(kind, helm_cli, namespace, "llm", values)
    try:
        def scheduled() -> dict | None:
            pods = kind.kubectl.json("get", "pods", "-n", namespace, "-l",
                                     f"seldon-deployment-id={sdep['metadata']['name']}")["items"]
            return pods[0] if pods and pods[0]["spec"].get("nodeName") else None
        pod = wait_until(scheduled, 240, f"the operator's pod for {sdep['metadata']['name']} to be scheduled")
        llm = next(c for c in pod["spec"]["containers"] if c["name"] == "llm")
        assert llm["resources"]["limits"]["nvidia.com/gpu"] == llm["resources"]["requests"]["nvidia.com/gpu"] == "1", llm
        assert any(t["key"] == "nvidia.com/gpu" and t["effect"] == "NoSchedule" for t in pod["spec"]["tolerations"])
        assert pod["spec"]["nodeName"] == kind.node_of_pool(GPU_POOL), (pod["spec"]["nodeName"], kind.nodes)
        print(f"{pod['metadata']['name']}: on {pod['spec']['nodeName']} ({GPU_POOL}), llm limits "
              f"{llm['resources']['limits']}")
    finally:
        helm_cli.uninstall("llm", namespace, wait=False, check=False)
