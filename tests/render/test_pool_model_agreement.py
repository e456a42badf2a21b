"""One pool identity: a GPU or accelerator workload rendered through ml-common (tests/charts/ml-common-probe,
and charts/seldon-model when present) is admitted by the nodes of its pool, for every provider and every
accelerator kind (NVIDIA, GKE TPU, AWS Neuron, AMD), and by no other pool (CPU pools and pools of other
kinds or TPU topologies included).

Each provider's nodes are modelled from what the chart renders, the way that provider builds them:
kwok Nodes as they are; Karpenter nodes from the NodePool (template labels, single-value `In`
requirements, taints, GPU count requirement) plus the device plugin config the node label selects;
GKE nodes from the ComputeClass (GKE's own compute-class label and taints, GPU or TPU taint and TPU
labels, nodeLabels);
Cluster API nodes from the cluster-autoscaler capacity annotations (what it scales up from zero).
The admission check is a small subset of the scheduler: required node affinity, nodeSelector,
NoSchedule/NoExecute taints, and resource requests against allocatable.
"""
from __future__ import annotations

from typing import Any

import pytest
import yaml

from harness import CHARTS, VALUES, find, find_all, pod_specs, render
from harness.admission import NodeModel, admission_problems

pytestmark = pytest.mark.render

CHART = "gpu-node-pool"
POOL_LABEL = "ml-serving-charts.io/pool"
SCENARIOS = ["eks", "aks", "gke", "capi", "simulated", "time-slicing", "mig"]
# Pools of the other accelerator kinds (values/gpu-node-pool/): each has a CPU pool and accelerator pools.
ACCELERATOR_SCENARIOS = ["tpu-gke", "neuron-eks", "amd-eks", "amd-capi", "simulated-accelerators"]
# What a node of each non-NVIDIA kind advertises, per device Karpenter counts (the kinds' device plugins).
NEURON_CORES_PER_DEVICE = 2
Obj = dict[str, Any]


# ------------------------------------------------------------------ node models per provider

def _device_plugin_resources(objs: list[Obj], config_name: str, gpus: int) -> dict[str, int]:
    """What the device plugin advertises on a node with `gpus` whole GPUs and the named config."""
    configs = find(objs, "ConfigMap", "test-gpu-node-pool-device-plugin-configs")["data"]
    config = yaml.safe_load(configs[config_name])
    assert config["flags"]["migStrategy"] == "none", "MIG layouts on cloud nodes come from mig-manager: not modelled"
    sharing = config.get("sharing") or {}
    share = sharing.get("timeSlicing") or sharing.get("mps")
    if not share:
        return {"nvidia.com/gpu": gpus}
    (resource,) = share["resources"]
    name = resource["name"] + (".shared" if share.get("renameByDefault") else "")
    return {name: gpus * resource["replicas"]}


def karpenter_nodes(objs: list[Obj]) -> list[NodeModel]:
    nodes = []
    for pool in find_all(objs, "NodePool"):
        tpl = pool["spec"]["template"]
        labels = dict(tpl["metadata"].get("labels") or {})
        for req in tpl["spec"]["requirements"]:
            if req["operator"] == "In" and len(req["values"]) == 1:
                labels.setdefault(req["key"], req["values"][0])
        gpu_keys = ("karpenter.k8s.aws/instance-gpu-count", "karpenter.azure.com/sku-gpu-count")
        gpus = next((int(labels[k]) for k in gpu_keys if k in labels), 0)
        allocatable: dict[str, Any] = {"cpu": "4", "memory": "16Gi", "pods": "110"}
        taints = tpl["spec"].get("taints") or []
        if labels.get("karpenter.k8s.aws/instance-gpu-manufacturer") == "amd":
            allocatable["amd.com/gpu"] = gpus   # AMD's device plugin
        elif gpus:
            allocatable.update(_device_plugin_resources(objs, labels["nvidia.com/device-plugin.config"], gpus))
        if labels.get("karpenter.k8s.aws/instance-accelerator-manufacturer") == "aws":   # Inferentia, Trainium
            devices = int(labels["karpenter.k8s.aws/instance-accelerator-count"])
            allocatable.update({"aws.amazon.com/neuron": devices, "aws.amazon.com/neuroncore": devices * NEURON_CORES_PER_DEVICE})
        nodes.append(NodeModel(labels[POOL_LABEL], labels, taints, allocatable, f"NodePool/{pool['metadata']['name']}"))
    return nodes


