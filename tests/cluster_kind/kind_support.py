"""What the cluster_kind tests share (the fixtures live in conftest.py)."""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from msc import stack as ks
from msc.clusters import kind as kind_cluster
from msc.kube import Kubectl
from msc.proc import wait_until
from harness import find, require_built
from harness.cluster import Helm

Obj = dict[str, Any]

# the pools of kind's two workers (their ml-serving-charts.io/pool label), as msc.clusters.kind makes them
CPU_POOL, GPU_POOL = kind_cluster.CPU_POOL, kind_cluster.GPU_POOL


@dataclass
class KindEnv:
    name: str
    kubeconfig: Path
    kubectl: Kubectl
    token: str
    nodes: dict[str, str]                      # node name -> pool label ("control-plane" for the control plane)
    missing: dict[str, str] = field(default_factory=dict)   # image key -> skip reason
    loaded: set[str] = field(default_factory=set)             # image keys loaded into the workers
    load: Callable[[list[str]], Any] | None = None            # kind load of image references

    def require(self, *image_keys: str) -> None:
        """Skip the test when one of our images is not built (the reason names the command that builds it); load
        the ones the session has not loaded yet (MSC_KIND_IMAGES chose fewer at its start)."""
        reasons = [self.missing[k] for k in image_keys if k in self.missing]
        require_built(not reasons, "; ".join(reasons))
        todo = [k for k in image_keys if k in ks.APP_IMAGES and k not in self.loaded]
        if todo and self.load:
            self.load([ks.APP_IMAGES[k] for k in todo])
            self.loaded.update(todo)

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


# ------------------------------------------------------------------ SeldonDeployments

# The kind workers have 2 CPUs and a tier holds a dozen graphs at once: every component of a test graph asks for
# 20m (the chart's default is 100m), and components that set their own resources keep them unless small_graph
# drops them.
SMALL_DEFAULTS = {"resources": {"requests": {"cpu": "20m", "memory": "64Mi"}, "limits": {"cpu": "1", "memory": "1Gi"}}}


def small_graph(values: Obj) -> Obj:
    """values with SMALL_DEFAULTS and no component's own resource requests."""
    out = json.loads(json.dumps(values))
    out["defaults"] = {**out.get("defaults", {}), **SMALL_DEFAULTS}
    for predictor in out.get("predictors", []):
        for component in (predictor.get("components") or {}).values():
            if isinstance(component, dict):
                component.pop("resources", None)
    return out


def install_model(kind: KindEnv, helm: Helm, namespace: str, release: str, values: Obj) -> Obj:
    """helm install seldon-model (with small_graph's requests); returns the SeldonDeployment it rendered."""
    helm.install(release, "seldon-model", namespace, values=small_graph(values))
    return find(helm.manifest(release, namespace), "SeldonDeployment")


def wait_available(kind: KindEnv, name: str, namespace: str, timeout: float = 300) -> Obj:
    def available() -> Obj | None:
        sdep = kind.kubectl.json("get", "seldondeployment", name, "-n", namespace)
        return sdep if sdep.get("status", {}).get("state") == "Available" else None
    try:
        return wait_until(available, timeout, f"SeldonDeployment {namespace}/{name} Available")
    except TimeoutError as err:
        state = kind.kubectl.json("get", "seldondeployment", name, "-n", namespace).get("status")
        pods = kind.kubectl("get", "pods", "-n", namespace, "-o", "wide", check=False).stdout
        events = kind.kubectl("get", "events", "-n", namespace, "--sort-by=.lastTimestamp", check=False).stdout[-3000:]
        raise AssertionError(f"{err}\nstatus: {json.dumps(state)[:1500]}\n{pods}\n{events}") from err
