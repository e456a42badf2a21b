"""TPU, Neuron and AMD placement with the real kube-scheduler: a second gpu-node-pool release with
values/gpu-node-pool/simulated-accelerators.yaml adds fake GKE TPU v5e hosts of two topologies (2x2: 2 nodes x
4 chips, 2x4: 1 node x 8 chips), an Inferentia2 node (6 Neuron devices, 12 NeuronCores) and an AMD MI300X node
(8 GPUs) beside the session's NVIDIA and CPU pools. Every pod is rendered by our charts through ml-common's
`accelerator:` block (the ml-common-probe test chart, and the gpu-llm model's componentSpec run as a
Deployment), in a restricted model namespace: each lands only on nodes of its own kind and topology, and a
pod whose pool or topology no node has stays Pending with the scheduler's reason."""
from __future__ import annotations

import copy
from typing import Any, Callable, Iterator

import pykube
import pytest
import yaml
from pytest_helm_charts.k8s.deployment import wait_for_deployments_to_run
from pytest_helm_charts.utils import wait_for_objects_condition

from harness import VALUES, find
from harness.cluster import TEST_NAMESPACE_LABEL, Helm, wait_until
from kwok_support import POOL_LABEL, KwokEnv, coexistence_values, events, model_deployment, pods

pytestmark = pytest.mark.cluster_kwok

Obj = dict[str, Any]
POOLS_VALUES = VALUES / "gpu-node-pool" / "simulated-accelerators.yaml"
RELEASE = "accel"
TPU_TYPE, TPU_TOPOLOGY = "cloud.google.com/gke-tpu-accelerator", "cloud.google.com/gke-tpu-topology"
GPU_LLM = yaml.safe_load((VALUES / "seldon-model" / "gpu-llm.yaml").read_text())


def _ready(node: pykube.Node) -> bool:
    return any(c["type"] == "Ready" and c["status"] == "True" for c in node.obj.get("status", {}).get("conditions", []))


@pytest.fixture(scope="module")
def catalog(kwok: KwokEnv, helms: dict[str, Helm]) -> Iterator[dict[str, Obj]]:
    """The accelerator pools installed for this module (node names prefixed with the release, so they never
    meet another release's); yields the release's pool catalog by pool name. Uninstalled, nodes and all, after."""
    helm = helms["helm4"]
    ns = f"accel-pools-{kwok.token}"
    pykube.Namespace(kwok.api, {"apiVersion": "v1", "kind": "Namespace",
                                "metadata": {"name": ns, "labels": {TEST_NAMESPACE_LABEL: "cluster-kwok"}}}).create()
    try:
        helm.install(RELEASE, "gpu-node-pool", ns, values=coexistence_values("gpu-node-pool", POOLS_VALUES, RELEASE),
                     values_files=[POOLS_VALUES], wait=True)
        manifest = helm.manifest(RELEASE, ns)
        nodes = [o["metadata"]["name"] for o in manifest if o["kind"] == "Node"]
        wait_for_objects_condition(kwok.api, pykube.Node, nodes, None, _ready, timeout_sec=60, missing_ok=False)
        entries = yaml.safe_load(find(manifest, "ConfigMap", f"{RELEASE}-gpu-node-pool-pools")["data"]["pools.yaml"])
        yield {e["name"]: e for e in entries}
    finally:
        helm.uninstall(RELEASE, ns, wait=True, check=False)
        kwok.kubectl("delete", "namespace", ns, "--wait=false", check=False)


@pytest.fixture
def models(namespace: Callable[..., str], restricted_labels: dict[str, str]) -> str:
    return namespace("accel-models", restricted_labels)


def node_labels(kwok: KwokEnv, pod: pykube.Pod) -> dict[str, str]:
    return pykube.Node.objects(kwok.api).get(name=pod.obj["spec"]["nodeName"]).labels


def placed(kwok: KwokEnv, namespace: str, selector: dict[str, str], count: int) -> list[dict[str, str]]:
    """The labels of the nodes the `count` running pods of `selector` are bound to."""
    running = wait_until(lambda: [p for p in pods(kwok.api, namespace, selector) if p.obj["status"].get("phase") == "Running"]
                         if len(pods(kwok.api, namespace, selector)) >= count else [], 90, f"{count} running pods of {selector}")
    return [node_labels(kwok, p) for p in running]


def llm_with(accelerator: Obj) -> Obj:
    """values/seldon-model/gpu-llm.yaml with its model asking for `accelerator` instead of an NVIDIA GPU."""
    values = copy.deepcopy(GPU_LLM)
    component = values["predictors"][0]["components"]["llm"]
    component.pop("gpu")
    component["accelerator"] = accelerator
    return values


def pending_reason(kwok: KwokEnv, namespace: str, release: str) -> str:
    (pod,) = wait_until(lambda: pods(kwok.api, namespace, {"app.kubernetes.io/instance": release}), 30, f"the {release} pod")
    (event,) = wait_until(lambda: events(kwok.api, namespace, pod.name, "FailedScheduling")[:1], 60,
                          f"a FailedScheduling event for {pod.name}")
    pod.reload()
    assert pod.obj["status"]["phase"] == "Pending" and not pod.obj["spec"].get("nodeName"), pod.obj["status"]
    return event.obj["message"]


