"""The kind provider of scripts/cluster: real nodes (Docker containers) from the offline
node image that `scripts/images kind-node` builds, created with kind v0.30.0.

Topology: one node per pool of the kwok provider's, with the same labels, taints and GPU count
(msc.clusters.contract: the one Python definition of the GPU contract):
  <name>-control-plane   control plane
  <name>-worker          CPU pool:  ml-serving-charts.io/pool=cpu
  <name>-worker2         GPU pool:  ml-serving-charts.io/pool=gpu-l4, nvidia.com/gpu.present=true,
                         nvidia.com/gpu.product=NVIDIA-L4 (+ GPU feature discovery's other labels),
                         tainted nvidia.com/gpu:NoSchedule (GPU_TAINT), nvidia.com/gpu capacity 2
The labels go in through kind's node `labels` (kubelet --node-labels), the taint through a kubeadm
JoinConfiguration patch, so both exist from the node's registration on. The controller-manager scales HPAs down
after 30 s of lower load instead of 5 minutes (HPA_DOWNSCALE_STABILIZATION), so tests see a scale-down. The GPU capacity is an
extended resource patched into the node's status (see advertise_gpus()).

Files: .cluster/kind/kubeconfig (printed by `up`), kind-config-<name>.json, state-<name>.json and,
after a failed create, logs-<name>/ (kind export logs). `down` removes them all, deletes the cluster and
stops the Docker engine if `up` started it (and nothing else runs on it).
"""
from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import time
from pathlib import Path
from typing import Callable

from .. import dockerd
from ..env import BIN, CLUSTERS
from ..images import core as images
from ..images.kind_node import build_kind_node
from ..proc import ClusterError, run
from .common import DEFAULT_NAME, ApiServer, forget_lock, locked, log, wait
from .contract import GPU_RESOURCE, POOL_LABEL, pool_template

KIND_HOME = CLUSTERS / "kind"
# A test cluster sees an HPA scale down within a test: 30 s of downscale stabilization, not the default 5 minutes
# (Seldon 1.17's hpaSpec has no `behavior` to set it per HPA). kind writes kubeadm v1beta3 (extraArgs is a map).
HPA_DOWNSCALE_STABILIZATION = "30s"
CONTROLLER_MANAGER_ARGS = ("kind: ClusterConfiguration\ncontrollerManager:\n  extraArgs:\n"
                           f"    horizontal-pod-autoscaler-downscale-stabilization: {HPA_DOWNSCALE_STABILIZATION}\n")
CPU_POOL = "cpu"
GPU_POOL = "gpu-l4"


