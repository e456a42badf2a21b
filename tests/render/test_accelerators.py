"""Accelerators beyond NVIDIA, object by object: ml-common's `accelerator:` block (through the
tests/charts/ml-common-probe chart and charts/seldon-model), the TPU, Neuron and AMD pools of gpu-node-pool
for each provider that makes them, and every refusal with the value it names and the fix it gives.
Where a model lands among the pools is tests/render/test_pool_model_agreement.py's job."""
from __future__ import annotations

import subprocess
from typing import Any

import pytest
import yaml

from harness import HELMS, VALUES, RenderError, assert_valid, find, find_all, render, tool_env
from harness.paths import CHARTS

pytestmark = pytest.mark.render

Obj = dict[str, Any]
PROBE = "ml-common-probe"
POOLS = "gpu-node-pool"
POOL_LABEL = "ml-serving-charts.io/pool"
TPU_TYPE, TPU_TOPOLOGY = "cloud.google.com/gke-tpu-accelerator", "cloud.google.com/gke-tpu-topology"


def probe(accelerator: Obj, helm: str = "helm4", **values: Any) -> Obj:
    return find(render(PROBE, {"accelerator": accelerator, **values}, helm=helm), "Deployment")["spec"]["template"]["spec"]


def expressions(spec: Obj) -> list[Obj]:
    (term,) = spec["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]["nodeSelectorTerms"]
    return term["matchExpressions"]


def requirement(key: str, value: str) -> Obj:
    return {"key": key, "operator": "In", "values": [value]}


def scenario(name: str, helm: str = "helm4") -> list[Obj]:
    return render(POOLS, values_files=[VALUES / POOLS / f"{name}.yaml"], helm=helm)


# ------------------------------------------------------------------ ml-common: the accelerator block

# (accelerator block, resource, count the container asks for, toleration key, hardware labels required)
KINDS = {
    "tpu-v5e-2x4": ({"kind": "tpu", "tpu": {"type": "tpu-v5-lite-podslice", "topology": "2x4"}, "pool": {"name": "p"}},
                    "google.com/tpu", 8, "google.com/tpu", {TPU_TYPE: "tpu-v5-lite-podslice", TPU_TOPOLOGY: "2x4"}),
    "tpu-v5e-1x1": ({"kind": "tpu", "tpu": {"type": "tpu-v5-lite-podslice", "topology": "1x1"}, "pool": {"name": "p"}},
                    "google.com/tpu", 1, "google.com/tpu", {TPU_TYPE: "tpu-v5-lite-podslice", TPU_TOPOLOGY: "1x1"}),
    "tpu-v6e-2x2": ({"kind": "tpu", "count": 4, "tpu": {"type": "tpu-v6e-slice", "topology": "2x2"}, "pool": {"name": "p"}},
                    "google.com/tpu", 4, "google.com/tpu", {TPU_TYPE: "tpu-v6e-slice", TPU_TOPOLOGY: "2x2"}),
    "tpu-v5p-2x2x1": ({"kind": "tpu", "tpu": {"type": "tpu-v5p-slice", "topology": "2x2x1"}, "pool": {"name": "p"}},
                      "google.com/tpu", 4, "google.com/tpu", {TPU_TYPE: "tpu-v5p-slice", TPU_TOPOLOGY: "2x2x1"}),
    "tpu-v4-2x2x1": ({"kind": "tpu", "tpu": {"type": "tpu-v4-podslice", "topology": "2x2x1"}, "pool": {"name": "p"}},
                     "google.com/tpu", 4, "google.com/tpu", {TPU_TYPE: "tpu-v4-podslice", TPU_TOPOLOGY: "2x2x1"}),
    "neuron-devices": ({"kind": "neuron", "count": 2, "pool": {"name": "p"}}, "aws.amazon.com/neuron", 2, "aws.amazon.com/neuron", {}),
    "neuron-cores": ({"kind": "neuron", "count": 3, "resource": "aws.amazon.com/neuroncore", "pool": {"name": "p"}},
                     "aws.amazon.com/neuroncore", 3, "aws.amazon.com/neuron", {}),
    "amd": ({"kind": "amd", "pool": {"name": "p"}}, "amd.com/gpu", 1, "amd.com/gpu", {}),
    "nvidia": ({"kind": "nvidia", "count": 2, "pool": {"name": "p"}}, "nvidia.com/gpu", 2, "nvidia.com/gpu", {}),
    "nvidia-mig": ({"kind": "nvidia", "migProfile": "1g.5gb", "pool": {"name": "p"}}, "nvidia.com/mig-1g.5gb", 1, "nvidia.com/gpu", {}),
    "nvidia-shared": ({"kind": "nvidia", "resource": "nvidia.com/gpu.shared", "pool": {"name": "p"}}, "nvidia.com/gpu.shared", 1,
                      "nvidia.com/gpu", {}),
}


@pytest.mark.parametrize("case", sorted(KINDS))
def test_accelerator_block_gives_resources_toleration_and_affinity(case: str, helm: str) -> None:
    accelerator, resource, count, taint, hardware = KINDS[case]
    spec = probe(accelerator, helm)
    resources = spec["containers"][0]["resources"]
    assert resources["limits"][resource] == resources["requests"][resource] == count
    assert resources["limits"]["cpu"] == "200m", "existing resources are kept"
    assert spec["tolerations"] == [{"key": taint, "operator": "Exists", "effect": "NoSchedule"}]
    assert expressions(spec) == [requirement(POOL_LABEL, "p")] + [requirement(k, v) for k, v in hardware.items()]


def test_accelerator_kind_nvidia_renders_what_the_gpu_block_does(helm: str) -> None:
    gpu = {"count": 2, "migProfile": "2g.10gb", "pool": {"name": "a100", "nodeSelector": {"nvidia.com/gpu.product": "A100"}}}
    assert probe({"kind": "nvidia", **gpu}, helm) == probe({}, helm, gpu=gpu)


def test_tpu_any_pool_keeps_the_type_and_topology() -> None:
    spec = probe({"kind": "tpu", "tpu": {"type": "tpu-v6e-slice", "topology": "2x4"}, "anyPool": True})
    assert expressions(spec) == [requirement(TPU_TYPE, "tpu-v6e-slice"), requirement(TPU_TOPOLOGY, "2x4")]
    assert spec["containers"][0]["resources"]["limits"]["google.com/tpu"] == 8


def test_pool_taints_and_node_selector_of_the_same_kind_are_kept() -> None:
    spec = probe({"kind": "amd", "pool": {"name": "mi300", "nodeSelector": {"amd.com/gpu.family": "AI"},
                                          "taints": [{"key": "amd.com/gpu", "effect": "NoSchedule"}, {"key": "dedicated", "effect": "NoExecute"}]}})
    assert spec["tolerations"] == [{"key": "amd.com/gpu", "operator": "Exists", "effect": "NoSchedule"},
                                   {"key": "dedicated", "operator": "Exists", "effect": "NoExecute"}]
    assert expressions(spec) == [requirement(POOL_LABEL, "mi300"), requirement("amd.com/gpu.family", "AI")]


@pytest.mark.schema
def test_accelerator_pods_are_valid_kubernetes() -> None:
    for accelerator, *_ in KINDS.values():
        assert_valid(render(PROBE, {"accelerator": accelerator}))


# Every refusal of ml-common.accelerator.placement: (values of the probe chart, message).
PLACEMENT_REFUSALS = {
    "no-kind": ({"accelerator": {"count": 1}}, "accelerator.kind is empty: set it to amd, neuron, nvidia, tpu"),
    "unknown-kind": ({"accelerator": {"kind": "gaudi"}}, 'accelerator.kind is "gaudi": use one of amd, neuron, nvidia, tpu'),
    "gpu-and-accelerator": ({"gpu": {"count": 1, "pool": {"name": "p"}}, "accelerator": {"kind": "amd", "pool": {"name": "p"}}},
                            "gpu.count is 1 and accelerator.kind is amd: a container asks for one kind of accelerator"),
    "no-pool": ({"accelerator": {"kind": "neuron"}},
                "accelerator.pool.name is empty: set it to the neuron pool the pods must run on"),
    "zero-count": ({"accelerator": {"kind": "amd", "count": 0, "pool": {"name": "p"}}}, "accelerator.count is 0: ask for 1 or more"),
    "mig-off-nvidia": ({"accelerator": {"kind": "amd", "migProfile": "1g.5gb", "pool": {"name": "p"}}},
                       "accelerator.migProfile is set but accelerator.kind is amd: MIG slices are NVIDIA's"),
    "mig-and-resource": ({"accelerator": {"kind": "nvidia", "migProfile": "1g.5gb", "resource": "nvidia.com/gpu.shared", "pool": {"name": "p"}}},
                         "accelerator sets both migProfile (1g.5gb) and resource (nvidia.com/gpu.shared): keep one"),
    "tpu-block-off-tpu": ({"accelerator": {"kind": "neuron", "tpu": {"type": "tpu-v6e-slice", "topology": "2x2"}, "pool": {"name": "p"}}},
                          "accelerator.tpu is set but accelerator.kind is neuron"),
    "resource-of-another-kind": ({"accelerator": {"kind": "neuron", "resource": "amd.com/gpu", "pool": {"name": "p"}}},
                                 "accelerator.resource is amd.com/gpu, which no neuron pool advertises (its resources start with aws.amazon.com/neuron)"),
    "taint-of-another-kind": ({"accelerator": {"kind": "amd", "pool": {"name": "p", "taints": [{"key": "aws.amazon.com/neuron"}]}}},
                              "accelerator.pool.taints has aws.amazon.com/neuron, a key of neuron pools, but accelerator.kind is amd: "
                              "a request for amd cannot land on a pool of another kind"),
    "label-of-another-kind": ({"accelerator": {"kind": "neuron", "pool": {"name": "p", "nodeSelector": {TPU_TOPOLOGY: "2x2"}}}},
                              f"accelerator.pool.nodeSelector has {TPU_TOPOLOGY}, a key of tpu pools, but accelerator.kind is neuron"),
    "nvidia-label-on-tpu": ({"accelerator": {"kind": "tpu", "tpu": {"type": "tpu-v6e-slice", "topology": "2x2"},
                                             "pool": {"name": "p", "nodeSelector": {"nvidia.com/gpu.product": "L4"}}}},
                            "accelerator.pool.nodeSelector has nvidia.com/gpu.product, a key of nvidia pools, but accelerator.kind is tpu"),
    "tpu-without-type": ({"accelerator": {"kind": "tpu", "pool": {"name": "p"}}},
                         "accelerator.tpu.type is empty: set the GKE TPU type (node label cloud.google.com/gke-tpu-accelerator)"),
    "tpu-unknown-type": ({"accelerator": {"kind": "tpu", "tpu": {"type": "tpu-v9", "topology": "2x2"}, "pool": {"name": "p"}}},
                         'accelerator.tpu.type is "tpu-v9": not a GKE TPU type this chart knows; use one of tpu-v4-podslice, '
                         "tpu-v5-lite-podslice, tpu-v5p-slice, tpu-v6e-slice"),
    "tpu-without-topology": ({"accelerator": {"kind": "tpu", "tpu": {"type": "tpu-v6e-slice"}, "pool": {"name": "p"}}},
                             "accelerator.tpu.topology is empty: set the slice topology (node label cloud.google.com/gke-tpu-topology), e.g. 2x2"),
    "tpu-3d-topology-on-2d-type": ({"accelerator": {"kind": "tpu", "tpu": {"type": "tpu-v5-lite-podslice", "topology": "2x2x1"}, "pool": {"name": "p"}}},
                                   'accelerator.tpu.topology is "2x2x1" but tpu-v5-lite-podslice (TPU v5e) topologies have 2 dimensions, like 2x2'),
    "tpu-2d-topology-on-3d-type": ({"accelerator": {"kind": "tpu", "tpu": {"type": "tpu-v5p-slice", "topology": "2x2"}, "pool": {"name": "p"}}},
                                   'accelerator.tpu.topology is "2x2" but tpu-v5p-slice (TPU v5p) topologies have 3 dimensions, like 2x2x1'),
    "tpu-topology-not-of-type": ({"accelerator": {"kind": "tpu", "tpu": {"type": "tpu-v6e-slice", "topology": "2x3"}, "pool": {"name": "p"}}},
                                 'accelerator.tpu.topology is "2x3": not a topology of tpu-v6e-slice (TPU v6e); use one of 1x1, 2x2, 2x4, 4x4'),
    "tpu-topology-not-in-hosts": ({"accelerator": {"kind": "tpu", "tpu": {"type": "tpu-v4-podslice", "topology": "2x3x1"}, "pool": {"name": "p"}}},
                                  'accelerator.tpu.topology is "2x3x1": 6 chips do not split into hosts of 4 chips of tpu-v4-podslice'),
    "tpu-3d-one-host-misnamed": ({"accelerator": {"kind": "tpu", "tpu": {"type": "tpu-v5p-slice", "topology": "1x2x2"}, "pool": {"name": "p"}}},
                                 'accelerator.tpu.topology is "1x2x2": not a topology of tpu-v5p-slice (TPU v5p); one host is 2x2x1'),
    "tpu-multi-host": ({"accelerator": {"kind": "tpu", "tpu": {"type": "tpu-v5-lite-podslice", "topology": "4x4"}, "pool": {"name": "p"}}},
                       "accelerator.tpu.topology 4x4 of tpu-v5-lite-podslice is a multi-host slice (4 hosts of 4 chips): every host of a "
                       "slice must be scheduled as one group"),
    "tpu-multi-host-3d": ({"accelerator": {"kind": "tpu", "tpu": {"type": "tpu-v5p-slice", "topology": "2x2x2"}, "pool": {"name": "p"}}},
                          "accelerator.tpu.topology 2x2x2 of tpu-v5p-slice is a multi-host slice (2 hosts of 4 chips)"),
    "tpu-count-not-a-host": ({"accelerator": {"kind": "tpu", "count": 4, "tpu": {"type": "tpu-v5-lite-podslice", "topology": "2x4"}, "pool": {"name": "p"}}},
                             "accelerator.count is 4 but one tpu-v5-lite-podslice host of topology 2x4 has 8 chips, and GKE gives a TPU pod "
                             "every chip of its host: set accelerator.count to 8 or leave it out"),
}


@pytest.mark.parametrize("case", sorted(PLACEMENT_REFUSALS))
def test_accelerator_block_refusals_name_value_and_fix(case: str, helm: str) -> None:
    values, message = PLACEMENT_REFUSALS[case]
    with pytest.raises(RenderError) as err:
        render(PROBE, values, helm=helm)
    assert message in err.value.stderr


# ------------------------------------------------------------------ seldon-model: through the helper

GPU_LLM = yaml.safe_load((VALUES / "seldon-model" / "gpu-llm.yaml").read_text())


def model_values(accelerator: Obj, node: str = "llm", **component: Any) -> Obj:
    values = yaml.safe_load(yaml.safe_dump(GPU_LLM))
    values["predictors"][0]["components"][node] = {**{k: v for k, v in values["predictors"][0]["components"][node].items() if k != "gpu"},
                                                   "accelerator": accelerator, **component}
    return values


@pytest.mark.parametrize("case", ["tpu-v6e-2x2", "neuron-cores", "amd", "nvidia-mig"])
def test_seldon_model_places_every_kind_through_ml_common(case: str, helm: str) -> None:
    accelerator, resource, count, taint, hardware = KINDS[case]
    sd = find(render("seldon-model", model_values(accelerator), helm=helm), "SeldonDeployment")
    (spec,) = [c["spec"] for c in sd["spec"]["predictors"][0]["componentSpecs"]]
    (llm,) = [c for c in spec["containers"] if c["name"] == "llm"]
    assert llm["resources"]["limits"][resource] == llm["resources"]["requests"][resource] == count
    assert {"key": taint, "operator": "Exists", "effect": "NoSchedule"} in spec["tolerations"]
    assert expressions(spec) == [requirement(POOL_LABEL, "p")] + [requirement(k, v) for k, v in hardware.items()]
    # The probe chart gets the same placement from the same helper: nothing is per chart.
    assert probe(accelerator)["tolerations"] == spec["tolerations"] and probe(accelerator)["affinity"] == spec["affinity"]


def test_seldon_model_refusals_name_the_component() -> None:
    where = "predictors[0].components.llm.accelerator"
    with pytest.raises(RenderError) as err:
        render("seldon-model", model_values({"kind": "tpu", "tpu": {"type": "tpu-v6e-slice", "topology": "4x4"}, "pool": {"name": "p"}}))
    assert f"{where}.tpu.topology 4x4 of tpu-v6e-slice is a multi-host slice (4 hosts of 4 chips)" in err.value.stderr
    with pytest.raises(RenderError) as err:
        render("seldon-model", model_values({"kind": "amd", "pool": {"name": "p"}}, gpu={"count": 1, "pool": {"name": "p"}}))
    assert "predictors[0].components.llm.gpu.count is 1 and predictors[0].components.llm.accelerator.kind is amd" in err.value.stderr


def test_seldon_model_pod_of_two_topologies_is_refused() -> None:
    """Two TPU components of one pod that ask for different topologies cannot share a node."""
    image = {"image": {"repository": "localhost/ml-serving-charts/iris-model", "tag": "0.1.0"}}
    values = {"predictors": [{"name": "default", "graph": {"name": "a", "type": "TRANSFORMER", "children": [{"name": "b"}]},
                              "components": {node: {**image, "accelerator": {"kind": "tpu", "anyPool": True,
                                                                             "tpu": {"type": "tpu-v5-lite-podslice", "topology": topology}}}
                                             for node, topology in (("a", "2x2"), ("b", "2x4"))}}]}
    with pytest.raises(RenderError) as err:
        render("seldon-model", values)
    assert (f"the GPU components of one pod ask for different pools (ml-serving-charts.io/pool=* ({TPU_TYPE}=tpu-v5-lite-podslice, "
            f"{TPU_TOPOLOGY}=2x2), ml-serving-charts.io/pool=* ({TPU_TYPE}=tpu-v5-lite-podslice, {TPU_TOPOLOGY}=2x4))") in err.value.stderr


# ------------------------------------------------------------------ gpu-node-pool: pools of each kind


def test_gke_tpu_pools_are_compute_class_tpu_priorities() -> None:
    objs = scenario("tpu-gke")
    v5e = find(objs, "ComputeClass", "tpu-v5e-2x4")["spec"]
    assert v5e["priorities"] == [{"tpu": {"type": "tpu-v5-lite-podslice", "count": 8, "topology": "2x4"}, "spot": False},
                                 {"spot": True, "tpu": {"type": "tpu-v5-lite-podslice", "count": 8, "topology": "2x4"}}]
    # GKE sets its own TPU labels and taint on the nodes: only our pool label is added.
    assert v5e["nodePoolConfig"]["nodeLabels"] == {POOL_LABEL: "tpu-v5e-2x4"} and "taints" not in v5e["nodePoolConfig"]
    assert find(objs, "ComputeClass", "tpu-v6e-2x2")["spec"]["priorities"][0]["tpu"] == {"type": "tpu-v6e-slice", "count": 4, "topology": "2x2"}
    # The headroom placeholder holds a whole v6e host, selected by class, type and topology.
    placeholder = find(objs, "Deployment", "test-gpu-node-pool-headroom-tpu-v6e-2x2")["spec"]["template"]["spec"]
    assert placeholder["containers"][0]["resources"]["limits"]["google.com/tpu"] == 4
    assert expressions(placeholder) == [requirement("cloud.google.com/compute-class", "tpu-v6e-2x2"),
                                        requirement(TPU_TYPE, "tpu-v6e-slice"), requirement(TPU_TOPOLOGY, "2x2")]


def test_neuron_pools_are_karpenter_accelerator_node_pools() -> None:
    objs = scenario("neuron-eks")
    inf2 = find(objs, "NodePool", "inf2")["spec"]
    requirements = {r["key"]: r["values"] for r in inf2["template"]["spec"]["requirements"]}
    assert requirements["karpenter.k8s.aws/instance-accelerator-manufacturer"] == ["aws"]
    assert requirements["karpenter.k8s.aws/instance-accelerator-count"] == ["1"]
    assert requirements["karpenter.k8s.aws/instance-accelerator-name"] == ["inferentia2"]
    assert requirements["karpenter.k8s.aws/instance-family"] == ["inf2"]
    assert "karpenter.k8s.aws/instance-gpu-manufacturer" not in requirements and "karpenter.k8s.aws/instance-category" not in requirements
    assert inf2["template"]["spec"]["taints"] == [{"key": "aws.amazon.com/neuron", "effect": "NoSchedule"}]
    assert inf2["limits"] == {"aws.amazon.com/neuron": "8"}
    trn1 = find(objs, "NodePool", "trn1")["spec"]
    assert {r["key"]: r["values"] for r in trn1["template"]["spec"]["requirements"]}["node.kubernetes.io/instance-type"] == ["trn1.32xlarge"]
    assert trn1["limits"] == {"aws.amazon.com/neuron": "32"}
    assert find(objs, "EC2NodeClass", "inf2")["spec"]["amiSelectorTerms"] == [{"alias": "al2023@latest"}]
    pools = {p["name"]: p for p in yaml.safe_load(find(objs, "ConfigMap", "test-gpu-node-pool-pools")["data"]["pools.yaml"])}
    assert pools["trn1"]["resources"] == {"aws.amazon.com/neuron": 16, "aws.amazon.com/neuroncore": 32}
    assert pools["inf2"]["workloadAccelerator"] == {"kind": "neuron", "pool": {"name": "inf2"}}


def test_amd_pools_on_karpenter_and_cluster_api() -> None:
    amd = find(scenario("amd-eks"), "NodePool", "amd-g4ad")["spec"]
    requirements = {r["key"]: r["values"] for r in amd["template"]["spec"]["requirements"]}
    assert requirements["karpenter.k8s.aws/instance-gpu-manufacturer"] == ["amd"]
    assert requirements["karpenter.k8s.aws/instance-gpu-count"] == ["1"]
    assert amd["template"]["spec"]["taints"] == [{"key": "amd.com/gpu", "effect": "NoSchedule"}] and amd["limits"] == {"amd.com/gpu": "4"}
    md = find(scenario("amd-capi"), "MachineDeployment", "ml-prod-amd-mi300x")["metadata"]["annotations"]
    prefix = "capacity.cluster-autoscaler.kubernetes.io/"
    assert md[prefix + "gpu-type"] == "amd.com/gpu" and md[prefix + "gpu-count"] == "8"
    assert md[prefix + "labels"] == "cluster-api/accelerator=MI300X,ml-serving-charts.io/pool=amd-mi300x"
    assert md[prefix + "taints"] == "amd.com/gpu:NoSchedule"


def test_simulated_nodes_of_every_kind() -> None:
    nodes = {n["metadata"]["name"]: n for n in find_all(scenario("simulated-accelerators"), "Node")}
    assert sorted(nodes) == ["kwok-amd-mi300x-0", "kwok-neuron-inf2-0", "kwok-tpu-v5e-2x2-0", "kwok-tpu-v5e-2x2-1", "kwok-tpu-v5e-2x4-0"]
    tpu = nodes["kwok-tpu-v5e-2x4-0"]
    assert tpu["metadata"]["labels"][TPU_TYPE] == "tpu-v5-lite-podslice" and tpu["metadata"]["labels"][TPU_TOPOLOGY] == "2x4"
    assert tpu["spec"]["taints"] == [{"key": "google.com/tpu", "value": "present", "effect": "NoSchedule"}]
    assert tpu["status"]["capacity"]["google.com/tpu"] == "8" and nodes["kwok-tpu-v5e-2x2-0"]["status"]["capacity"]["google.com/tpu"] == "4"
    neuron = nodes["kwok-neuron-inf2-0"]["status"]["allocatable"]
    assert neuron["aws.amazon.com/neuron"] == "6" and neuron["aws.amazon.com/neuroncore"] == "12"
    assert nodes["kwok-amd-mi300x-0"]["status"]["allocatable"]["amd.com/gpu"] == "8"
    assert not any("nvidia.com/gpu.present" in n["metadata"]["labels"] for n in nodes.values()), "no NVIDIA labels on other kinds"


def test_notes_give_the_accelerator_block_and_the_gke_node_pool() -> None:
    out = subprocess.run([str(HELMS["helm4"]), "install", "test", str(CHARTS / POOLS), "--dry-run=client", "-f",
                          str(VALUES / POOLS / "tpu-gke.yaml")], capture_output=True, text=True, env=tool_env())
    assert out.returncode == 0, out.stderr
    notes = out.stdout.split("NOTES:", 1)[1]
    assert "Pool tpu-v5e-2x4 (tpu tpu-v5-lite-podslice 2x4, machine type ct5lp-hightpu-8t; advertises google.com/tpu=8)" in notes
    assert "accelerator:\n      kind: tpu" in notes
    assert "gcloud container node-pools create tpu-v6e-2x2 --machine-type=ct6e-standard-4t --tpu-topology=2x2" in notes


AWS = {"aws": {"role": "r", "discoveryTags": {"karpenter.sh/discovery": "c"}}}
TPU_2X2 = {"kind": "tpu", "tpu": {"type": "tpu-v5-lite-podslice", "topology": "2x2"}}
POOL_REFUSALS = {
    "tpu-off-gke": ({"provider": "aws", **AWS, "pools": [{"name": "t", "accelerator": TPU_2X2}]},
                    "pools[0].accelerator.kind is tpu but provider is aws: TPUs exist only on Google Cloud, as GKE TPU node pools; use provider gke or simulated"),
    "neuron-off-aws": ({"provider": "gke", "pools": [{"name": "n", "accelerator": {"kind": "neuron", "count": 1}}]},
                       "pools[0].accelerator.kind is neuron but provider is gke: Inferentia and Trainium exist only on AWS"),
    "amd-on-azure": ({"provider": "azure", "pools": [{"name": "a", "accelerator": {"kind": "amd", "count": 8}}]},
                     "pools[0].accelerator.kind is amd but provider is azure: this chart provisions AMD GPUs with Karpenter on AWS or with Cluster API"),
    "nvidia-as-accelerator": ({"provider": "simulated", "pools": [{"name": "x", "accelerator": {"kind": "nvidia", "count": 1}}]},
                              'pools[0].accelerator.kind is "nvidia": use tpu, neuron or amd (NVIDIA pools are described by gpu'),
    "gpu-and-accelerator": ({"provider": "simulated", "pools": [{"name": "x", "gpu": {"count": 1}, "accelerator": {"kind": "amd", "count": 1}}]},
                            "pools[0] sets gpu.count (1) and accelerator.kind (amd): a pool holds one kind of accelerator"),
    "neuron-without-count": ({"provider": "simulated", "pools": [{"name": "n", "accelerator": {"kind": "neuron"}}]},
                             "pools[0].accelerator.count is 0: set the Neuron devices per node (e.g. inf2.xlarge 1"),
    "amd-without-count": ({"provider": "simulated", "pools": [{"name": "a", "accelerator": {"kind": "amd"}}]},
                          "pools[0].accelerator.count is 0: set the AMD GPUs per node"),
    "tpu-multi-host": ({"provider": "simulated", "pools": [{"name": "t", "accelerator": {"kind": "tpu", "tpu": {"type": "tpu-v6e-slice", "topology": "8x8"}}}]},
                       "pools[0].accelerator.tpu.topology 8x8 of tpu-v6e-slice is a multi-host slice (16 hosts of 4 chips): the pools of this chart serve models"),
    "tpu-bad-topology": ({"provider": "gke", "pools": [{"name": "t", "accelerator": {"kind": "tpu", "tpu": {"type": "tpu-v4-podslice", "topology": "2x2"}}}]},
                         'pools[0].accelerator.tpu.topology is "2x2" but tpu-v4-podslice (TPU v4) topologies have 3 dimensions'),
    "tpu-count-not-a-host": ({"provider": "gke", "pools": [{"name": "t", "accelerator": {**TPU_2X2, "count": 8}}]},
                             "pools[0].accelerator.count is 8 but a tpu-v5-lite-podslice host of topology 2x2 has 4 chips: set it to 4 or leave it 0"),
    "nvidia-settings-on-tpu": ({"provider": "gke", "pools": [{"name": "t", "accelerator": TPU_2X2, "gke": {"gpuType": "nvidia-l4"}}]},
                               'pools[0].gke.gpuType is "nvidia-l4" but the pool\'s accelerator.kind is tpu'),
    "mig-on-neuron": ({"provider": "simulated", "pools": [{"name": "n", "accelerator": {"kind": "neuron", "count": 1}, "mig": {"profiles": {"1g.5gb": 7}}}]},
                      "pools[0] sets devicePluginConfig, mig or gpu.product, which describe NVIDIA GPU pools, but its accelerator.kind is neuron"),
    "headroom-tpu-part-of-a-host": ({"provider": "simulated", "pools": [{"name": "t", "accelerator": TPU_2X2}],
                                     "headroom": {"enabled": True, "placeholders": [{"pool": "t", "gpus": 2}]}},
                                    "headroom.placeholders[0].gpus is 2 but a node of TPU pool t has 4 chips and GKE gives a pod all of them: set gpus to 4"),
}


@pytest.mark.parametrize("case", sorted(POOL_REFUSALS))
def test_pool_refusals_name_value_and_fix(case: str, helm: str) -> None:
    """The templates refuse on their own (values.schema.json catches some of these first, Helm can skip it)."""
    values, message = POOL_REFUSALS[case]
    with pytest.raises(RenderError) as err:
        render(POOLS, values, helm=helm, extra_args=["--skip-schema-validation"])
    assert message in err.value.stderr
