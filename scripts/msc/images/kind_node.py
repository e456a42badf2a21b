"""The offline kind node image, ml-serving-charts/kind-node:<Kubernetes version from pins.toml>.

kind-node is a kind v0.30.0 node image made only from Debian packages and binaries built from Go
modules (images/kind-node/README.md explains every piece). It is built in layers, each cached and
rebuilt only when its inputs change:
  rootfs-node, rootfs-netbase  debootstrap'ed Debian bookworm trees, kept as tarballs in
                               $MSC_CACHE/images (key: suite, mirror, packages, post-install script)
  netbase                      rootfs-netbase + the iptables backend wrapper
  control-plane images         the exact tags `kubeadm config images list` asks for, from our binaries
                               (kube-apiserver, -controller-manager, -scheduler, kube-proxy, etcd,
                               coredns, pause) and the podnet CNI agent
  node layer                   rootfs-node + units, configs, entrypoint, kubelet/kubeadm/kubectl/crictl
  node image                   node layer + every image above preloaded into containerd (k8s.io)
A docker image layer is "cached" when its label io.ml-serving-charts.inputs equals the digest of
its inputs (Dockerfile, files, base image id). --rebuild debootstraps again and rebuilds every image
layer; the binaries (kubectl, pause, runc-capfilter) are rebuilt whenever their own inputs change.
"""
from __future__ import annotations

import functools
import os
import shutil
import subprocess
import time
from pathlib import Path

from .. import dockerd, toolchain
from ..env import BIN, CACHE, IMAGES, IMAGES_CACHE, K8S_VERSION, PINS
from ..gomod import module_dir
from ..proc import BuildError, Step, run_steps, wait_until
from .core import (LABEL, SOURCE_LABEL, ImageSpec, build_image, digest_of, docker, file_sha256, image_id,
                   image_label, image_size_mb, log, own_image, run, write_build_record)
from .rootfs import ROOTFS_PACKAGES, SUITE, rootfs_image, rootfs_tarball, step_rootfs

RECIPE = IMAGES / "kind-node"
NODE_REPO = "ml-serving-charts/kind-node"
NODE_IMAGE = f"{NODE_REPO}:{K8S_VERSION}"
PODNET_REPO = "ml-serving-charts/podnet"
# kind's base image uses pause:3.10 as containerd's sandbox image; kubeadm v1.34 lists 3.10.1.
# Both tags name our one pause build; containerd is configured with kubeadm's.
EXTRA_PAUSE_TAGS = ("registry.k8s.io/pause:3.10",)
# What `kubeadm config images list` names (checked in kubeadm_images()), in the order they are built.
CONTROL_PLANE_IMAGES = ("kube-apiserver", "kube-controller-manager", "kube-scheduler", "kube-proxy", "etcd",
                        "coredns", "pause")

# ---------------------------------------------------------------- inputs: binaries

KUBE_COMMANDS = ("kube-apiserver", "kube-controller-manager", "kube-scheduler", "kube-proxy", "kubelet", "kubeadm")


def tool(name: str) -> Path:
    path = BIN / name
    if not path.exists():
        raise BuildError(f"{path} is missing: run `scripts/bootstrap kwok kind`")
    return path.resolve()


def step_tools() -> str:
    """Kubernetes binaries, etcd (group kwok), coredns and crictl (group kind), built by scripts/bootstrap."""
    needed = [*KUBE_COMMANDS, "etcd", "coredns", "crictl", "kind"]
    missing = [n for n in needed if not (BIN / n).exists()]
    if missing:
        log(f"  missing {', '.join(missing)}: running `scripts/bootstrap kwok kind`")
        toolchain.ensure("kwok", "kind")
        missing = [n for n in needed if not (BIN / n).exists()]
        if missing:
            raise BuildError(f"still missing after bootstrap: {missing}")
        return "built by scripts/bootstrap"
    got = run([str(tool("kubeadm")), "version", "-o", "short"], "kubeadm version").strip()
    if got != K8S_VERSION or not kubectl_path().exists():
        raise BuildError(f"{tool('kubeadm')} reports {got!r} (kubectl for the node: "
                         f"{'present' if kubectl_path().exists() else 'missing'}); pins.toml wants {K8S_VERSION}: "
                         f"run `scripts/bootstrap kwok`")
    return f"present (Kubernetes {got}, etcd, coredns, crictl from {BIN})"


def kubectl_path() -> Path:
    """kubectl at the node's Kubernetes version (kind runs it inside the node; .tools/bin/kubectl is the
    newer client): scripts/bootstrap builds it with the other Kubernetes binaries (pins: node_commands)."""
    return toolchain.kubernetes_dir() / "kubectl"