class KindCluster(ApiServer):
    """A kind cluster of the offline node image; same Provider interface as msc.clusters.kwok.KwokCluster."""

    provider = "kind"

    def __init__(self, name: str = DEFAULT_NAME, home: Path = KIND_HOME) -> None:
        if not name or not all(ch.isalnum() and ch.islower() or ch.isdigit() or ch == "-" for ch in name) \
                or name.startswith("-") or name.endswith("-"):
            raise ClusterError(f"cluster name {name!r}: use lower-case letters, digits and '-'")
        self.name = name
        self.home = home
        self.kubeconfig = home / ("kubeconfig" if name == DEFAULT_NAME else f"kubeconfig-{name}")
        self.config_file = home / f"kind-config-{name}.json"
        self.state_file = home / f"state-{name}.json"
        self.logs_dir = home / f"logs-{name}"
        self.context = f"kind-{name}"

    # -- tools
    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if k != "KUBECONFIG"}
        env["PATH"] = f"{BIN}{os.pathsep}{env.get('PATH', '')}"
        env["KIND_EXPERIMENTAL_PROVIDER"] = "docker"
        return env

    def kind(self, *args: str, what: str, timeout: float = 300, check: bool = True) -> subprocess.CompletedProcess:
        return run([str(BIN / "kind"), *args], what, timeout=timeout, check=check, env=self.env(),
                   hint="run `scripts/bootstrap kind`", tail=25)

    def kubectl(self, *args: str, what: str, timeout: float = 60, check: bool = True,
                stdin: str | None = None) -> subprocess.CompletedProcess:
        return run([str(BIN / "kubectl"), "--kubeconfig", str(self.kubeconfig), *args], what,
                   timeout=timeout, check=check, input=stdin, hint="run `scripts/bootstrap kind`")

    def check_tools(self) -> None:
        missing = [b for b in ("kind", "kubectl") if not (BIN / b).exists()]
        if missing:
            raise ClusterError(f"missing {', '.join(missing)} in {BIN}: run `scripts/bootstrap kind`")

    # -- state
    def read_state(self) -> dict:
        with contextlib.suppress(OSError, ValueError):
            return json.loads(self.state_file.read_text())
        return {}

    def write_state(self, **changes: object) -> None:
        self.home.mkdir(parents=True, exist_ok=True)
        self.state_file.write_text(json.dumps({**self.read_state(), **changes}, indent=2) + "\n")

    def exists(self) -> bool:
        if not dockerd.engine_answers() or not (BIN / "kind").exists():
            return False
        proc = self.kind("get", "clusters", what="kind get clusters", check=False)
        return self.name in proc.stdout.split()

    def node_containers(self) -> dict[str, str]:
        """Node container name -> state (running, exited, ...)."""
        proc = run(["docker", "ps", "-a", "--filter", f"label=io.x-k8s.kind.cluster={self.name}",
                    "--format", "{{.Names}}\t{{.State}}"], "list the node containers", check=False)
        return dict(line.split("\t", 1) for line in proc.stdout.splitlines() if "\t" in line)

    def running(self) -> bool:
        containers = self.node_containers()
        return bool(containers) and all(s == "running" for s in containers.values())

    def wait(self, what: str, check: Callable[[], bool], timeout: float, interval: float = 2,
             detail: Callable[[], str] | None = None) -> None:
        wait(what, check, timeout, interval, detail)

    # -- config
    def kind_config(self) -> dict:
        """Control plane, one CPU-pool worker, one GPU-pool worker. Labels through kind's node labels
        (kubelet --node-labels), the GPU taint through kubeadm's JoinConfiguration, so the node
        registers with both and nothing unlabelled or untainted is ever schedulable."""
        cpu_labels, _, _ = pool_template(CPU_POOL)
        gpu_labels, gpu_taints, _ = pool_template(GPU_POOL)
        taint_lines = "".join(
            f"  - key: {json.dumps(t['key'])}\n"
            + (f"    value: {json.dumps(t['value'])}\n" if t.get("value") else "")
            + f"    effect: {json.dumps(t['effect'])}\n" for t in gpu_taints)
        join_taints = "kind: JoinConfiguration\nnodeRegistration:\n  taints:\n" + taint_lines
        return {
            "kind": "Cluster",
            "apiVersion": "kind.x-k8s.io/v1alpha4",
            "name": self.name,
            "nodes": [
                {"role": "control-plane", "kubeadmConfigPatches": [CONTROLLER_MANAGER_ARGS]},
                {"role": "worker", "labels": cpu_labels},
                {"role": "worker", "labels": gpu_labels,
                 **({"kubeadmConfigPatches": [join_taints]} if gpu_taints else {})},
            ],
        }

    # -- up
    def up(self, nodes_file: Path | None = None, apply_nodes: bool = True, timeout: float = 600,
           disable_qps_limits: bool = False, nodes_from_chart: Path | None = None, **_kwok_only: object) -> Path:
        """Create (or reuse) the cluster; returns the kubeconfig path. The node options are kwok's."""
        if nodes_file is not None or nodes_from_chart is not None:
            raise ClusterError("--nodes is for --provider kwok; kind's nodes are real containers "
                               "(control plane, CPU worker, GPU worker)")
        self.check_tools()
        start = time.monotonic()
        steps = 7
        with locked(f"kind-{self.name}"):
            t0 = time.monotonic()
            engine = dockerd.ensure()
            if engine == "started":
                self.write_state(dockerd_started=True)
            log(f"[1/{steps}] docker engine: {engine} ({time.monotonic() - t0:.1f}s)")

            t0 = time.monotonic()
            image = build_kind_node()
            log(f"[2/{steps}] node image {image}: ready ({time.monotonic() - t0:.1f}s)")

            t0 = time.monotonic()
            if self.exists() and self.running():
                self.kind("export", "kubeconfig", "--name", self.name, "--kubeconfig", str(self.kubeconfig),
                          what="kind export kubeconfig")
                stale = self.nodes_on_stale_image(image)
                note = f"; nodes run an older {image} ({', '.join(stale)}): `down` then `up` to use the new one" \
                    if stale else ""
                log(f"[3/{steps}] kind cluster {self.name!r}: already running, reused{note}")
            else:
                if self.exists():
                    log(f"      kind cluster {self.name!r} exists but not every node runs "
                        f"({self.node_containers()}): deleting it first")
                    self.kind("delete", "cluster", "--name", self.name, what="kind delete cluster", timeout=300)
                self.create(image, timeout)
                log(f"[3/{steps}] kind cluster {self.name!r}: created ({time.monotonic() - t0:.1f}s)")

            t0 = time.monotonic()
            timeout = max(timeout, 300)   # real nodes: image unpacking and kubeadm take minutes on 2 cores
            self.wait("the API server", self.apiserver_ready, timeout)
            self.wait("3 nodes Ready", self.nodes_ready, timeout, detail=self.nodes_summary)
            log(f"[4/{steps}] nodes Ready: {self.nodes_summary()} ({time.monotonic() - t0:.1f}s)")

            t0 = time.monotonic()
            gpus = self.advertise_gpus()
            log(f"[5/{steps}] GPU capacity advertised: {gpus} ({time.monotonic() - t0:.1f}s)")

            t0 = time.monotonic()
            self.wait("kube-system (coredns, kube-proxy, podnet) Ready", self.system_ready, timeout,
                      detail=self.system_summary)
            log(f"[6/{steps}] kube-system Ready: {self.system_summary()} ({time.monotonic() - t0:.1f}s)")
            self.write_state(image=image, image_id=images.image_id(image), kubeconfig=str(self.kubeconfig))
        log(f"[7/{steps}] kind cluster {self.name!r} up in {time.monotonic() - start:.1f}s; "
            f"export KUBECONFIG={self.kubeconfig}")
        return self.kubeconfig

    def create(self, image: str, timeout: float) -> None:
        self.home.mkdir(parents=True, exist_ok=True)
        self.config_file.write_text(json.dumps(self.kind_config(), indent=2) + "\n")
        shutil.rmtree(self.logs_dir, ignore_errors=True)
        log(f"      kind create cluster --name {self.name} --image {image} (3 nodes; a few minutes on 2 cores)")
        proc = self.kind("create", "cluster", "--name", self.name, "--image", image, "--config", str(self.config_file),
                         "--kubeconfig", str(self.kubeconfig), "--wait", "0s", "--retain",
                         what=f"kind create cluster {self.name}", timeout=max(timeout, 900), check=False)
        if proc.returncode != 0:
            tail = "\n".join((proc.stdout + proc.stderr).strip().splitlines()[-25:])
            self.kind("export", "logs", str(self.logs_dir), "--name", self.name, what="kind export logs",
                      timeout=300, check=False)
            self.kind("delete", "cluster", "--name", self.name, what="kind delete cluster", timeout=300, check=False)
            raise ClusterError(f"kind create cluster {self.name} failed (exit {proc.returncode}):\n{tail}\n"
                               f"Node logs (journal, containerd, kubelet): {self.logs_dir}")

    def nodes_on_stale_image(self, image: str) -> list[str]:
        want = images.image_id(image)
        stale = []
        for node in self.node_containers():
            got = run(["docker", "inspect", "-f", "{{.Image}}", node], "inspect node", check=False).stdout.strip()
            if want and got and got != want:
                stale.append(node)
        return stale

    # -- nodes and GPUs
    def nodes(self) -> list[dict]:
        proc = self.kubectl("get", "nodes", "-o", "json", what="list nodes", check=False)
        return json.loads(proc.stdout)["items"] if proc.returncode == 0 else []

    def nodes_ready(self) -> bool:
        nodes = self.nodes()
        return len(nodes) == 3 and all(self.ready(n) for n in nodes)

    @staticmethod
    def ready(node: dict) -> bool:
        return any(c["type"] == "Ready" and c["status"] == "True" for c in node.get("status", {}).get("conditions", []))

    def nodes_summary(self) -> str:
        label = POOL_LABEL
        return ", ".join(f"{n['metadata']['name']}({n['metadata'].get('labels', {}).get(label, 'control-plane')}"
                         f"{'' if self.ready(n) else ', NotReady'})" for n in self.nodes()) or "no nodes yet"

    def advertise_gpus(self) -> str:
        """Give every GPU-pool node `nvidia.com/gpu` capacity and allocatable.

        An extended resource patched into a node's status stays there: the kubelet rebuilds only the
        resources it manages (cpu, memory, pods, ephemeral-storage, hugepages, device-plugin resources)
        and derives allocatable from capacity, so it keeps ours (the documented way to advertise
        extended resources). Kubelet does zero extended resources when it finds no device-manager
        checkpoint (a re-created node), so `up` re-applies the patch every time; it is idempotent. A
        device-plugin stand-in would need a gRPC server on the kubelet's socket for the same effect.
        """
        label, resource = POOL_LABEL, GPU_RESOURCE
        count = pool_template(GPU_POOL)[2]
        if not count:
            raise ClusterError(f"pool {GPU_POOL!r} in msc.clusters.contract has no {resource} capacity")
        done = []
        for node in self.kubectl("get", "nodes", "-l", f"{label}={GPU_POOL}", "-o", "name",
                                 what="list GPU nodes").stdout.split():
            patch = json.dumps({"status": {"capacity": {resource: count}, "allocatable": {resource: count}}})
            self.kubectl("patch", node, "--subresource=status", "--type=merge", "-p", patch,
                         what=f"advertise {resource} on {node}")
            done.append(f"{node.split('/', 1)[1]}={count}")
        if not done:
            raise ClusterError(f"no node labelled {label}={GPU_POOL}: the kind config's labels did not apply")

        def allocatable() -> bool:
            return all(n["status"].get("allocatable", {}).get(resource) == count for n in self.nodes()
                       if n["metadata"].get("labels", {}).get(label) == GPU_POOL)
        self.wait(f"{resource} allocatable on the GPU nodes", allocatable, 60)
        return ", ".join(done)

    # -- kube-system
    def system_ready(self) -> bool:
        return not self.system_pending()

    def system_pending(self) -> list[str]:
        pending = []
        for kind, name in (("deployment", "coredns"), ("daemonset", "kube-proxy"), ("daemonset", "podnet")):
            proc = self.kubectl("get", kind, name, "-n", "kube-system", "-o", "json", what=f"{kind} {name}",
                                check=False)
            if proc.returncode != 0:
                pending.append(f"{name} (missing)")
                continue
            obj = json.loads(proc.stdout)
            st = obj.get("status", {})
            want = st.get("desiredNumberScheduled") if kind == "daemonset" else obj["spec"].get("replicas", 1)
            have = st.get("numberReady") if kind == "daemonset" else st.get("readyReplicas", 0)
            if not want or (have or 0) < want:
                pending.append(f"{name} ({have or 0}/{want or '?'})")
        return pending

    def system_summary(self) -> str:
        pending = self.system_pending()
        return "coredns, kube-proxy and podnet all Ready" if not pending else "waiting for " + ", ".join(pending)

    # -- images
    def load(self, refs: list[str], nodes: list[str] | None = None) -> float:
        """`kind load docker-image` into the given nodes, by default every worker (workloads never run on the
        control plane; kind skips images a node already has); returns the seconds it took."""
        if not refs:
            return 0.0
        t0 = time.monotonic()
        workers = nodes or [n for n in self.kind("get", "nodes", "--name", self.name, what="kind get nodes").stdout.split()
                            if not n.endswith("-control-plane")]
        self.kind("load", "docker-image", "--name", self.name, *(["--nodes", ",".join(workers)] if workers else []),
                  *refs, what=f"kind load docker-image {' '.join(refs)}", timeout=1200)
        return time.monotonic() - t0

    # -- status
    def status(self) -> int:
        if not dockerd.engine_answers():
            print(f"kind cluster {self.name!r}: Docker engine not running (`scripts/cluster up --provider kind`)")
            return 1
        if not self.exists():
            print(f"kind cluster {self.name!r}: not created (scripts/cluster up --provider kind"
                  f"{'' if self.name == DEFAULT_NAME else ' --name ' + self.name})")
            return 1
        state = self.read_state()
        containers = self.node_containers()
        healthy = self.running() and self.apiserver_ready()
        print(f"kind cluster {self.name!r}: {'running' if healthy else 'NOT healthy'}")
        print(f"  kubeconfig: {self.kubeconfig} (context {self.context})")
        print(f"  image:      {state.get('image', '?')}")
        print(f"  docker:     {'started for this cluster' if state.get('dockerd_started') else 'not started for this cluster'}")
        for name, st in sorted(containers.items()):
            print(f"  node container {name:<28}{st}")
        if healthy:
            resource = GPU_RESOURCE
            print()
            print(self.kubectl("get", "nodes", "-o", "wide", "-L", POOL_LABEL, "-L", "nvidia.com/gpu.product",
                               what="list nodes").stdout.rstrip())
            for n in self.nodes():
                gpus = n["status"].get("allocatable", {}).get(resource)
                taints = [f"{t['key']}{'=' + t['value'] if t.get('value') else ''}:{t['effect']}"
                          for t in n["spec"].get("taints", [])]
                print(f"  {n['metadata']['name']:<24} {resource}={gpus or '-':<4} taints={taints or '-'}")
            print(f"  kube-system: {self.system_summary()}")
        return 0 if healthy else 1

    # -- down
    def down(self) -> None:
        start = time.monotonic()
        with locked(f"kind-{self.name}"):
            state = self.read_state()
            if state and not dockerd.engine_answers() and os.geteuid() == 0:
                # the engine stopped under a cluster we made: start it, or its containers outlive `down`
                if dockerd.ensure() == "started":
                    state["dockerd_started"] = True
            if self.exists():
                log(f"[1/3] kind cluster {self.name!r}: deleting (kind delete cluster)")
                self.kind("delete", "cluster", "--name", self.name, "--kubeconfig", str(self.kubeconfig),
                          what=f"kind delete cluster {self.name}", timeout=300)
            else:
                log(f"[1/3] kind cluster {self.name!r}: not running")
            if state.get("dockerd_started") and dockerd.started_by_us():
                others = run(["docker", "ps", "-q"], "list containers", check=False).stdout.split() \
                    if dockerd.engine_answers() else []
                if others:
                    log(f"[2/3] docker engine: started for this cluster but {len(others)} other container(s) run; left running")
                else:
                    dockerd.stop()
                    log("[2/3] docker engine: stopped (it was started for this cluster)")
            else:
                log("[2/3] docker engine: left as it was (not started for this cluster)")
            for path in (self.kubeconfig, self.config_file, self.state_file):
                path.unlink(missing_ok=True)
            shutil.rmtree(self.logs_dir, ignore_errors=True)
            if self.home.exists() and not any(self.home.iterdir()):
                self.home.rmdir()
        forget_lock(f"kind-{self.name}")
        log(f"[3/3] removed the cluster's files under {self.home} ({time.monotonic() - start:.1f}s)")
