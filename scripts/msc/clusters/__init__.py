"""Local test clusters: a Provider per kind of cluster, and up/down/status by provider name.

kwok (msc.clusters.kwok): a real control plane from our Go-built binaries, fake nodes. kind
(msc.clusters.kind): real nodes from the offline node image. Both build their nodes from the one GPU
scheduling contract (msc.clusters.contract). The CLI is scripts/cluster (msc.clusters.cli)."""
from __future__ import annotations

from pathlib import Path
from typing import Protocol

from ..proc import ClusterError
from .common import DEFAULT_NAME
from .kind import KindCluster
from .kwok import KwokCluster

PROVIDERS = ("kwok", "kind")


class Provider(Protocol):
    """What scripts/cluster, the cluster tiers and the demo need of a cluster, whatever makes it."""
    provider: str
    name: str
    kubeconfig: Path

    def up(self, nodes_file: Path | None = None, apply_nodes: bool = True, timeout: float = 180,
           disable_qps_limits: bool = False, nodes_from_chart: Path | None = None) -> Path: ...

    def down(self) -> None: ...

    def status(self) -> int: ...

    def exists(self) -> bool: ...

    def running(self) -> bool: ...


def cluster(provider: str = "kwok", name: str = DEFAULT_NAME) -> Provider:
    """The named cluster of a provider (nothing is started)."""
    if provider == "kind":
        return KindCluster(name)
    if provider == "kwok":
        return KwokCluster(name)
    raise ClusterError(f"unknown provider {provider!r}; use one of {PROVIDERS}")


def up(provider: str = "kwok", name: str = DEFAULT_NAME, **options: object) -> Path:
    """Create (or reuse) the cluster and its nodes; returns the kubeconfig path."""
    return cluster(provider, name).up(**options)  # type: ignore[arg-type]


def down(provider: str = "kwok", name: str = DEFAULT_NAME) -> None:
    cluster(provider, name).down()
