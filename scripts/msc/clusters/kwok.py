"""The kwok provider: a real kube-apiserver, etcd, kube-controller-manager and kube-scheduler, with kwok
simulating the nodes and their pods. kwokctl runs them as local processes (`--runtime binary`) from the
binaries `scripts/bootstrap kwok` built into .tools/bin; nothing is downloaded. Everything lives under
.cluster/kwok/ (git-ignored): kwokctl's own work dir (KWOK_WORKDIR) and the kubeconfig. `up` is idempotent:
a running cluster is reused and the nodes are applied again. `down` stops every process and removes every file."""
from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import signal
import subprocess
import time
from pathlib import Path

from ..env import BIN, CHARTS, CLUSTERS
from ..kube import json_stream
from ..proc import ClusterError, pid_alive, run, wait_until
from .common import DEFAULT_NAME, ApiServer, forget_lock, locked, log, wait
from .contract import POOL_LABEL, SIMULATED_VALUES, default_nodes, nodes_yaml

KWOK_HOME = CLUSTERS / "kwok"          # KWOK_WORKDIR: kwokctl's clusters/, cache/ and kwok.yaml live here

KWOKCTL_CONFIG = """\
# Written by scripts/cluster: kwokctl's default config ($KWOK_WORKDIR/kwok.yaml).
apiVersion: config.kwok.x-k8s.io/v1alpha1
kind: KwokctlConfiguration
options:
  bindAddress: 127.0.0.1
"""


def chart_nodes_yaml(values: Path = SIMULATED_VALUES) -> str:
    """The fake nodes the gpu-node-pool chart's `simulated` provider renders with the given values."""
    chart = CHARTS / "gpu-node-pool"
    proc = run([str(BIN / "helm"), "template", "nodes", str(chart), "-f", str(values),
                "--show-only", "templates/simulated-nodes.yaml"], f"render {chart.name} (provider simulated)", timeout=60,
               hint="run `scripts/bootstrap` first")
    return proc.stdout


