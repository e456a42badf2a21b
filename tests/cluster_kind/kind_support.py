"""What the cluster_kind tests share (the fixtures live in conftest.py)."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from msc import stack as ks
from msc.kube import Kubectl
from harness import require_built

GPU_POOL = "gpu-l4"   # kind's GPU worker carries ml-serving-charts.io/pool=gpu-l4 (msc.clusters.kind)


@dataclass
class KindEnv:
    name: str
    kubeconfig: Path
    kubectl: Kubectl
    token: str
    nodes: dict[str, str]                      # node name -> pool label ("control-plane" for the control plane)
    missing: dict[str, str] = field(default_factory=dict)   # image key -> skip reason

    def require(self, *image_keys: str) -> None:
        """Skip the test when one of our images is not built (the reason names the command that builds it)."""
        reasons = [self.missing[k] for k in image_keys if k in self.missing]
        require_built(not reasons, "; ".join(reasons))

    def node_of_pool(self, pool: str) -> str:
        return next(n for n, p in self.nodes.items() if p == pool)


@dataclass
class Models:
    namespace: str
    servers: dict[str, ks.Server]           # the servers that run (their images exist)
    pods: dict[str, dict]                   # server name -> its pod

    def need(self, kind: KindEnv, *names: str) -> None:
        kind.require(*{ks.SERVERS[n].image for n in names}, "helm-test-client")


@dataclass
class Monitoring:
    namespace: str
    release: str
    manifest: list[dict]
