"""kubectl and Helm against a cluster, for the stack, the demo and the cluster tiers (standard library only).

Kubectl: one kubeconfig and its own discovery cache; `apply` is server-side apply of objects given as dicts
(sent as a JSON List, so no YAML library is needed). Helm: one Helm binary (helm4 = Helm 4, helm3 = Helm 3)
with its own isolated HELM_* home, pointed at one cluster: install, upgrade, rollback, uninstall, history.
Local charts get their file:// dependencies built first, once per chart and process."""
from __future__ import annotations

import fcntl
import functools
import hashlib
import json
import re
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Mapping

from .env import BIN, CHARTS, ROOT, tool_env
from .proc import CommandFailed, run

Obj = dict[str, Any]
HELMS = {"helm4": BIN / "helm", "helm3": BIN / "helm3"}   # name -> binary (Helm 4.3.1, Helm 3.17.2)
TEST_CHARTS = ROOT / "tests" / "charts"


def json_stream(text: str) -> list[Obj]:
    """The JSON documents kubectl prints one after another (`create -o json` of several objects)."""
    decoder, docs, pos = json.JSONDecoder(), [], 0
    while pos < len(text):
        if text[pos].isspace():
            pos += 1
            continue
        doc, pos = decoder.raw_decode(text, pos)
        docs.append(doc)
    return docs


@dataclass(frozen=True)
class Kubectl:
    kubeconfig: Path
    cache_dir: Path  # kubectl's discovery cache (else ~/.kube/cache): somewhere the cluster's deletion removes

    def __call__(self, *args: str, stdin: str | None = None, check: bool = True,
                 timeout: float = 120) -> subprocess.CompletedProcess[str]:
        return run([str(BIN / "kubectl"), "--kubeconfig", str(self.kubeconfig), "--cache-dir", str(self.cache_dir),
                    *args], f"kubectl {' '.join(args[:3])}", input=stdin, check=check, timeout=timeout,
                   hint="run `scripts/bootstrap` first", tail=60)

    def json(self, *args: str, stdin: str | None = None) -> Any:
        return json.loads(self(*args, "-o", "json", stdin=stdin).stdout)

    def apply(self, objs: list[Obj], field_manager: str = "msc-tests", force_conflicts: bool = True,
              timeout: float = 120) -> subprocess.CompletedProcess[str]:
        """Server-side apply (idempotent); force_conflicts takes over fields another manager owns."""
        return self("apply", "--server-side", *(["--force-conflicts"] if force_conflicts else []),
                    f"--field-manager={field_manager}", "-f", "-",
                    stdin=json.dumps({"apiVersion": "v1", "kind": "List", "items": objs}), timeout=timeout)

    def read_manifests(self, *files: Path) -> list[Obj]:
        """The objects in YAML files, parsed by kubectl itself (no YAML library here; no server is asked)."""
        args = [a for f in files for a in ("-f", str(f))]
        docs = json_stream(self("create", "--dry-run=client", "-o", "json", *args).stdout)
        return [item for d in docs for item in (d.get("items", []) if d.get("kind") == "List" else [d])]


def chart_path(chart: str | Path) -> Path:
    """A chart by name (charts/ first, then tests/charts/) or by path."""
    path = Path(chart)
    if path.is_dir():
        return path
    for base in (CHARTS, TEST_CHARTS):
        if (base / str(chart) / "Chart.yaml").exists():
            return base / str(chart)
    raise FileNotFoundError(f"no chart named {chart} under {CHARTS} or {TEST_CHARTS}")


@functools.cache
def build_dependencies(path: Path, helm: str = "helm4") -> None:
    """`helm dependency build` once per chart and process (file:// deps such as ml-common). A lock file
    serialises it across processes: two concurrent builds of one chart trip over Helm's tmpcharts dir."""
    if not re.search(r"^dependencies:", (path / "Chart.yaml").read_text(), re.MULTILINE):
        return
    lock = Path(tempfile.gettempdir()) / f"msc-helm-deps-{hashlib.sha256(str(path).encode()).hexdigest()[:16]}.lock"
    with lock.open("w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        built = run([str(HELMS[helm]), "dependency", "build", "--skip-refresh", str(path)],
                    f"helm dependency build {path.name}", env=tool_env(), timeout=300, check=False)
        if built.returncode != 0 and (path / "Chart.lock").exists():
            # a Chart.lock (git-ignored) from before a dependency's version changed ("out of sync", "can't get a
            # valid version"): resolve it anew
            run([str(HELMS[helm]), "dependency", "update", "--skip-refresh", str(path)],
                f"helm dependency update {path.name}", env=tool_env(), timeout=300)
        elif built.returncode != 0:
            raise CommandFailed(f"helm dependency build {path.name} exited {built.returncode}:\n{built.stderr.strip()}",
                                built.args, built.returncode, built.stdout, built.stderr)


