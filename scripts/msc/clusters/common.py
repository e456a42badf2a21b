"""What both cluster providers share: the default name, the per-cluster lock, waiting with a cluster error."""
from __future__ import annotations

import contextlib
import fcntl
import subprocess
from pathlib import Path
from typing import Callable, Iterator

from ..env import CLUSTERS
from ..proc import ClusterError, logger, wait_until

DEFAULT_NAME = "msc"
log = logger("cluster")


@contextlib.contextmanager
def locked(name: str) -> Iterator[None]:
    """Serialise up/down of one cluster (parallel test workers may call up at the same time)."""
    CLUSTERS.mkdir(parents=True, exist_ok=True)
    with open(CLUSTERS / f".{name}.lock", "w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def forget_lock(name: str) -> None:
    """Remove a deleted cluster's lock file, and .cluster/ itself when nothing else is left in it."""
    (CLUSTERS / f".{name}.lock").unlink(missing_ok=True)
    if CLUSTERS.exists() and not any(CLUSTERS.iterdir()):
        CLUSTERS.rmdir()


def wait(what: str, check: Callable[[], object], timeout: float, interval: float = 0.5,
         detail: Callable[[], str] | None = None, where: str = "") -> None:
    """wait_until, failing as a ClusterError that says where to look (`where`: the logs)."""
    try:
        wait_until(check, timeout, what, interval, detail)
    except TimeoutError as err:
        raise ClusterError(f"{err}{'; see ' + where if where else ''}") from err


class ApiServer:
    """What both providers ask of their API server (they set kubeconfig and kubectl())."""
    kubeconfig: Path

    def kubectl(self, *args: str, what: str, timeout: float = 60, check: bool = True,
                stdin: str | None = None) -> subprocess.CompletedProcess:
        raise NotImplementedError

    def apiserver_ready(self) -> bool:
        if not self.kubeconfig.exists():
            return False
        proc = self.kubectl("get", "--raw", "/readyz", what="apiserver readiness", timeout=15, check=False)
        return proc.returncode == 0 and proc.stdout.strip() == "ok"