def pause_tag(kubeadm_images: dict[str, str]) -> str:
    return kubeadm_images["pause"].rsplit(":", 1)[1]


def pause_path(tag: str) -> Path:
    return CACHE / "bin" / f"pause-{tag}" / "pause"


def step_pause() -> str:
    """pause, compiled statically from build/pause/linux/pause.c as its Makefile does (CFLAGS)."""
    tag = pause_tag(kubeadm_images())
    out = pause_path(tag)
    src = module_dir("k8s.io/kubernetes", K8S_VERSION) / "build" / "pause" / "linux" / "pause.c"
    stamp = out.with_name("pause.c.sha256")
    if out.exists() and stamp.exists() and stamp.read_text().strip() == file_sha256(src):
        return f"cached ({out})"
    if not shutil.which("gcc"):
        raise BuildError("gcc is needed to compile pause.c: apt-get install -y gcc libc6-dev")
    out.parent.mkdir(parents=True, exist_ok=True)
    run(["gcc", "-Os", "-Wall", "-Werror", "-static", f"-DVERSION=v{tag}-{K8S_VERSION}", "-o", str(out), str(src)],
        "compile pause.c")
    run(["strip", str(out)], "strip pause")
    stamp.write_text(file_sha256(src) + "\n")
    return f"built ({out}, {run([str(out), '-v'], 'pause -v').strip()})"


def capfilter_path() -> Path:
    return CACHE / "bin" / "runc-capfilter" / "runc-capfilter"


def step_capfilter() -> str:
    before = capfilter_path().exists() and capfilter_path().stat().st_mtime_ns
    dockerd.build_capfilter(capfilter_path())
    return "cached" if before == capfilter_path().stat().st_mtime_ns else f"built ({capfilter_path()})"


@functools.cache
def kubeadm_images() -> dict[str, str]:
    """`kubeadm config images list` as {component: reference} (kube-apiserver, ..., pause, etcd, coredns)."""
    out = run([str(tool("kubeadm")), "config", "images", "list", "--kubernetes-version", K8S_VERSION],
              "kubeadm config images list")
    refs = [line.strip() for line in out.splitlines() if line.strip()]
    images = {ref.rsplit(":", 1)[0].rsplit("/", 1)[1]: ref for ref in refs}
    if set(images) != set(CONTROL_PLANE_IMAGES):
        raise BuildError(f"kubeadm {K8S_VERSION} lists {refs}; this script knows how to build {CONTROL_PLANE_IMAGES}")
    return images

# ---------------------------------------------------------------- images

def netbase_image() -> str:
    """Debian with iptables etc.: the base of the node's podnet image, and the busybox stand-in pods run
    (msc.stack.BUSYBOX_STANDIN), hence one of our own names (core.own_image)."""
    return own_image("netbase", SUITE)


def netbase_spec() -> ImageSpec:
    d = RECIPE / "netbase"
    return ImageSpec([netbase_image()], d / "Dockerfile", {"iptables-wrapper": d / "iptables-wrapper"},
                     base=rootfs_image("netbase"), source="images/kind-node/netbase")


def podnet_spec() -> ImageSpec:
    d = RECIPE / "podnet"
    spec = ImageSpec([f"{PODNET_REPO}:pending"], d / "Dockerfile", {"podnet": d / "podnet"}, base=netbase_image(),
                     source="images/kind-node/podnet")
    spec.tags = [f"{PODNET_REPO}:{spec.digest()[:12]}"]   # content-addressed tag: a change rolls the DaemonSet
    return spec


def component_spec(name: str) -> ImageSpec:
    """The image of one control-plane component, tagged as kubeadm asks for it, from our binaries."""
    images = kubeadm_images()
    d = RECIPE / "components"
    if name in ("kube-apiserver", "kube-controller-manager", "kube-scheduler", "etcd"):
        source = f"k8s.io/kubernetes@{K8S_VERSION} cmd/{name}" if name != "etcd" else \
            f"go.etcd.io/etcd/server/v3@{PINS['go_tools']['etcd']['version']} (tagged as kubeadm expects)"
        return ImageSpec([images[name]], d / "Dockerfile.binary", {name: tool(name)}, build_args={"BINARY": name},
                         source=source)
    if name == "kube-proxy":
        return ImageSpec([images[name]], d / "Dockerfile.kube-proxy", {"kube-proxy": tool("kube-proxy")},
                         base=netbase_image(), source=f"k8s.io/kubernetes@{K8S_VERSION} cmd/kube-proxy")
    if name == "coredns":
        coredns = PINS["go_tools"]["coredns"]["version"]
        want = images["coredns"].rsplit(":", 1)[1]
        if want != coredns:
            raise BuildError(f"kubeadm wants coredns {want} but pins.toml builds {coredns}: align go_tools.coredns")
        return ImageSpec([images["coredns"]], d / "Dockerfile.coredns", {"coredns": tool("coredns")},
                         source=f"github.com/coredns/coredns@{coredns}")
    tag = pause_tag(images)
    return ImageSpec([images["pause"], *EXTRA_PAUSE_TAGS], d / "Dockerfile.pause", {"pause": pause_path(tag)},
                     source=f"k8s.io/kubernetes@{K8S_VERSION} build/pause/linux/pause.c")