def gke_nodes(objs: list[Obj]) -> list[NodeModel]:
    nodes = []
    for cc in find_all(objs, "ComputeClass"):
        name, spec = cc["metadata"]["name"], cc["spec"]
        labels = {"cloud.google.com/compute-class": name, **(spec.get("nodePoolConfig") or {}).get("nodeLabels", {})}
        base_taints = list((spec.get("nodePoolConfig") or {}).get("taints") or [])
        if (spec.get("nodePoolAutoCreation") or {}).get("enabled"):
            base_taints.append({"key": "cloud.google.com/compute-class", "value": name, "effect": "NoSchedule"})
        for i, rule in enumerate(spec["priorities"]):
            taints, allocatable = list(base_taints), {"cpu": "4", "memory": "16Gi", "pods": "110"}
            node_labels = dict(labels)
            if "gpu" in rule:  # GKE taints GPU nodes itself and runs its own device plugin
                taints.append({"key": "nvidia.com/gpu", "value": "present", "effect": "NoSchedule"})
                allocatable["nvidia.com/gpu"] = rule["gpu"]["count"]
            if "tpu" in rule:  # GKE labels TPU nodes with their type and topology and taints them
                taints.append({"key": "google.com/tpu", "value": "present", "effect": "NoSchedule"})
                allocatable["google.com/tpu"] = rule["tpu"]["count"]
                node_labels.update({"cloud.google.com/gke-tpu-accelerator": rule["tpu"]["type"],
                                    "cloud.google.com/gke-tpu-topology": rule["tpu"]["topology"]})
            nodes.append(NodeModel(labels.get(POOL_LABEL, name), node_labels, taints, allocatable, f"ComputeClass/{name} priority {i}"))
    return nodes


def _parse_taint(text: str) -> Obj:
    key_value, effect = text.split(":")
    key, _, value = key_value.partition("=")
    return {"key": key, "value": value, "effect": effect} if value else {"key": key, "effect": effect}


def capi_nodes(objs: list[Obj]) -> list[NodeModel]:
    """The node template the cluster autoscaler builds for scale-from-zero."""
    nodes = []
    prefix = "capacity.cluster-autoscaler.kubernetes.io/"
    for md in find_all(objs, "MachineDeployment"):
        ann = md["metadata"]["annotations"]
        labels = dict(pair.split("=", 1) for pair in ann[prefix + "labels"].split(","))
        taints = [_parse_taint(t) for t in ann.get(prefix + "taints", "").split(",") if t]
        allocatable: dict[str, Any] = {"cpu": ann[prefix + "cpu"], "memory": ann[prefix + "memory"], "pods": ann[prefix + "maxPods"]}
        if prefix + "gpu-type" in ann:
            allocatable[ann[prefix + "gpu-type"]] = ann[prefix + "gpu-count"]
        nodes.append(NodeModel(labels[POOL_LABEL], labels, taints, allocatable, f"MachineDeployment/{md['metadata']['name']}"))
    return nodes


def simulated_nodes(objs: list[Obj]) -> list[NodeModel]:
    return [NodeModel(n["metadata"]["labels"][POOL_LABEL], n["metadata"]["labels"], n["spec"].get("taints") or [],
                      n["status"]["allocatable"], f"Node/{n['metadata']['name']}") for n in find_all(objs, "Node")]


def node_models(objs: list[Obj]) -> list[NodeModel]:
    nodes = karpenter_nodes(objs) + gke_nodes(objs) + capi_nodes(objs) + simulated_nodes(objs)
    assert nodes, "the scenario renders no pool"
    return nodes