def rss_kib(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def component_processes(workdir: Path, binaries: set[str], pids: set[int] = frozenset()) -> dict[int, str]:
    """Live processes of a cluster: running one of its component binaries (by resolved executable) and either
    named in its pid files or pointing at its directory. Never anything else (an editor, a `tail -f` of a log)."""
    found: dict[int, str] = {}
    marker = str(workdir)
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            exe = os.readlink(proc / "exe")
            cmdline = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace").strip()
            cwd = os.readlink(proc / "cwd")
        except OSError:
            continue
        ours = int(proc.name) in pids or marker in cmdline or cwd == marker
        if exe in binaries and ours and pid_alive(int(proc.name)):
            found[int(proc.name)] = cmdline
    return found


class KwokCluster(ApiServer):
    """A kwokctl cluster (binary runtime) whose files all live under .cluster/kwok/."""

    COMPONENT_BINARIES = {  # kwokctl flag -> binary in .tools/bin
        "--kube-apiserver-binary": "kube-apiserver",
        "--kube-controller-manager-binary": "kube-controller-manager",
        "--kube-scheduler-binary": "kube-scheduler",
        "--etcd-binary": "etcd",
        "--kwok-controller-binary": "kwok",
    }

    provider = "kwok"

    def __init__(self, name: str = DEFAULT_NAME, home: Path = KWOK_HOME) -> None:
        if not re.fullmatch(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?", name):
            raise ClusterError(f"cluster name {name!r}: use lower-case letters, digits and '-'")
        self.name = name
        self.home = home
        self.workdir = home / "clusters" / name          # kwokctl's per-cluster directory
        self.kubeconfig = home / ("kubeconfig" if name == DEFAULT_NAME else f"kubeconfig-{name}")
        self.context = f"kwok-{name}"
        self.kubectl_cache = self.workdir / "kubectl-cache"   # kubectl's discovery cache (else ~/.kube/cache)

    # -- environment
    def env(self) -> dict[str, str]:
        """kwokctl's environment: its work dir redirected here, every binary local, nothing to download."""
        env = {k: v for k, v in os.environ.items() if not k.startswith("KWOK_") and k != "KUBECONFIG"}
        env.update({
            "PATH": f"{BIN}{os.pathsep}{env.get('PATH', '')}",   # kwokctl looks kubectl up on PATH first
            "KWOK_WORKDIR": str(self.home),
            "KWOK_KUBECTL_BINARY": str(BIN / "kubectl"),
            "KWOK_KUBE_BINARY_PREFIX": str(BIN),
            "KWOK_KUBE_APISERVER_BINARY": str(BIN / "kube-apiserver"),
            "KWOK_KUBE_CONTROLLER_MANAGER_BINARY": str(BIN / "kube-controller-manager"),
            "KWOK_KUBE_SCHEDULER_BINARY": str(BIN / "kube-scheduler"),
            "KWOK_ETCD_BINARY": str(BIN / "etcd"),
            "KWOK_KWOK_CONTROLLER_BINARY": str(BIN / "kwok"),
            "KUBECONFIG": str(self.kubeconfig),
        })
        return env

    def kwokctl(self, *args: str, what: str, timeout: float = 300, check: bool = True) -> subprocess.CompletedProcess:
        proc = run([str(BIN / "kwokctl"), *args], what, env=self.env(), timeout=timeout, check=check,
                   hint="run `scripts/bootstrap kwok` first")
        if re.search(r"\bDownload\b", proc.stdout + proc.stderr):  # getCacheOrDownload logs this before fetching
            raise ClusterError(f"{what}: kwokctl tried to download something; it must only use .tools/bin:\n"
                               f"{proc.stdout}{proc.stderr}")
        return proc

    def kubectl(self, *args: str, what: str, timeout: float = 120, check: bool = True,
                stdin: str | None = None) -> subprocess.CompletedProcess:
        return run([str(BIN / "kubectl"), "--kubeconfig", str(self.kubeconfig), "--cache-dir", str(self.kubectl_cache),
                    *args], what, timeout=timeout, check=check, input=stdin, hint="run `scripts/bootstrap` first")

    # -- state
    def exists(self) -> bool:
        return (self.workdir / "kwok.yaml").exists()

    def pids(self) -> dict[str, int]:
        """Component -> pid, from the pid files kwokctl writes."""
        out = {}
        for pidfile in sorted((self.workdir / "pids").glob("*.pid")):
            with contextlib.suppress(ValueError, OSError):
                out[pidfile.stem] = int(pidfile.read_text().strip())
        return out

    def running(self) -> bool:
        pids = self.pids()
        return self.exists() and len(pids) >= len(self.COMPONENT_BINARIES) and \
            all(pid_alive(p) for p in pids.values()) and self.apiserver_ready()

    def wait(self, what: str, check, timeout: float, interval: float = 0.5) -> None:
        wait(what, check, timeout, interval, where=f"the component logs in {self.workdir / 'logs'}")

    # -- up
    def check_tools(self) -> None:
        missing = [b for b in ("kwokctl", "kubectl", *self.COMPONENT_BINARIES.values()) if not (BIN / b).exists()]
        if missing:
            raise ClusterError(f"missing {', '.join(missing)} in {BIN}: run `scripts/bootstrap kwok` first")

    def up(self, nodes_file: Path | None = None, apply_nodes: bool = True, timeout: float = 180,
           disable_qps_limits: bool = False, nodes_from_chart: Path | None = None) -> Path:
        self.check_tools()
        for given in (nodes_file, nodes_from_chart):
            if apply_nodes and given is not None and not given.is_file():
                raise ClusterError(f"{given}: no such file")
        start = time.monotonic()
        with locked(f"kwok-{self.name}"):
            if self.running():
                log(f"[1/4] kwok cluster {self.name!r}: already running, reused")
            else:
                log(f"[1/4] kwok cluster {self.name!r}: "
                    f"{'restarting' if self.exists() else 'creating'} (kwokctl --runtime binary, binaries from {BIN})")
                t0 = time.monotonic()
                self.create(timeout, disable_qps_limits)
                log(f"      control plane started ({time.monotonic() - t0:.1f}s)")
            t0 = time.monotonic()
            self.wait("the API server to be ready", self.apiserver_ready, timeout)
            self.wait("the default service account (kube-controller-manager)", self.default_sa_exists, timeout)
            log(f"[2/4] API server ready, controllers running ({time.monotonic() - t0:.1f}s)")
            if apply_nodes:
                self.apply_nodes(nodes_file, timeout, nodes_from_chart)
            else:
                log("[3/4] nodes: skipped (--no-nodes)")
            self.check_processes()
            log(f"[4/4] up in {time.monotonic() - start:.1f}s; kubeconfig: {self.kubeconfig}")
        return self.kubeconfig

    def create(self, timeout: float, disable_qps_limits: bool = False) -> None:
        self.home.mkdir(parents=True, exist_ok=True)
        # $KWOK_WORKDIR/kwok.yaml is the config kwokctl reads by default. Its bindAddress (no flag exists)
        # defaults to 0.0.0.0, which would expose etcd, unauthenticated, to the network: loopback only.
        (self.home / "kwok.yaml").write_text(KWOKCTL_CONFIG)
        args = ["create", "cluster", "--name", self.name, "--runtime", "binary",
                "--kubeconfig", str(self.kubeconfig), "--quiet-pull",
                "--secure-port=true", "--kube-authorization=true", "--kube-admission=true",
                "--timeout", f"{int(timeout)}s"]
        for flag, binary in self.COMPONENT_BINARIES.items():
            args += [flag, str(BIN / binary)]
        # One controller-manager and one scheduler, so no leader election: under heavy load a lease renewal that
        # misses its deadline makes them exit, and nothing restarts them (the whole tier then times out).
        for component in ("kube-controller-manager", "kube-scheduler"):
            args += ["--extra-args", f"{component}=leader-elect=false"]
        # Webhooks (and APIServices) registered through a Service are called at an address of the Service's
        # EndpointSlices, not at its ClusterIP (which nothing routes here: no kube-proxy). A webhook served by a
        # process on this host (the Seldon manager of the tests) is reached through an EndpointSlice naming a
        # host address, with TLS verified against the Service's DNS name as in a real cluster.
        args += ["--extra-args", "kube-apiserver=enable-aggregator-routing=true"]
        # kwokctl leaves kube-apiserver's default Service range, 10.0.0.0/24: 254 ClusterIPs, fewer than 1,000
        # SeldonDeployments need (two Services each; the operator's Services fail "range is full"). kubeadm's.
        args += ["--extra-args", "kube-apiserver=service-cluster-ip-range=10.96.0.0/12"]
        if disable_qps_limits:  # client QPS of the controllers and the apiserver's in-flight limits lifted
            args.append("--disable-qps-limits")
        proc = self.kwokctl(*args, what=f"create kwok cluster {self.name}", timeout=timeout + 30, check=False)
        if proc.returncode != 0:
            tail = "\n".join((proc.stdout + proc.stderr).strip().splitlines()[-20:])
            raise ClusterError(f"kwokctl create cluster {self.name} failed (exit {proc.returncode}):\n{tail}\n"
                               f"Component logs: {self.workdir / 'logs'}; clean up with `scripts/cluster down --name {self.name}`")
        if not self.kubeconfig.exists():
            raise ClusterError(f"kwokctl did not write the kubeconfig {self.kubeconfig}")

    def default_sa_exists(self) -> bool:
        return self.kubectl("get", "serviceaccount", "default", "-n", "default", "-o", "name",
                            what="default service account", timeout=10, check=False).returncode == 0

    def apply_nodes(self, nodes_file: Path | None, timeout: float, nodes_from_chart: Path | None = None) -> None:
        t0 = time.monotonic()
        if nodes_file is not None:
            text, source = nodes_file.read_text(), str(nodes_file)
        elif nodes_from_chart is not None:
            text, source = chart_nodes_yaml(nodes_from_chart), f"gpu-node-pool (simulated) with {nodes_from_chart}"
        else:
            text, source = nodes_yaml(default_nodes()), "default pools (scripts/cluster nodes)"
        # kubectl parses the YAML for us (no PyYAML outside the venv): the nodes as the server will see them.
        nodes = json_stream(self.kubectl("create", "--dry-run=client", "-o", "json", "-f", "-", stdin=text,
                                         what=f"parse nodes from {source}").stdout)
        nodes = [item for n in nodes for item in (n.get("items", []) if n.get("kind") == "List" else [n])]
        if not nodes:
            raise ClusterError(f"--nodes {source}: no Node objects in it (use --no-nodes for none)")
        bad = [n.get("metadata", {}).get("name", "?") for n in nodes if n.get("kind") != "Node"]
        if bad:
            raise ClusterError(f"--nodes {source}: only v1 Node objects are allowed, not {bad}")
        # Server-side apply: one request per node. A Node's status (capacity, allocatable) is taken on create
        # only; applying again resets labels and taints to the file's and leaves the status to kwok.
        self.kubectl("apply", "--server-side", "--force-conflicts", "--field-manager=scripts-cluster", "-f", "-",
                     stdin=text, what=f"apply nodes from {source}", timeout=timeout)
        log(f"      {len(nodes)} nodes applied ({time.monotonic() - t0:.1f}s), waiting for kwok to make them Ready")
        names = [n["metadata"]["name"] for n in nodes]
        want_taints = {n["metadata"]["name"]: sorted((t["key"], t.get("value", ""), t["effect"])
                                                     for t in n.get("spec", {}).get("taints", [])) for n in nodes}
        state: dict[str, str] = {}

        def settled() -> bool:
            got = json.loads(self.kubectl("get", "nodes", "-o", "json", what="list nodes", timeout=30).stdout)
            by_name = {n["metadata"]["name"]: n for n in got["items"]}
            pending = []
            for name in names:
                node = by_name.get(name)
                ready = node and any(c["type"] == "Ready" and c["status"] == "True"
                                     for c in node.get("status", {}).get("conditions", []))
                taints = node and sorted((t["key"], t.get("value", ""), t["effect"])
                                         for t in node.get("spec", {}).get("taints", []))
                if not ready or taints != want_taints[name]:
                    pending.append(f"{name} (ready={bool(ready)}, taints={taints})")
            state["pending"] = "; ".join(pending[:5]) + (" ..." if len(pending) > 5 else "")
            return not pending

        try:
            # (node.kubernetes.io/not-ready is added on create and removed once kwok reports Ready)
            self.wait(f"{len(names)} nodes to be Ready with exactly their declared taints", settled, timeout,
                      interval=0.5 if len(names) <= 50 else 3)
        except ClusterError as err:
            raise ClusterError(f"{err}\nstill pending: {state.get('pending')}") from err
        log(f"[3/4] {len(names)} nodes Ready from {source} ({time.monotonic() - t0:.1f}s)")

    def check_processes(self) -> None:
        dead = {c: p for c, p in self.pids().items() if not pid_alive(p)}
        if dead:
            raise ClusterError(f"components exited: {dead}; see {self.workdir / 'logs'}")

    # -- status
    def status(self) -> int:
        if not self.exists():
            print(f"kwok cluster {self.name!r}: not created (scripts/cluster up --provider kwok"
                  f"{'' if self.name == DEFAULT_NAME else ' --name ' + self.name})")
            return 1
        pids = self.pids()
        if not any(pid_alive(p) for p in pids.values()):
            print(f"kwok cluster {self.name!r}: stopped (`scripts/cluster up` restarts it, `down` deletes it)")
            print(f"  work dir:   {self.workdir}")
            return 1
        ready = self.apiserver_ready()
        healthy = ready and len(pids) >= len(self.COMPONENT_BINARIES) and all(pid_alive(p) for p in pids.values())
        print(f"kwok cluster {self.name!r}: {'running' if healthy else 'NOT healthy'}")
        print(f"  kubeconfig: {self.kubeconfig} (context {self.context})")
        print(f"  work dir:   {self.workdir}")
        print(f"  {'component':<26}{'pid':>8}  {'state':<8}{'rss':>10}")
        total = 0
        for component, pid in pids.items():
            alive = pid_alive(pid)
            rss = rss_kib(pid) if alive else 0
            total += rss
            print(f"  {component:<26}{pid:>8}  {'running' if alive else 'DEAD':<8}{rss / 1024:>7.0f} MiB")
        print(f"  {'total':<26}{'':>8}  {'':<8}{total / 1024:>7.0f} MiB")
        if ready:
            checks = self.kubectl("get", "--raw", "/readyz?verbose", what="readyz", timeout=10, check=False).stdout
            failed = [line for line in checks.splitlines() if line.startswith("[-]")]
            print(f"  apiserver /readyz: ok{'' if not failed else ' but ' + ', '.join(failed)}")
            print("  kube-controller-manager, kube-scheduler: single instances, leader election off")
            print()
            nodes = self.kubectl("get", "nodes", "-o", "wide", "-L", POOL_LABEL, "-L", "nvidia.com/gpu.product",
                                 what="list nodes", timeout=30, check=False)
            print(nodes.stdout.rstrip() or nodes.stderr.rstrip() or "No nodes.")
        else:
            print("  apiserver /readyz: NOT ready")
        return 0 if healthy else 1

    # -- down
    def down(self) -> None:
        start = time.monotonic()
        with locked(f"kwok-{self.name}"):
            started = set(self.pids().values())
            if self.exists() and (BIN / "kwokctl").exists():
                log(f"[1/3] kwok cluster {self.name!r}: deleting (kwokctl delete cluster)")
                proc = self.kwokctl("delete", "cluster", "--name", self.name, "--kubeconfig", str(self.kubeconfig),
                                    what=f"delete kwok cluster {self.name}", timeout=120, check=False)
                if proc.returncode != 0:
                    log(f"      kwokctl delete failed (exit {proc.returncode}); stopping the processes directly")
            else:
                log(f"[1/3] kwok cluster {self.name!r}: {'not created' if not self.exists() else 'kwokctl missing'}")
            # Whatever kwokctl left running (a failed delete, a killed `up`), by pid: only this cluster's
            # component processes (see component_processes).
            binaries = {os.path.realpath(BIN / b) for b in self.COMPONENT_BINARIES.values()}
            leftovers = component_processes(self.workdir, binaries, started)
            for pid in leftovers:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGTERM)
            # a cluster being deleted needs no graceful shutdown (kwokctl kills): 3 s, then SIGKILL
            with contextlib.suppress(TimeoutError):
                wait_until(lambda: not any(pid_alive(p) for p in leftovers), 3, "leftover processes", 0.2)
            alive = {p: c for p, c in leftovers.items() if pid_alive(p)}
            for pid in alive:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
            time.sleep(0.2 if alive else 0)
            survivors = component_processes(self.workdir, binaries, started)
            if survivors:
                raise ClusterError(f"could not stop {survivors}; files kept in {self.workdir}")
            log("[2/3] no process left" + (f" (stopped {len(leftovers)} that kwokctl left: {sorted(leftovers)})"
                                              if leftovers else ""))
            shutil.rmtree(self.workdir, ignore_errors=True)
            self.kubeconfig.unlink(missing_ok=True)
            clusters_dir = self.home / "clusters"
            if clusters_dir.exists() and not any(clusters_dir.iterdir()):
                clusters_dir.rmdir()
            if not clusters_dir.exists() and not any(p.name.startswith("kubeconfig") for p in self.home.glob("*")):
                shutil.rmtree(self.home, ignore_errors=True)   # kwokctl's cache/ and kwok.yaml, if it made any
        forget_lock(f"kwok-{self.name}")
        log(f"[3/3] removed {self.workdir} and {self.kubeconfig} ({time.monotonic() - start:.1f}s)")