def preloaded_specs() -> list[ImageSpec]:
    """Every image the node image carries in containerd: the control plane's and the CNI agent's."""
    return [*(component_spec(n) for n in CONTROL_PLANE_IMAGES), podnet_spec()]

def node_layer_image() -> str:
    return f"{NODE_REPO}-layer:{K8S_VERSION}"


def node_layer_spec() -> ImageSpec:
    images = kubeadm_images()
    podnet = containerd_name(podnet_spec().tags[0])
    files: dict[str, Path | bytes] = {}
    for src in sorted((RECIPE / "files").rglob("*")):
        if src.is_file():
            rel = f"files/{src.relative_to(RECIPE / 'files')}"
            files[rel] = src
    config = (RECIPE / "files" / "etc" / "containerd" / "config.toml").read_text()
    files["files/etc/containerd/config.toml"] = config.replace("@SANDBOX_IMAGE@", images["pause"]).encode()
    files["files/kind/version"] = f"{K8S_VERSION}\n".encode()
    cni = (RECIPE / "podnet" / "default-cni.yaml").read_text().replace("@PODNET_IMAGE@", podnet)
    files["files/kind/manifests/default-cni.yaml"] = cni.encode()
    for name in ("kubelet", "kubeadm", "crictl"):
        files[f"bin/{name}"] = tool(name)
    files["bin/kubectl"] = kubectl_path()
    files["runc-capfilter"] = capfilter_path()
    return ImageSpec([node_layer_image()], RECIPE / "Dockerfile", files, base=rootfs_image("node"),
                     source="images/kind-node")


def containerd_name(ref: str) -> str:
    """How containerd names a docker reference (docker.io/ for a bare name)."""
    first = ref.split("/", 1)[0]
    if "/" not in ref:
        return f"docker.io/library/{ref}"
    if "." in first or ":" in first or first == "localhost":
        return ref
    return f"docker.io/{ref}"


def step_node_image(rebuild: bool) -> str:
    """The node layer with every image preloaded into containerd's k8s.io namespace, committed."""
    refs = [t for s in preloaded_specs() for t in s.tags]
    want = digest_of({"layer": image_id(node_layer_image()), "images": {r: image_id(r) for r in refs}, "recipe": 2})
    if not rebuild and image_label(NODE_IMAGE) == want:
        return f"cached ({NODE_IMAGE}, {image_size_mb(NODE_IMAGE):.0f} MB)"
    name = f"msc-kind-node-build-{os.getpid()}"
    # --init: a reaper as PID 1, so the containerd we stop does not linger as a zombie
    docker("run", "-d", "--init", "--name", name, "--entrypoint", "sleep", "--security-opt", "seccomp=unconfined",
           node_layer_image(), "infinity", what="start the preload container")
    try:
        # containerd with its default config apart from the root; only its content store is used
        pid = docker("exec", name, "bash", "-c", "containerd >/var/log/containerd-preload.log 2>&1 & echo $!",
                     what="start containerd in the preload container").strip()
        try:
            wait_until(lambda: subprocess.run(["docker", "exec", name, "ctr", "version"],
                                              capture_output=True).returncode == 0, 60, "containerd to answer")
        except TimeoutError as err:
            logs = docker("exec", name, "cat", "/var/log/containerd-preload.log", what="containerd log")
            raise BuildError(f"containerd did not start in the preload container:\n{logs[-2000:]}") from err
        save = subprocess.Popen(["docker", "save", *refs], stdout=subprocess.PIPE)
        imp = subprocess.run(["docker", "exec", "-i", name, "ctr", "--namespace=k8s.io", "images", "import",
                              "--label=io.cri-containerd.pinned=pinned", "--all-platforms", "--no-unpack", "--digests",
                              "-"], stdin=save.stdout, capture_output=True, text=True)
        save.stdout.close()  # type: ignore[union-attr]
        if save.wait() != 0 or imp.returncode != 0:
            raise BuildError(f"preload: docker save | ctr images import failed:\n{imp.stdout[-1500:]}{imp.stderr[-1500:]}")
        listed = set(docker("exec", name, "ctr", "--namespace=k8s.io", "images", "ls", "-q",
                            what="list preloaded images").split())
        missing = [r for r in refs if containerd_name(r) not in listed]
        if missing:
            raise BuildError(f"preload: containerd lacks {missing}; it has {sorted(listed)}")
        docker("exec", name, "bash", "-c",
               "alive() { [ -e /proc/{pid} ] && ! grep -q '^State:.*Z' /proc/{pid}/status 2>/dev/null; }; "
               "kill {pid}; for i in $(seq 300); do alive || break; sleep 0.1; done; "
               "! alive && rm -rf /run/containerd /var/log/containerd-preload.log /tmp/* /var/tmp/*"
               .replace("{pid}", pid), what="stop containerd in the preload container")
        # the preload container ran `sleep infinity`: give the image back the node's entrypoint
        docker("commit", "--change", 'ENTRYPOINT ["/usr/local/bin/entrypoint", "/sbin/init"]', "--change", "CMD []",
               "--change", f"LABEL {LABEL}={want}",
               "--change", f'LABEL {SOURCE_LABEL}="images/kind-node (scripts/images kind-node)"',
               name, NODE_IMAGE, what=f"docker commit {NODE_IMAGE}")
    finally:
        subprocess.run(["docker", "rm", "-f", "-v", name], capture_output=True)
    return f"built ({NODE_IMAGE}, {image_size_mb(NODE_IMAGE):.0f} MB, {len(refs)} images preloaded)"