def catalog(objs: list[Obj]) -> list[Obj]:
    return yaml.safe_load(find(objs, "ConfigMap", "test-gpu-node-pool-pools")["data"]["pools.yaml"])


def scenario_objs(scenario: str) -> list[Obj]:
    return render(CHART, values_files=[VALUES / CHART / f"{scenario}.yaml"])


def probe_pod(gpu: Obj, helm: str = "helm4", accelerator: Obj | None = None) -> Obj:
    values = {"gpu": gpu, "accelerator": accelerator or {}}
    return find(render("ml-common-probe", values, helm=helm), "Deployment")["spec"]["template"]["spec"]


def workload_pod(entry: Obj, helm: str = "helm4") -> Obj:
    """The pod a workload gets from a catalog entry's `gpu:` or `accelerator:` block."""
    return probe_pod(entry.get("workloadGpu") or {}, helm, entry.get("workloadAccelerator"))


def assert_lands_only_on(spec: Obj, pool: str, nodes: list[NodeModel], what: str) -> None:
    own = [n for n in nodes if n.pool == pool]
    assert own, f"{what}: no node of pool {pool}"
    for node in own:
        assert not admission_problems(spec, node), f"{what} is refused by {node.source}: {admission_problems(spec, node)}"
    for node in nodes:
        if node.pool != pool:
            assert admission_problems(spec, node), f"{what} would also land on {node.source} (pool {node.pool})"


# ------------------------------------------------------------------ tests

@pytest.mark.parametrize("scenario", SCENARIOS)
def test_every_scenario_has_gpu_and_cpu_pools(scenario: str) -> None:
    entries = catalog(scenario_objs(scenario))
    assert any(e["gpu"] for e in entries) and any(not e["gpu"] for e in entries), f"{scenario}: needs a GPU and a CPU pool"


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_gpu_workload_lands_on_its_pool_only(scenario: str, helm: str) -> None:
    objs = scenario_objs(scenario)
    nodes = node_models(objs)
    for entry in (e for e in catalog(objs) if e["gpu"]):
        spec = probe_pod(entry["workloadGpu"], helm)
        assert_lands_only_on(spec, entry["name"], nodes, f"{scenario}: workload for {entry['name']}")


@pytest.mark.parametrize("scenario", ["eks", "aks", "capi", "simulated", "time-slicing"])
def test_default_gpu_block_is_enough_outside_gke(scenario: str) -> None:
    """The plain `gpu: {count, pool: {name}}` of the brief works unchanged on every provider but GKE."""
    objs = scenario_objs(scenario)
    nodes = node_models(objs)
    for entry in (e for e in catalog(objs) if e["gpu"]):
        assert entry["workloadGpu"] == {"count": 1, "pool": {"name": entry["name"]}}
        assert_lands_only_on(probe_pod({"count": 1, "pool": {"name": entry["name"]}}), entry["name"], nodes, entry["name"])