def helm_env(home: Path) -> dict[str, str]:
    """An isolated Helm home (repositories, cache, registry credentials) so nothing touches the user's."""
    env = tool_env()
    env.update({"HELM_CONFIG_HOME": str(home / "config"), "HELM_CACHE_HOME": str(home / "cache"),
                "HELM_DATA_HOME": str(home / "data"), "HELM_REPOSITORY_CONFIG": str(home / "config" / "repositories.yaml"),
                "HELM_REGISTRY_CONFIG": str(home / "config" / "registry.json")})
    return env


@dataclass
class Helm:
    """One Helm binary (helm4 = Helm 4, helm3 = Helm 3) with its own HELM_* home, pointed at one cluster."""
    name: str
    home: Path
    kubeconfig: Path
    timeout: str = "120s"

    @property
    def binary(self) -> Path:
        return HELMS[self.name]

    def env(self) -> dict[str, str]:
        env = helm_env(self.home)
        env["KUBECONFIG"] = str(self.kubeconfig)
        return env

    def run(self, *args: str, stdin: str | None = None, check: bool = True,
            timeout: float = 300) -> subprocess.CompletedProcess[str]:
        return run([str(self.binary), *args], f"{self.name} {' '.join(args[:2])}", env=self.env(), input=stdin,
                   check=check, timeout=timeout, tail=60)

    # -- the lifecycle
    def _chart_ref(self, chart: str | Path) -> str:
        """A local chart (by name or path: its file:// dependencies are built first) or a reference Helm
        resolves itself (repo/chart, oci://...)."""
        text = str(chart)
        if text.startswith("oci://") or (not Path(text).exists() and "/" in text):
            return text
        path = chart_path(chart).resolve()
        build_dependencies(path)
        return str(path)

    def _values_args(self, values: Mapping[str, Any] | None, values_files: Iterable[str | Path]) -> list[str]:
        args = []
        for f in values_files:
            args += ["--values", str(f)]
        if values:
            args += ["--values", "-"]  # JSON on stdin, last: it wins over the files
        return args

    def _wait_args(self, wait: bool) -> list[str]:
        if not wait:
            return []
        # Helm 4: kstatus watcher (every object Current); Helm 3: pods, Deployments, DaemonSets... ready.
        return ["--wait=watcher" if self.name == "helm4" else "--wait", "--timeout", self.timeout]

    def template_text(self, release: str, chart: str | Path, namespace: str, *,
                      values: Mapping[str, Any] | None = None, values_files: Iterable[str | Path] = ()) -> str:
        """What install would send, as YAML, with the same values precedence."""
        return self.run("template", release, self._chart_ref(chart), "--namespace", namespace,
                        *self._values_args(values, values_files), stdin=json.dumps(values) if values else None).stdout

    def install(self, release: str, chart: str | Path, namespace: str, *, values: Mapping[str, Any] | None = None,
                values_files: Iterable[str | Path] = (), wait: bool = False, create_namespace: bool = False,
                extra: Iterable[str] = ()) -> subprocess.CompletedProcess[str]:
        args = ["install", release, self._chart_ref(chart), "--namespace", namespace,
                *self._values_args(values, values_files), *self._wait_args(wait), *extra]
        if create_namespace:
            args.append("--create-namespace")
        return self.run(*args, stdin=json.dumps(values) if values else None)

    def upgrade(self, release: str, chart: str | Path, namespace: str, *, values: Mapping[str, Any] | None = None,
                values_files: Iterable[str | Path] = (), wait: bool = False, install: bool = False,
                reuse_values: bool = False, extra: Iterable[str] = ()) -> subprocess.CompletedProcess[str]:
        args = ["upgrade", release, self._chart_ref(chart), "--namespace", namespace,
                *self._values_args(values, values_files), *self._wait_args(wait), *extra]
        if install:
            args.append("--install")
        if reuse_values:
            args.append("--reuse-values")
        return self.run(*args, stdin=json.dumps(values) if values else None)

    def rollback(self, release: str, namespace: str, revision: int = 0, *,
                 wait: bool = False) -> subprocess.CompletedProcess[str]:
        return self.run("rollback", release, str(revision), "--namespace", namespace, *self._wait_args(wait))

    def uninstall(self, release: str, namespace: str, *, wait: bool = True,
                  check: bool = True) -> subprocess.CompletedProcess[str]:
        args = ["uninstall", release, "--namespace", namespace]
        if wait:
            args += ["--wait", "--timeout", self.timeout]
        return self.run(*args, check=check)

    # -- what Helm knows
    def history(self, release: str, namespace: str) -> list[Obj]:
        return json.loads(self.run("history", release, "--namespace", namespace, "-o", "json").stdout)

    def manifest_text(self, release: str, namespace: str) -> str:
        return self.run("get", "manifest", release, "--namespace", namespace).stdout

    def releases(self, all_namespaces: bool = True) -> list[Obj]:
        args = ["list", "-o", "json", "--deployed", "--failed", "--pending", "--uninstalling"]
        if all_namespaces:
            args.append("--all-namespaces")
        return json.loads(self.run(*args).stdout or "[]")


__all__ = ["CommandFailed", "HELMS", "Helm", "Kubectl", "build_dependencies", "chart_path", "helm_env"]
