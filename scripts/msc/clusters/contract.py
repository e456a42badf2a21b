"""The GPU scheduling contract on the Python side, and the fake pools of the local clusters.

The ONE place in Python that names how a GPU pool is labelled and tainted. It must equal
charts/ml-common/templates/_gpu.tpl ("ml-common.gpu.defaultPoolLabel", "ml-common.gpu.defaultTaints"),
which the gpu-node-pool chart's `simulated` provider renders too: the taint has no value there (and
workloads tolerate it with operator Exists), so it has none here. Both cluster providers build their
nodes from it: kwok's fake Nodes (fake_node) and kind's workers (pool_template)."""
from __future__ import annotations

import json
import re
from dataclasses import dataclass

from ..env import VALUES

POOL_LABEL = "ml-serving-charts.io/pool"
GPU_RESOURCE = "nvidia.com/gpu"
GPU_TAINT = {"key": "nvidia.com/gpu", "effect": "NoSchedule"}
KWOK_NODE_ANNOTATION = ("kwok.x-k8s.io/node", "fake")   # kwok manages nodes carrying it
NODE_NAME_PREFIX = "kwok-"                                # as gpu-node-pool's simulated.nodeNamePrefix

@dataclass(frozen=True)
class Pool:
    """A group of identical fake nodes."""
    name: str
    count: int
    cpu: str
    memory: str
    gpus: int = 0
    product: str = ""        # nvidia.com/gpu.product as GPU feature discovery reports it
    gpu_memory_mib: int = 0  # nvidia.com/gpu.memory (MiB per device)
    pods: str = "110"
    ephemeral_storage: str = "100Gi"


# The same pools as values/gpu-node-pool/simulated.yaml (the chart's `simulated` provider).
DEFAULT_POOLS: tuple[Pool, ...] = (
    Pool("cpu", 2, cpu="16", memory="64Gi"),
    Pool("gpu-a100", 2, cpu="96", memory="1152Gi", gpus=4, product="NVIDIA-A100-SXM4-40GB", gpu_memory_mib=40960),
    Pool("gpu-l4", 2, cpu="24", memory="96Gi", gpus=2, product="NVIDIA-L4", gpu_memory_mib=23034),
)
SIMULATED_VALUES = VALUES / "gpu-node-pool" / "simulated.yaml"

def fake_node(pool: Pool, index: int) -> dict:
    """One v1 Node that kwok will adopt and keep Ready, with the pool's capacity, labels and taint."""
    name = f"{NODE_NAME_PREFIX}{pool.name}-{index}"
    labels = {
        "kubernetes.io/arch": "amd64",
        "kubernetes.io/hostname": name,
        "kubernetes.io/os": "linux",
        "type": "kwok",
        POOL_LABEL: pool.name,
    }
    resources = {"cpu": pool.cpu, "memory": pool.memory, "pods": pool.pods,
                 "ephemeral-storage": pool.ephemeral_storage}
    spec: dict = {}
    if pool.gpus:
        labels.update({  # what GPU feature discovery reports for whole (unshared, non-MIG) GPUs
            "nvidia.com/gpu.present": "true",
            "nvidia.com/gpu.product": pool.product,
            "nvidia.com/gpu.memory": str(pool.gpu_memory_mib),
            "nvidia.com/gpu.count": str(pool.gpus),
            "nvidia.com/gpu.replicas": "1",
            "nvidia.com/gpu.sharing-strategy": "none",
            "nvidia.com/mig.strategy": "none",
        })
        resources[GPU_RESOURCE] = str(pool.gpus)
        spec["taints"] = [dict(GPU_TAINT)]
    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {"name": name, "labels": labels,
                     "annotations": {KWOK_NODE_ANNOTATION[0]: KWOK_NODE_ANNOTATION[1], "node.alpha.kubernetes.io/ttl": "0"}},
        "spec": spec,
        "status": {"capacity": dict(resources), "allocatable": dict(resources)},
    }


def default_nodes(pools: tuple[Pool, ...] = DEFAULT_POOLS) -> list[dict]:
    """The default fake nodes: a CPU pool and two GPU pools (until the gpu-node-pool chart's `simulated`
    provider renders them; then this becomes `helm template` of that chart)."""
    return [fake_node(pool, i) for pool in pools for i in range(pool.count)]


_PLAIN_KEY = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_./-]*$")


def to_yaml(value: object, indent: int = 0) -> str:
    """A small YAML emitter for dicts, lists and scalars (strings are always quoted, so '4' stays a string)."""
    pad = "  " * indent
    if isinstance(value, dict):
        if not value:
            return "{}"
        lines = []
        for key, item in value.items():
            k = key if _PLAIN_KEY.match(key) else json.dumps(key)
            if isinstance(item, (dict, list)) and item:
                lines.append(f"{pad}{k}:\n{to_yaml(item, indent + 1)}")
            else:
                lines.append(f"{pad}{k}: {to_yaml(item)}")
        return "\n".join(lines)
    if isinstance(value, list):
        if not value:
            return "[]"
        lines = []
        for item in value:
            body = to_yaml(item, indent + 1) if isinstance(item, (dict, list)) and item else to_yaml(item)
            lines.append(f"{pad}- {body.lstrip()}")
        return "\n".join(lines)
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return str(value)
    return json.dumps("" if value is None else str(value))



def nodes_yaml(nodes: list[dict]) -> str:
    head = "# Fake nodes for a kwok cluster (scripts/cluster nodes). kwok keeps every node annotated\n" \
           f"# {KWOK_NODE_ANNOTATION[0]}: {KWOK_NODE_ANNOTATION[1]} Ready and runs the pods scheduled onto it.\n"
    return head + "".join(f"---\n{to_yaml(n)}\n" for n in nodes)



def pool_template(pool_name: str) -> tuple[dict[str, str], list[dict], str | None]:
    """(labels, taints, GPU count) of a pool's nodes, as the kwok provider's fake nodes carry them, so both
    providers agree with charts/ml-common's GPU placement. Labels in the kubernetes.io / k8s.io namespaces
    and kwok's own are left out: a kubelet may not set them (--node-labels)."""
    pools = {p.name: p for p in DEFAULT_POOLS}
    if pool_name not in pools:
        raise KeyError(f"no pool {pool_name!r} in msc.clusters.contract (pools: {sorted(pools)})")
    node = fake_node(pools[pool_name], 0)
    labels = {k: v for k, v in node["metadata"].get("labels", {}).items()
              if "kubernetes.io/" not in k and "k8s.io/" not in k and k != "type"}
    taints = node.get("spec", {}).get("taints", [])
    return labels, taints, node.get("status", {}).get("capacity", {}).get(GPU_RESOURCE)