def test_gke_workloads_select_the_compute_class() -> None:
    """GKE scales a ComputeClass up only for pods that select cloud.google.com/compute-class."""
    objs = scenario_objs("gke")
    (entry,) = [e for e in catalog(objs) if e["gpu"]]
    assert entry["workloadGpu"]["pool"]["labelKey"] == "cloud.google.com/compute-class"
    spec = probe_pod(entry["workloadGpu"])
    terms = spec["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]["nodeSelectorTerms"]
    assert terms == [{"matchExpressions": [{"key": "cloud.google.com/compute-class", "operator": "In", "values": [entry["name"]]}]}]
    # The default block (our pool label only) would not make GKE scale up: every GKE node model has the
    # class label, and a node that GKE auto-creates is tainted with it.
    default = probe_pod({"count": 1, "pool": {"name": entry["name"]}})
    assert all(admission_problems(default, n) for n in gke_nodes(objs) if n.pool == entry["name"])


def test_workload_asking_too_much_or_wrong_resource_is_refused() -> None:
    """The checker is not a rubber stamp: more GPUs than a node has, or MIG slices on a whole-GPU pool, do not fit."""
    nodes = node_models(scenario_objs("simulated"))
    l4 = [n for n in nodes if n.pool == "gpu-l4"]
    too_many = probe_pod({"count": 3, "pool": {"name": "gpu-l4"}})
    assert all(any("nvidia.com/gpu" in p for p in admission_problems(too_many, n)) for n in l4)
    mig = probe_pod({"count": 1, "migProfile": "1g.5gb", "pool": {"name": "gpu-a100"}})
    assert all(admission_problems(mig, n) for n in nodes if n.pool == "gpu-a100")
    no_toleration = probe_pod({"count": 1, "pool": {"name": "gpu-l4", "taints": [{"key": "other", "effect": "NoSchedule"}]}})
    assert all(any("untolerated" in p for p in admission_problems(no_toleration, n)) for n in l4)


def test_time_sliced_pool_offers_replicas_and_whole_pool_does_not() -> None:
    objs = scenario_objs("time-slicing")
    by_pool = {n.pool: n for n in karpenter_nodes(objs)}
    assert by_pool["gpu-l4-shared"].allocatable["nvidia.com/gpu"] == 4
    assert by_pool["gpu-l4"].allocatable["nvidia.com/gpu"] == 4
    four = probe_pod({"count": 4, "pool": {"name": "gpu-l4-shared"}})
    assert not admission_problems(four, by_pool["gpu-l4-shared"])


@pytest.mark.parametrize("scenario", [s for s in SCENARIOS if "headroom" in (yaml.safe_load((VALUES / CHART / f"{s}.yaml").read_text()) or {})])
def test_headroom_placeholders_land_on_their_pool(scenario: str) -> None:
    objs = scenario_objs(scenario)
    nodes = node_models(objs)
    placeholders = [(o, s) for o, s in pod_specs(objs) if o["metadata"]["name"].startswith("test-gpu-node-pool-headroom-")]
    assert placeholders
    for owner, spec in placeholders:
        pool = owner["metadata"]["name"].removeprefix("test-gpu-node-pool-headroom-")
        assert spec["priorityClassName"] == "ml-headroom"
        assert_lands_only_on(spec, pool, nodes, f"{scenario}: {owner['metadata']['name']}")


@pytest.mark.parametrize("scenario", ["eks", "aks", "capi", "time-slicing"])
def test_device_plugin_and_dcgm_run_on_every_gpu_node_and_no_cpu_node(scenario: str) -> None:
    objs = scenario_objs(scenario)
    daemons = [(o, s) for o, s in pod_specs(objs) if o["kind"] == "DaemonSet"]
    assert {o["metadata"]["name"] for o, _ in daemons} == {"test-gpu-node-pool-device-plugin", "test-gpu-node-pool-dcgm-exporter"}
    for node in node_models(objs):
        is_gpu = node.labels.get("nvidia.com/gpu.present") == "true"
        for owner, spec in daemons:
            fits = not admission_problems(spec, node, check_resources=False)
            assert fits == is_gpu, f"{owner['metadata']['name']} on {node.source}: fits={fits}, GPU node={is_gpu}"


SELDON_GPU_LLM = VALUES / "seldon-model" / "gpu-llm.yaml"


@pytest.mark.skipif(not ((CHARTS / "seldon-model" / "Chart.yaml").exists() and SELDON_GPU_LLM.exists()),
                    reason="charts/seldon-model with values/seldon-model/gpu-llm.yaml not there yet")
def test_seldon_gpu_llm_lands_on_a_simulated_pool() -> None:
    """The seldon-model chart's GPU scenario, against the simulated pools (the kwok tier's cluster)."""
    nodes = node_models(scenario_objs("simulated"))
    gpu_pods = [(o, s) for o, s in pod_specs(render("seldon-model", values_files=[SELDON_GPU_LLM]))
                if any(k.startswith("nvidia.com/") for c in s.get("containers", []) for k in ((c.get("resources") or {}).get("limits") or {}))]
    assert gpu_pods, "gpu-llm.yaml renders no pod that asks for a GPU"
    for owner, spec in gpu_pods:
        pools = {n.pool for n in nodes if not admission_problems(spec, n)}
        assert len(pools) == 1, f"{owner['kind']}/{owner['metadata']['name']} fits pools {sorted(pools)}: want exactly one GPU pool"
        assert pools <= {"gpu-a100", "gpu-l4"}


# ------------------------------------------------------------------ every accelerator kind


@pytest.mark.parametrize("scenario", ACCELERATOR_SCENARIOS)
def test_every_accelerator_scenario_has_accelerator_and_cpu_pools(scenario: str) -> None:
    entries = catalog(scenario_objs(scenario))
    kinds = {e["accelerator"] for e in entries}
    assert kinds - {"none", "nvidia"}, f"{scenario}: no TPU, Neuron or AMD pool"
    assert "none" in kinds or scenario == "simulated-accelerators", f"{scenario}: needs a CPU pool"


@pytest.mark.parametrize("scenario", ACCELERATOR_SCENARIOS)
def test_accelerator_workload_lands_on_its_pool_only(scenario: str, helm: str) -> None:
    objs = scenario_objs(scenario)
    nodes = node_models(objs)
    for entry in (e for e in catalog(objs) if e["accelerator"] != "none"):
        assert_lands_only_on(workload_pod(entry, helm), entry["name"], nodes, f"{scenario}: workload for {entry['name']}")


def test_every_kind_lands_only_on_its_own_kind_beside_the_others() -> None:
    """The kwok tier's nodes: the NVIDIA pools of simulated.yaml and the TPU, Neuron and AMD pools of
    simulated-accelerators.yaml in one cluster. Every pool's workload fits its own pool and no other: not
    another kind's, not a TPU pool of another topology, not a CPU pool."""
    objs = scenario_objs("simulated") + scenario_objs("simulated-accelerators")
    nodes = node_models(objs)
    entries = [e for e in catalog(scenario_objs("simulated")) + catalog(scenario_objs("simulated-accelerators"))
               if e["accelerator"] != "none"]
    assert {e["accelerator"] for e in entries} == {"nvidia", "tpu", "neuron", "amd"}
    for entry in entries:
        assert_lands_only_on(workload_pod(entry), entry["name"], nodes, f"workload for {entry['name']} ({entry['accelerator']})")


@pytest.mark.parametrize(("accelerator", "why"), [
    ({"kind": "tpu", "tpu": {"type": "tpu-v5-lite-podslice", "topology": "1x1"}, "anyPool": True}, "no pool of topology 1x1"),
    ({"kind": "tpu", "tpu": {"type": "tpu-v6e-slice", "topology": "2x2"}, "anyPool": True}, "no v6e pool"),
    ({"kind": "neuron", "count": 7, "pool": {"name": "neuron-inf2"}}, "7 of 6 Neuron devices"),
    ({"kind": "amd", "count": 9, "pool": {"name": "amd-mi300x"}}, "9 of 8 AMD GPUs"),
    ({"kind": "neuron", "pool": {"name": "amd-mi300x"}}, "a Neuron request on the AMD pool"),
    ({"kind": "amd", "pool": {"name": "tpu-v5e-2x2"}}, "an AMD request on a TPU pool"),
], ids=["tpu-topology", "tpu-type", "neuron-count", "amd-count", "neuron-on-amd", "amd-on-tpu"])
def test_accelerator_workload_without_a_fitting_pool_fits_nowhere(accelerator: Obj, why: str) -> None:
    """The checker is not a rubber stamp for the new kinds either."""
    nodes = node_models(scenario_objs("simulated") + scenario_objs("simulated-accelerators"))
    spec = probe_pod({}, accelerator=accelerator)
    assert all(admission_problems(spec, n) for n in nodes), f"{why}: fits {[n.source for n in nodes if not admission_problems(spec, n)]}"
