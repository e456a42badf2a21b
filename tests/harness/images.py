"""Image references as a container runtime reads them: Docker's rule for where the registry is, written out
independently of ml-common.images.qualify so the render tests check the chart against it."""
from __future__ import annotations

DEFAULT_REGISTRY = "docker.io"


def split_registry(ref: str) -> tuple[str, str]:
    """(registry named by the reference or "", the rest). The first path component is a registry when it holds
    a "." or a ":" or is "localhost"."""
    first, sep, rest = ref.partition("/")
    if sep and ("." in first or ":" in first or first == "localhost"):
        return first, rest
    return "", ref


def qualified(ref: str) -> str:
    """The reference with its registry written out: what a runtime pulls (docker.io, library/ for one name)."""
    registry, rest = split_registry(ref)
    if registry:
        return ref
    return f"{DEFAULT_REGISTRY}/{rest if '/' in rest else 'library/' + rest}"


def is_qualified(ref: str) -> bool:
    """The reference names its registry and a tag or digest: nothing is left for the node to default."""
    registry, rest = split_registry(ref)
    name = rest.split("@", 1)[0]
    return bool(registry) and ("@sha256:" in rest or ":" in name.rsplit("/", 1)[-1])