def kind_node_steps(rebuild: bool) -> list[Step]:
    """The build, as steps; a step reads what earlier ones produced (kubeadm's image list needs kubeadm)."""
    steps = [
        Step("docker engine", dockerd.ensure),
        Step(f"Go-built binaries (Kubernetes {K8S_VERSION}, etcd, coredns, crictl)", step_tools),
        Step("pause (gcc -static)", step_pause),
        Step("runc-capfilter (images/lib/runc-capfilter)", step_capfilter),
        Step(f"rootfs node (debootstrap {SUITE})", lambda: step_rootfs("node", rebuild)),
        Step(f"rootfs netbase (debootstrap {SUITE})", lambda: step_rootfs("netbase", rebuild)),
        Step(f"image {netbase_image()}", lambda: build_image(netbase_spec(), rebuild)),
    ]
    steps += [Step(f"image {name}", lambda n=name: build_image(component_spec(n), rebuild)) for name in CONTROL_PLANE_IMAGES]
    steps += [Step(f"image {PODNET_REPO} (CNI agent)", lambda: build_image(podnet_spec(), rebuild)),
              Step(f"image {node_layer_image()} (node layer)", lambda: build_image(node_layer_spec(), rebuild)),
              Step(f"image {NODE_IMAGE} (preload the images above)", lambda: step_node_image(rebuild))]
    return steps


def build_kind_node(rebuild: bool = False) -> str:
    """Build (or reuse) the node image; returns its tag."""
    IMAGES_CACHE.mkdir(parents=True, exist_ok=True)
    start = time.monotonic()
    timings = run_steps(kind_node_steps(rebuild), log, "scripts/images kind-node")
    removed = prune_stale()
    if removed:
        log(f"removed {len(removed)} superseded layer(s): {', '.join(removed)}")
    total = time.monotonic() - start
    write_build_record("kind-node", {"image": NODE_IMAGE, "total_seconds": round(total, 1), "steps": timings})
    log(f"{NODE_IMAGE} ready in {total:.1f}s ({len(timings)} steps)")
    return NODE_IMAGE


def prune_stale() -> list[str]:
    """Remove what an earlier build left behind: superseded rootfs tarballs and image tags, and our
    untagged images. Images still used by a container stay (docker refuses, and that is fine)."""
    removed = []
    current_tarballs = {rootfs_tarball(f) for f in ROOTFS_PACKAGES}
    for tarball in IMAGES_CACHE.glob(f"rootfs-*-{SUITE}-*.tar.gz"):
        if tarball not in current_tarballs:
            tarball.unlink()
            removed.append(tarball.name)
    current_refs = {rootfs_image(f) for f in ROOTFS_PACKAGES} | {podnet_spec().tags[0]}
    for repo in ("ml-serving-charts/rootfs", PODNET_REPO):
        listed = run(["docker", "images", "--format", "{{.Repository}}:{{.Tag}}", repo], "docker images").split()
        for ref in listed:
            if ref not in current_refs and subprocess.run(["docker", "rmi", ref], capture_output=True).returncode == 0:
                removed.append(ref)
    dangling = run(["docker", "images", "-q", "--filter", "dangling=true", "--filter", f"label={LABEL}"],
                   "docker images").split()
    for iid in dict.fromkeys(dangling):
        if subprocess.run(["docker", "rmi", iid], capture_output=True).returncode == 0:
            removed.append(iid[:19])
    return removed