def test_every_kind_lands_on_its_own_pool_and_topology(kwok: KwokEnv, helms: dict[str, Helm], catalog: dict[str, Obj],
                                                      models: str) -> None:
    """Each pool's own `accelerator:` block from the catalog (one probe pod per pool, two for the two 2x2 hosts),
    an NVIDIA probe through `accelerator: {kind: nvidia}`, and the gpu-llm model on the v5e 2x4 host (all its 8
    chips, so no probe there) and twice on Inferentia2: all on nodes of their pool, kind and topology only."""
    helm = helms["helm4"]
    expected: dict[str, tuple[str, int]] = {}   # release -> (pool, pods)
    for pool, entry in catalog.items():
        if pool == "tpu-v5e-2x4":
            continue
        release = f"probe-{pool}"
        replicas = 2 if pool == "tpu-v5e-2x2" else 1
        helm.install(release, "ml-common-probe", models, values={"accelerator": entry["workloadAccelerator"],
                                                                 "replicaCount": replicas})
        expected[release] = (pool, replicas)
    helm.install("probe-nvidia", "ml-common-probe", models, values={"accelerator": {"kind": "nvidia", "pool": {"name": "gpu-l4"}}})
    expected["probe-nvidia"] = ("gpu-l4", 1)
    tpu_model = model_deployment(llm_with(catalog["tpu-v5e-2x4"]["workloadAccelerator"]), "llm-tpu", models, 1)
    neuron_model = model_deployment(llm_with({"kind": "neuron", "count": 2, "pool": {"name": "neuron-inf2"}}), "llm-inf2", models, 2)
    for deployment in (tpu_model, neuron_model):
        kwok.kubectl.apply([deployment], force_conflicts=False)
    wait_for_deployments_to_run(kwok.api, ["llm-tpu", "llm-inf2"], models, timeout_sec=90)

    for release, (pool, replicas) in expected.items():
        labels = placed(kwok, models, {"app.kubernetes.io/instance": release}, replicas)
        assert [lb[POOL_LABEL] for lb in labels] == [pool] * replicas, (release, labels)
        if pool.startswith("tpu-"):
            assert {(lb[TPU_TYPE], lb[TPU_TOPOLOGY]) for lb in labels} == {("tpu-v5-lite-podslice", pool.rsplit("-", 1)[1])}
    # A whole 2x2 host per pod: the two pods took the two hosts.
    assert len({lb["kubernetes.io/hostname"] for lb in placed(kwok, models, {"app.kubernetes.io/instance": "probe-tpu-v5e-2x2"}, 2)}) == 2
    tpu_pods = placed(kwok, models, tpu_model["spec"]["selector"]["matchLabels"], 1)
    assert [(lb[POOL_LABEL], lb[TPU_TOPOLOGY]) for lb in tpu_pods] == [("tpu-v5e-2x4", "2x4")]
    neuron_pods = placed(kwok, models, neuron_model["spec"]["selector"]["matchLabels"], 2)
    assert [lb[POOL_LABEL] for lb in neuron_pods] == ["neuron-inf2"] * 2, "two models of 2 Neuron devices and a probe share 6 devices"
    for release in expected:
        helm.uninstall(release, models, wait=False)
    kwok.kubectl("delete", "deployment", "llm-tpu", "llm-inf2", "-n", models, "--wait=false")


@pytest.mark.parametrize(("accelerator", "reason"), [
    ({"kind": "tpu", "tpu": {"type": "tpu-v5-lite-podslice", "topology": "1x1"}, "anyPool": True},
     "node(s) didn't match Pod's node affinity/selector"),
    ({"kind": "tpu", "tpu": {"type": "tpu-v6e-slice", "topology": "2x2"}, "pool": {"name": "tpu-v5e-2x2"}},
     "node(s) didn't match Pod's node affinity/selector"),
    ({"kind": "neuron", "count": 7, "pool": {"name": "neuron-inf2"}}, "Insufficient aws.amazon.com/neuron"),
    ({"kind": "neuron", "pool": {"name": "amd-mi300x"}}, "node(s) had untolerated taint"),
], ids=["tpu-topology-without-pool", "tpu-type-of-another-pool", "more-neuron-than-a-node", "neuron-on-the-amd-pool"])
def test_pod_without_a_fitting_pool_stays_pending(kwok: KwokEnv, helms: dict[str, Helm], catalog: dict[str, Obj],
                                                  models: str, accelerator: Obj, reason: str) -> None:
    """A v5e 1x1 host (no pool has that topology), a v6e slice pointed at a v5e pool, 7 Neuron devices on a
    6-device node, a Neuron request pointed at the AMD pool: Pending, and the scheduler says why."""
    helm = helms["helm4"]
    helm.install("stuck", "ml-common-probe", models, values={"accelerator": accelerator})
    try:
        message = pending_reason(kwok, models, "stuck")
        assert reason in message, message
        assert message.startswith("0/"), message   # no node at all: not one of another kind took it
        if accelerator["kind"] == "neuron" and accelerator["pool"]["name"] == "amd-mi300x":
            # The AMD node is the one the pool label matches; it refuses the pod by its amd.com/gpu taint.
            (amd,) = [n for n in pykube.Node.objects(kwok.api) if n.labels.get(POOL_LABEL) == "amd-mi300x"]
            assert [t["key"] for t in amd.obj["spec"]["taints"] if not t["key"].startswith("node.")] == ["amd.com/gpu"]
    finally:
        helm.uninstall("stuck", models, wait=False)
