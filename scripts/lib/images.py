#!/usr/bin/env python3
"""Build the container images the kind tier needs, offline (no container registry is reachable).

Usage:
  scripts/images kind-node [--rebuild]   # ml-serving-charts/kind-node:<Kubernetes version from pins.toml>
  scripts/images list                    # what each layer is, its cache key and whether it is built
  scripts/images IMAGE|GROUP [--rebuild] # an image the charts run (images/models/README.md): iris-model,
                                         # iris-transformer, iris-combiner, mlserver-iris, helm-test-client,
                                         # prometheus, prometheus-operator; groups: models, monitoring, all

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

Standard library only (runs before the venv exists). Needs root (debootstrap, dockerd).
"""
from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable, Iterator

sys.path.insert(0, str(Path(__file__).resolve().parent))
import dockerd  # noqa: E402
import processes  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
PINS = tomllib.loads((ROOT / "scripts" / "pins.toml").read_text())
K8S_VERSION: str = PINS["kubernetes"]["version"]
TOOLS_BIN = Path(os.environ.get("MSC_TOOLS", ROOT / ".tools")) / "bin"
CACHE = Path(os.environ.get("MSC_CACHE", Path.home() / ".cache" / "ml-serving-charts"))
IMAGES_CACHE = CACHE / "images"
RECIPE = ROOT / "images" / "kind-node"
NODE_REPO = "ml-serving-charts/kind-node"
NODE_IMAGE = f"{NODE_REPO}:{K8S_VERSION}"
LABEL = "io.ml-serving-charts.inputs"
SOURCE_LABEL = "io.ml-serving-charts.source"
PODNET_REPO = "ml-serving-charts/podnet"
# kind's base image uses pause:3.10 as containerd's sandbox image; kubeadm v1.34 lists 3.10.1.
# Both tags name our one pause build; containerd is configured with kubeadm's.
EXTRA_PAUSE_TAGS = ("registry.k8s.io/pause:3.10",)

SUITE = "bookworm"
MIRROR = "http://deb.debian.org/debian"
SECURITY_MIRROR = "http://deb.debian.org/debian-security"
ROOTFS_PACKAGES = {
    # kind-node-contract.md §2/§5: systemd as init, containerd + runc + CNI plugins, and what kubelet,
    # kubeadm, kube-proxy and kind call on the node (iptables, conntrack, ip, mount, pgrep, ...).
    "node": ["systemd", "systemd-sysv", "dbus", "containerd", "runc", "containernetworking-plugins",
             "iptables", "nftables", "iproute2", "conntrack", "ethtool", "socat", "mount", "util-linux",
             "kmod", "ca-certificates", "procps", "bash", "findutils", "libseccomp2"],
    # base of kube-proxy and podnet: iptables and conntrack for kube-proxy, curl + jq for podnet
    "netbase": ["iptables", "nftables", "conntrack", "iproute2", "kmod", "ca-certificates", "curl", "jq"],
    # builder of the shell-less python images (images/models/base): python3.11, venv, pip's CA bundle
    "python": ["python3", "python3-venv", "ca-certificates"],
}


class BuildError(Exception):
    """A step that could not finish; the message says what failed and how to retry."""


def log(msg: str) -> None:
    print(f"[images] {msg}", flush=True)


def run(cmd: list[str], what: str, timeout: float = 1800, env: dict | None = None, cwd: Path | None = None,
        stdin: int | None = None, log_file: Path | None = None) -> str:
    """Run a command; output goes to log_file when given (and its tail into the error)."""
    return processes.run(cmd, what, error=BuildError, timeout=timeout, env={**os.environ, **(env or {})}, cwd=cwd,
                         stdin=stdin, log_file=log_file).stdout


def docker(*args: str, what: str, timeout: float = 1800, env: dict | None = None,
           log_file: Path | None = None) -> str:
    return run(["docker", *args], what, timeout=timeout, env=env, log_file=log_file)


# ---------------------------------------------------------------- hashing and docker image state

_HASH_MEMO: dict[str, str] = {}
_HASH_MEMO_FILE = IMAGES_CACHE / ".file-hashes.json"


def file_sha256(path: Path) -> str:
    """sha256 of a file, memoised by (path, size, mtime) across runs: binaries are hundreds of MB."""
    if not _HASH_MEMO and _HASH_MEMO_FILE.exists():
        with contextlib.suppress(ValueError, OSError):
            _HASH_MEMO.update(json.loads(_HASH_MEMO_FILE.read_text()))
    st = path.stat()
    key = f"{path.resolve()}|{st.st_size}|{st.st_mtime_ns}"
    if key not in _HASH_MEMO:
        h = hashlib.sha256()
        with open(path, "rb") as fh:
            for chunk in iter(lambda: fh.read(1 << 20), b""):
                h.update(chunk)
        _HASH_MEMO[key] = h.hexdigest()
        IMAGES_CACHE.mkdir(parents=True, exist_ok=True)
        _HASH_MEMO_FILE.write_text(json.dumps(_HASH_MEMO, indent=0, sort_keys=True))
    return _HASH_MEMO[key]


def digest_of(parts: dict) -> str:
    return hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()


def image_id(ref: str) -> str | None:
    proc = subprocess.run(["docker", "image", "inspect", "-f", "{{.Id}}", ref], capture_output=True, text=True)
    return proc.stdout.strip() if proc.returncode == 0 else None


def image_label(ref: str, label: str = LABEL) -> str | None:
    proc = subprocess.run(["docker", "image", "inspect", "-f", f'{{{{index .Config.Labels "{label}"}}}}', ref],
                          capture_output=True, text=True)
    return proc.stdout.strip() if proc.returncode == 0 else None


def image_size_mb(ref: str) -> float:
    proc = subprocess.run(["docker", "image", "inspect", "-f", "{{.Size}}", ref], capture_output=True, text=True)
    return int(proc.stdout.strip() or 0) / 1e6 if proc.returncode == 0 else 0.0


# ---------------------------------------------------------------- build plan

@dataclass
class Step:
    label: str
    fn: Callable[[], str]


@dataclass
class ImageSpec:
    """One docker image built from a Dockerfile and a context assembled from files."""
    tags: list[str]
    dockerfile: Path
    files: dict[str, Path | bytes]            # context path -> source file (or content)
    base: str | None = None                   # image passed as --build-arg BASE (its id goes in the digest)
    build_args: dict[str, str] = field(default_factory=dict)
    source: str = ""                          # what the image is built from (a label, for people)

    def digest(self) -> str:
        files = {}
        for rel, src in sorted(self.files.items()):
            if isinstance(src, bytes):
                files[rel] = ["bytes", hashlib.sha256(src).hexdigest()]
            else:
                files[rel] = [oct(src.stat().st_mode & 0o111), file_sha256(src)]
        return digest_of({"dockerfile": self.dockerfile.read_text(), "files": files, "args": self.build_args,
                          "base": image_id(self.base) if self.base else None, "source": self.source})


def build_image(spec: ImageSpec, rebuild: bool) -> str:
    want = spec.digest()
    main = spec.tags[0]
    if not rebuild and image_label(main) == want and all(image_id(t) == image_id(main) for t in spec.tags):
        return f"cached ({main})"
    with tempfile.TemporaryDirectory(prefix="msc-image-ctx-", dir=IMAGES_CACHE) as tmp:
        ctx = Path(tmp)
        for rel, src in spec.files.items():
            dest = ctx / rel
            dest.parent.mkdir(parents=True, exist_ok=True)
            if isinstance(src, bytes):
                dest.write_bytes(src)
            else:
                try:
                    os.link(src.resolve(), dest)      # same filesystem: no copy of big binaries (mode kept)
                except OSError:
                    shutil.copy2(src.resolve(), dest)
        shutil.copy(spec.dockerfile, ctx / "Dockerfile")
        args = [f"--build-arg={k}={v}" for k, v in {**spec.build_args, **({"BASE": spec.base} if spec.base else {})}.items()]
        labels = [f"--label={LABEL}={want}"] + ([f"--label={SOURCE_LABEL}={spec.source}"] if spec.source else [])
        tags = [a for t in spec.tags for a in ("-t", t)]
        safe = main.replace("/", "_").replace(":", "_")
        docker("build", "--force-rm", *(["--no-cache"] if rebuild else []), *args, *labels, *tags, str(ctx),
               what=f"docker build {main}", env={"DOCKER_BUILDKIT": "0"},
               log_file=IMAGES_CACHE / "logs" / f"build-{safe}.log")
    return f"built {main} ({image_size_mb(main):.0f} MB)"


# ---------------------------------------------------------------- inputs: binaries

KUBE_COMMANDS = ("kube-apiserver", "kube-controller-manager", "kube-scheduler", "kube-proxy", "kubelet", "kubeadm")


def tool(name: str) -> Path:
    path = TOOLS_BIN / name
    if not path.exists():
        raise BuildError(f"{path} is missing: run `scripts/bootstrap kwok kind`")
    return path.resolve()


def step_tools() -> str:
    """Kubernetes binaries, etcd (group kwok), coredns and crictl (group kind), built by scripts/bootstrap."""
    needed = [*KUBE_COMMANDS, "etcd", "coredns", "crictl", "kind"]
    missing = [n for n in needed if not (TOOLS_BIN / n).exists()]
    if missing:
        log(f"  missing {', '.join(missing)}: running `scripts/bootstrap kwok kind`")
        proc = subprocess.run([str(ROOT / "scripts" / "bootstrap"), "kwok", "kind"])
        if proc.returncode != 0:
            raise BuildError("scripts/bootstrap kwok kind failed (see above)")
        missing = [n for n in needed if not (TOOLS_BIN / n).exists()]
        if missing:
            raise BuildError(f"still missing after bootstrap: {missing}")
        return "built by scripts/bootstrap"
    got = run([str(tool("kubeadm")), "version", "-o", "short"], "kubeadm version").strip()
    if got != K8S_VERSION or not kubectl_path().exists():
        raise BuildError(f"{tool('kubeadm')} reports {got!r} (kubectl for the node: "
                         f"{'present' if kubectl_path().exists() else 'missing'}); pins.toml wants {K8S_VERSION}: "
                         f"run `scripts/bootstrap kwok`")
    return f"present (Kubernetes {got}, etcd, coredns, crictl from {TOOLS_BIN})"


def kubectl_path() -> Path:
    """kubectl at the node's Kubernetes version (kind runs it inside the node; .tools/bin/kubectl is the
    newer client): scripts/bootstrap builds it with the other Kubernetes binaries (pins: node_commands)."""
    return CACHE / "bin" / f"kubernetes-{K8S_VERSION}" / "kubectl"


def kubernetes_module_dir() -> Path:
    out = run(["go", "mod", "download", "-json", f"k8s.io/kubernetes@{K8S_VERSION}"], "download k8s.io/kubernetes",
              env={"GOWORK": "off", "GOFLAGS": "-buildvcs=false"})
    return Path(json.loads(out)["Dir"])


def pause_tag(kubeadm_images: dict[str, str]) -> str:
    return kubeadm_images["pause"].rsplit(":", 1)[1]


def pause_path(tag: str) -> Path:
    return CACHE / "bin" / f"pause-{tag}" / "pause"


def step_pause(kubeadm_images: dict[str, str]) -> str:
    """pause, compiled statically from build/pause/linux/pause.c as its Makefile does (CFLAGS)."""
    tag = pause_tag(kubeadm_images)
    out = pause_path(tag)
    src = kubernetes_module_dir() / "build" / "pause" / "linux" / "pause.c"
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


def kubeadm_images() -> dict[str, str]:
    """`kubeadm config images list` as {component: reference} (kube-apiserver, ..., pause, etcd, coredns)."""
    out = run([str(tool("kubeadm")), "config", "images", "list", "--kubernetes-version", K8S_VERSION],
              "kubeadm config images list")
    refs = [line.strip() for line in out.splitlines() if line.strip()]
    images = {ref.rsplit(":", 1)[0].rsplit("/", 1)[1]: ref for ref in refs}
    expected = {"kube-apiserver", "kube-controller-manager", "kube-scheduler", "kube-proxy", "pause", "etcd", "coredns"}
    if set(images) != expected:
        raise BuildError(f"kubeadm {K8S_VERSION} lists {refs}; this script knows how to build {sorted(expected)}")
    return images


# ---------------------------------------------------------------- rootfs (debootstrap)

def rootfs_key(flavour: str) -> str:
    post = (RECIPE / "rootfs-post.sh").read_bytes()
    return digest_of({"suite": SUITE, "mirror": MIRROR, "security": SECURITY_MIRROR, "variant": "minbase",
                      "packages": sorted(ROOTFS_PACKAGES[flavour]), "post": hashlib.sha256(post).hexdigest(),
                      "flavour": flavour})[:16]


def rootfs_tarball(flavour: str) -> Path:
    return IMAGES_CACHE / f"rootfs-{flavour}-{SUITE}-{rootfs_key(flavour)}.tar.gz"


def rootfs_image(flavour: str) -> str:
    return f"ml-serving-charts/rootfs:{flavour}-{SUITE}-{rootfs_key(flavour)}"


def unmount_under(path: Path) -> None:
    """Unmount whatever an interrupted chroot step left mounted below path (deepest first)."""
    mounts = [line.split()[4] for line in Path("/proc/self/mountinfo").read_text().splitlines()]
    for target in sorted((m for m in mounts if m.startswith(str(path) + "/")), key=len, reverse=True):
        subprocess.run(["umount", "-l", target], capture_output=True)


def step_rootfs(flavour: str, rebuild: bool) -> str:
    tarball = rootfs_tarball(flavour)
    image = rootfs_image(flavour)
    made = []
    if rebuild or not tarball.exists():
        if not shutil.which("debootstrap"):
            log("  debootstrap missing: apt-get install debootstrap")
            run(["apt-get", "install", "-y", "-q", "debootstrap"], "apt-get install debootstrap",
                env={"DEBIAN_FRONTEND": "noninteractive"})
        work = IMAGES_CACHE / f".work-rootfs-{flavour}"
        if work.exists():
            unmount_under(work)
            shutil.rmtree(work)
        work.mkdir(parents=True)
        try:
            tree = work / "rootfs"
            t0 = time.monotonic()
            run(["debootstrap", "--variant=minbase", f"--include={','.join(ROOTFS_PACKAGES[flavour])}",
                 "--components=main", SUITE, str(tree), MIRROR], f"debootstrap {flavour}", timeout=3600,
                log_file=IMAGES_CACHE / "logs" / f"debootstrap-{flavour}.log")
            log(f"  debootstrap {SUITE} ({len(ROOTFS_PACKAGES[flavour])} packages + minbase): {time.monotonic() - t0:.0f}s")
            run(["bash", str(RECIPE / "rootfs-post.sh"), str(tree), flavour, SUITE, MIRROR, SECURITY_MIRROR],
                f"post-install {flavour} rootfs", timeout=3600,
                log_file=IMAGES_CACHE / "logs" / f"rootfs-post-{flavour}.log")
            partial = work / "rootfs.tar.gz"
            run(["tar", "--numeric-owner", "--xattrs", "-C", str(tree), "-czf", str(partial), "."],
                f"tar the {flavour} rootfs", timeout=1800)
            partial.replace(tarball)
        finally:
            unmount_under(work)
            shutil.rmtree(work, ignore_errors=True)
        made.append(f"{tarball.name} ({tarball.stat().st_size / 1e6:.0f} MB)")
    if rebuild or image_label(image) != rootfs_key(flavour):
        docker("import", "--change", f"LABEL {LABEL}={rootfs_key(flavour)}",
               "--change", f'LABEL {SOURCE_LABEL}="debootstrap {SUITE} minbase + {" ".join(ROOTFS_PACKAGES[flavour])}"',
               str(tarball), image, what=f"docker import {tarball.name}")
        made.append(f"imported {image}")
    return ("built " + ", ".join(made)) if made else f"cached ({image})"


# ---------------------------------------------------------------- images

def netbase_image() -> str:
    return f"ml-serving-charts/netbase:{SUITE}"


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


def component_specs(images: dict[str, str]) -> list[ImageSpec]:
    d = RECIPE / "components"
    specs = []
    for name in ("kube-apiserver", "kube-controller-manager", "kube-scheduler"):
        specs.append(ImageSpec([images[name]], d / "Dockerfile.binary", {name: tool(name)}, build_args={"BINARY": name},
                               source=f"k8s.io/kubernetes@{K8S_VERSION} cmd/{name}"))
    etcd_version = PINS["go_tools"]["etcd"]["version"]
    specs.append(ImageSpec([images["etcd"]], d / "Dockerfile.binary", {"etcd": tool("etcd")}, build_args={"BINARY": "etcd"},
                           source=f"go.etcd.io/etcd/server/v3@{etcd_version} (tagged as kubeadm expects)"))
    specs.append(ImageSpec([images["kube-proxy"]], d / "Dockerfile.kube-proxy", {"kube-proxy": tool("kube-proxy")},
                           base=netbase_image(), source=f"k8s.io/kubernetes@{K8S_VERSION} cmd/kube-proxy"))
    coredns = PINS["go_tools"]["coredns"]["version"]
    want_coredns = images["coredns"].rsplit(":", 1)[1]
    if want_coredns != coredns:
        raise BuildError(f"kubeadm wants coredns {want_coredns} but pins.toml builds {coredns}: align go_tools.coredns")
    specs.append(ImageSpec([images["coredns"]], d / "Dockerfile.coredns", {"coredns": tool("coredns")},
                           source=f"github.com/coredns/coredns@{coredns}"))
    tag = pause_tag(images)
    specs.append(ImageSpec([images["pause"], *EXTRA_PAUSE_TAGS], d / "Dockerfile.pause", {"pause": pause_path(tag)},
                           source=f"k8s.io/kubernetes@{K8S_VERSION} build/pause/linux/pause.c"))
    return specs


def node_layer_image() -> str:
    return f"{NODE_REPO}-layer:{K8S_VERSION}"


def node_layer_spec(images: dict[str, str], podnet: str) -> ImageSpec:
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


def preload_refs(specs: list[ImageSpec]) -> list[str]:
    return [t for s in specs for t in s.tags]


def containerd_name(ref: str) -> str:
    """How containerd names a docker reference (docker.io/ for a bare name)."""
    first = ref.split("/", 1)[0]
    if "/" not in ref:
        return f"docker.io/library/{ref}"
    if "." in first or ":" in first or first == "localhost":
        return ref
    return f"docker.io/{ref}"


def step_node_image(specs: list[ImageSpec], rebuild: bool) -> str:
    """The node layer with every image preloaded into containerd's k8s.io namespace, committed."""
    refs = preload_refs(specs)
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
        deadline = time.monotonic() + 60
        while subprocess.run(["docker", "exec", name, "ctr", "version"], capture_output=True).returncode != 0:
            if time.monotonic() > deadline:
                logs = docker("exec", name, "cat", "/var/log/containerd-preload.log", what="containerd log")
                raise BuildError(f"containerd did not start in the preload container:\n{logs[-2000:]}")
            time.sleep(0.5)
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


# ---------------------------------------------------------------- driver

def kind_node_steps(rebuild: bool) -> Iterator[Step]:
    """The build, as steps; later steps read what earlier ones produced, so they are generated lazily."""
    yield Step("docker engine", lambda: dockerd.ensure())
    yield Step(f"Go-built binaries (Kubernetes {K8S_VERSION}, etcd, coredns, crictl)", step_tools)
    images = kubeadm_images()
    yield Step(f"pause {pause_tag(images)} (gcc -static)", lambda: step_pause(images))
    yield Step("runc-capfilter (images/lib/runc-capfilter)", step_capfilter)
    yield Step(f"rootfs node (debootstrap {SUITE})", lambda: step_rootfs("node", rebuild))
    yield Step(f"rootfs netbase (debootstrap {SUITE})", lambda: step_rootfs("netbase", rebuild))
    yield Step(f"image {netbase_image()}", lambda: build_image(netbase_spec(), rebuild))
    specs = component_specs(images)
    for spec in specs:
        yield Step(f"image {spec.tags[0]}", lambda s=spec: build_image(s, rebuild))
    podnet = podnet_spec()
    yield Step(f"image {podnet.tags[0]} (CNI agent)", lambda: build_image(podnet, rebuild))
    layer = node_layer_spec(images, containerd_name(podnet.tags[0]))
    yield Step(f"image {node_layer_image()} (node layer)", lambda: build_image(layer, rebuild))
    yield Step(f"image {NODE_IMAGE} (preload {len(preload_refs([*specs, podnet]))} image tags)", lambda: step_node_image([*specs, podnet], rebuild))


STEP_COUNT = 17   # for the [i/N] progress prefix (the steps are generated lazily): 7 + 7 control-plane images + 3


def run_steps(steps: Iterable[Step], count: int, retry: str) -> dict[str, float]:
    """Run build steps in order with one progress line each; returns seconds per step. A failed step says
    what failed and the command that resumes (finished layers are cached)."""
    timings: dict[str, float] = {}
    for i, step in enumerate(steps, 1):
        t0 = time.monotonic()
        try:
            result = step.fn()
        except (BuildError, dockerd.DockerError) as err:
            log(f"[{i}/{count}] {step.label}: FAILED\n{err}\n"
                f"Finished layers stay cached; fix the cause and run `{retry}` again.")
            raise
        timings[step.label] = round(time.monotonic() - t0, 1)
        log(f"[{i}/{count}] {step.label}: {result} ({timings[step.label]:.1f}s)")
    return timings


def build_kind_node(rebuild: bool = False) -> str:
    """Build (or reuse) the node image; returns its tag. Importable by the cluster provider."""
    IMAGES_CACHE.mkdir(parents=True, exist_ok=True)
    start = time.monotonic()
    timings = run_steps(kind_node_steps(rebuild), STEP_COUNT, "scripts/images kind-node")
    removed = prune_stale()
    if removed:
        log(f"removed {len(removed)} superseded layer(s): {', '.join(removed)}")
    total = time.monotonic() - start
    (IMAGES_CACHE / "last-kind-node-build.json").write_text(json.dumps(
        {"image": NODE_IMAGE, "total_seconds": round(total, 1), "steps": timings,
         "finished": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}, indent=2) + "\n")
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


def node_image_ready() -> bool:
    """True when the node image exists (whether it is up to date is `scripts/images kind-node`'s job)."""
    return image_id(NODE_IMAGE) is not None


def list_images() -> int:
    print(f"{'layer':<62}{'state':<10}key / id")
    for flavour in ROOTFS_PACKAGES:
        t = rootfs_tarball(flavour)
        print(f"{'rootfs ' + flavour + ' tarball':<62}{'cached' if t.exists() else 'missing':<10}{t}")
    refs = [rootfs_image("node"), rootfs_image("netbase"), netbase_image()]
    with contextlib.suppress(BuildError):
        imgs = kubeadm_images()
        refs += [*(r for r in imgs.values()), *EXTRA_PAUSE_TAGS]
    refs += [node_layer_image(), NODE_IMAGE, rootfs_image("python"), PYTHON_IMAGE,
             *(env["image"] for env in python_envs().values()), *APP_IMAGES.values()]
    for ref in refs:
        iid = image_id(ref)
        print(f"{ref:<62}{'present' if iid else 'missing':<10}{(iid or '')[:19]}"
              f"{f'  {image_size_mb(ref):.0f} MB' if iid else ''}")
    return 0


# ---------------------------------------------------------------- images the charts run (images/models,
# images/helm-test-client, images/prometheus, images/prometheus-operator)
#
# Layers, each an ImageSpec cached by the digest of its inputs like the node image's:
#   rootfs python            debootstrap bookworm + python3, python3-venv (the builder; step_rootfs),
#                            also imported unlabelled as python-builder (see step_python_builder)
#   python:3.11-bookworm     shell-less python3.11 + stdlib + the shared libraries they load (mkroot.py)
#   seldon-python, mlserver  python + a venv from a hash-locked requirements file (images/models/locks)
#   iris-*, mlserver-iris    venv image + component code (+ the model, trained during the build)
#   helm-test-client         python
#   prometheus(-operator)    FROM scratch + static Go binaries built here (pins: [image_binaries.*])

MODELS = ROOT / "images" / "models"
APP_VERSION = "0.1.0"
PYTHON_IMAGE = f"ml-serving-charts/python:{PINS['python_envs']['python']}-{SUITE}"
GO_VERSION_PKG = "github.com/prometheus/common/version"
APP_IMAGES = {   # what `scripts/images NAME` builds; kind clusters get them with `kind load` (IfNotPresent)
    "iris-model": f"ml-serving-charts/iris-model:{APP_VERSION}",
    "iris-transformer": f"ml-serving-charts/iris-transformer:{APP_VERSION}",
    "iris-combiner": f"ml-serving-charts/iris-combiner:{APP_VERSION}",
    "mlserver-iris": f"ml-serving-charts/mlserver-iris:{APP_VERSION}",
    "helm-test-client": f"ml-serving-charts/helm-test-client:{APP_VERSION}",
    "prometheus": f"ml-serving-charts/prometheus:v{PINS['image_binaries']['prometheus']['reports']}",
    "prometheus-operator":
        f"ml-serving-charts/prometheus-operator:v{PINS['image_binaries']['prometheus-operator']['reports']}",
}
IMAGE_GROUPS = {"models": ["iris-model", "iris-transformer", "iris-combiner", "mlserver-iris"],
                "monitoring": ["prometheus", "prometheus-operator"],
                "all": list(APP_IMAGES)}   # `all` also builds kind-node
# image -> (python environment it runs in, its files under images/models/iris)
SELDON_FILES = {"iris-model": ["iris_schema.py", "IrisClassifier.py", "train.py"],
                "iris-transformer": ["iris_schema.py", "IrisTransformer.py"],
                "iris-combiner": ["iris_schema.py", "IrisCombiner.py"]}
PYTHON_APPS = {**{name: ("seldon", files) for name, files in SELDON_FILES.items()},
               "mlserver-iris": ("mlserver", ["iris_schema.py", "train.py"]), "helm-test-client": (None, [])}


def python_envs() -> dict[str, dict]:
    return {k: v for k, v in PINS["python_envs"].items() if isinstance(v, dict)}


def mkroot() -> object:
    sys.path.insert(0, str(MODELS / "base"))
    import mkroot as module  # the passwd/group of the python images, for the scratch images too
    return module


def host_pip() -> tuple[bytes, dict[str, str]]:
    """How the host's pip reaches the index, for pip inside an image build (it does not see the host's
    pip.conf or environment): the CA bundle it trusts (PIP_CERT / `cert`, e.g. a TLS-inspecting proxy's)
    and its index URL. The CA goes to the builder stage only, never into an image."""
    def setting(env: str, key: str) -> str:
        if os.environ.get(env):
            return os.environ[env]
        proc = subprocess.run([sys.executable, "-m", "pip", "config", "get", key], capture_output=True, text=True)
        return proc.stdout.strip() if proc.returncode == 0 else ""
    cert = setting("PIP_CERT", "global.cert")
    index = setting("PIP_INDEX_URL", "global.index-url")
    return (Path(cert).read_bytes() if cert else b""), ({"PIP_INDEX_URL": index} if index else {})


def python_builder_image() -> str:
    return f"ml-serving-charts/python-builder:{SUITE}-{rootfs_key('python')}"


def step_python_builder(rebuild: bool) -> str:
    """The python rootfs tarball imported once more, WITHOUT the io.ml-serving-charts.inputs label (the
    layer is shared with the rootfs image, so this costs no space). The multi-stage builds below start
    from it: a build stage inherits its base's labels, and prune_stale() deletes dangling images that
    carry that label, which a concurrent kind-node build would do to a finished build stage waiting
    for its `COPY --from` ("invalid from flag value build: No such image")."""
    image = python_builder_image()
    if not rebuild and image_id(image):
        return f"cached ({image})"
    docker("import", "--change", f'LABEL {SOURCE_LABEL}="{rootfs_tarball("python").name} (builder)"',
           str(rootfs_tarball("python")), image, what=f"docker import {image}")
    listed = run(["docker", "images", "--format", "{{.Repository}}:{{.Tag}}", image.split(":")[0]], "docker images")
    for ref in listed.split():
        if ref != image:
            subprocess.run(["docker", "rmi", ref], capture_output=True)
    return f"imported {image}"


def python_spec() -> ImageSpec:
    return ImageSpec([PYTHON_IMAGE], MODELS / "base" / "Dockerfile.python", {"mkroot.py": MODELS / "base" / "mkroot.py"},
                     base=python_builder_image(), source="images/models/base (Dockerfile.python)")


def python_env_spec(name: str) -> ImageSpec:
    """A venv image; built after PYTHON_IMAGE (whose id is part of the key)."""
    env = python_envs()[name]
    lock = MODELS / "locks" / f"{name}.lock"
    sys.path.insert(0, str(MODELS / "locks"))
    import lock as locker
    want = locker.header(PINS["python_envs"], name)
    got = lock.read_text().split("\n", 1)[0] if lock.exists() else "(missing)"
    if got != want:
        raise BuildError(f"{lock.relative_to(ROOT)} does not match scripts/pins.toml [python_envs.{name}]:\n"
                         f"  lock: {got}\n  pins: {want}\nrun `images/models/locks/lock.py {name}` and commit the lock")
    ca, index = host_pip()
    runtime_id = image_id(PYTHON_IMAGE)
    if not runtime_id:
        raise BuildError(f"{PYTHON_IMAGE} is missing: build it first (`scripts/images helm-test-client`)")
    return ImageSpec([env["image"]], MODELS / "base" / "Dockerfile.venv",
                     {"requirements.lock": lock, "mkroot.py": MODELS / "base" / "mkroot.py", "pip-ca.pem": ca},
                     base=python_builder_image(),
                     build_args={"RUNTIME": PYTHON_IMAGE, "RUNTIME_ID": runtime_id, "VENV": env["venv"], **index},
                     source=f"images/models/base (Dockerfile.venv, locks/{name}.lock)")


def image_binary_dir(name: str) -> Path:
    return CACHE / "bin" / f"{name}-{PINS['image_binaries'][name]['version']}"


def step_image_binaries(name: str) -> str:
    """Static Go binaries for an image ([image_binaries.NAME] in pins.toml), W1: built inside a writable
    copy of the module, stamped like upstream's release builds (prometheus/common/version)."""
    pin = PINS["image_binaries"][name]
    out = image_binary_dir(name)
    binaries = [Path(p).name for p in pin["packages"]]
    recipe = json.dumps({"pin": pin, "recipe": 1}, sort_keys=True)
    stamp = out / ".recipe.json"
    def reports(d: Path) -> dict[str, str]:
        return {b: subprocess.run([str(d / b), "--version"], capture_output=True, text=True).stdout.split("\n")[0]
                if (d / b).exists() else "" for b in binaries}
    if stamp.exists() and stamp.read_text() == recipe and all(pin["reports"] in v for v in reports(out).values()):
        return f"cached ({out})"
    sys.path.insert(0, str(ROOT / "scripts"))
    import bootstrap  # its module download, copy (W1) and module-time helpers
    if pin.get("src"):   # reuse the module copy scripts/bootstrap made for another pin (promtool)
        tool_pin = PINS["go_tools"][pin["src"]]
        if (tool_pin["module"], tool_pin["version"]) != (pin["module"], pin["version"]):
            raise BuildError(f"pins.toml: image_binaries.{name} must match go_tools.{pin['src']} to share its module copy")
        work = CACHE / "src" / f"{pin['src']}-{pin['version']}"
        if not (work / "go.mod").exists():
            log(f"  {work} missing: running scripts/bootstrap's {pin['src']} step, which makes it")
            bootstrap.step_go_tool(pin["src"], tool_pin)
    else:
        work = CACHE / "src" / f"{name}-{pin['version']}"
        if not (work / "go.mod").exists():
            src = bootstrap.go_module_dir(pin["module"], pin["version"])
            tmp = work.with_name(f".{work.name}.tmp")
            shutil.rmtree(tmp, ignore_errors=True)
            shutil.copytree(src, tmp)
            for p in [tmp, *tmp.rglob("*")]:
                p.chmod(p.stat().st_mode | 0o200)
            if pin.get("dropreplace"):   # nested modules (not in the zip): use them at the same tag instead
                run(["go", "mod", "edit", *(f"-dropreplace={r}" for r in pin["dropreplace"])], f"go mod edit {name}",
                    cwd=tmp, env={"GOWORK": "off"})
            tmp.rename(work)
    info = json.loads(run(["go", "mod", "download", "-json", f"{pin['module']}@{pin['version']}"], "go mod download",
                          env={"GOWORK": "off", "GOFLAGS": "-buildvcs=false"}))
    when = json.loads(Path(info["Info"]).read_text())
    build_date = time.strftime("%Y%m%d-%H:%M:%S", time.strptime(when["Time"][:19], "%Y-%m-%dT%H:%M:%S"))
    stamps = {"Version": pin["reports"], "Revision": (when.get("Origin") or {}).get("Hash", pin["version"]),
              "Branch": pin["version"], "BuildUser": "ml-serving-charts", "BuildDate": build_date}
    ldflags = " ".join(["-s -w", *(f"-X {GO_VERSION_PKG}.{k}={v}" for k, v in stamps.items())])
    env = {"GOWORK": "off", "CGO_ENABLED": "0",
           "GOFLAGS": "-buildvcs=false" + (" -mod=mod" if pin.get("dropreplace") else "")}
    tmp_out = out.with_name(f".{out.name}.tmp")
    shutil.rmtree(tmp_out, ignore_errors=True)
    tmp_out.mkdir(parents=True)
    log(f"  go build {', '.join(pin['packages'])} in {work} (cold: several minutes on 2 cores)")
    run(["go", "build", "-trimpath", *(["-tags", pin["tags"]] if pin.get("tags") else []), "-ldflags", ldflags,
         "-o", f"{tmp_out}/", *(f"./{p}" for p in pin["packages"])], f"go build {name}", timeout=3600, env=env, cwd=work,
        log_file=IMAGES_CACHE / "logs" / f"go-build-{name}.log")
    got = reports(tmp_out)
    if not all(pin["reports"] in v for v in got.values()):
        raise BuildError(f"{name}: built binaries report {got}, pins.toml wants {pin['reports']}")
    for f in ("LICENSE", "NOTICE"):
        shutil.copy(work / f, tmp_out / f)
    (tmp_out / ".recipe.json").write_text(recipe)
    shutil.rmtree(out, ignore_errors=True)
    tmp_out.rename(out)
    return f"built ({'; '.join(got.values())})"


def app_spec(name: str) -> ImageSpec:
    tag = APP_IMAGES[name]
    if name in PYTHON_APPS:
        env, files = PYTHON_APPS[name]
        base = python_envs()[env]["image"] if env else PYTHON_IMAGE
        recipe = ROOT / "images" / name if name == "helm-test-client" else MODELS / name
        ctx: dict[str, Path | bytes] = {f: MODELS / "iris" / f for f in files}
        ctx.update({p.name: p for p in recipe.iterdir() if p.is_file() and p.name not in ("Dockerfile", "README.md")})
        return ImageSpec([tag], recipe / "Dockerfile", ctx, base=base, source=f"images/{recipe.relative_to(ROOT / 'images')}")
    bins = image_binary_dir(name)
    users = mkroot()
    ctx = {"passwd": users.PASSWD.encode(), "group": users.GROUP.encode(), "LICENSE": bins / "LICENSE",
           "NOTICE": bins / "NOTICE"}
    ctx.update({Path(p).name: bins / Path(p).name for p in PINS["image_binaries"][name]["packages"]})
    if name == "prometheus":
        promtool = CACHE / "bin" / f"promtool-{PINS['go_tools']['promtool']['version']}" / "promtool"
        ctx.update({"promtool": promtool, "data/.keep": b"",
                    "prometheus.yml": CACHE / "src" / f"promtool-{PINS['go_tools']['promtool']['version']}"
                    / "documentation" / "examples" / "prometheus.yml"})
    return ImageSpec([tag], ROOT / "images" / name / "Dockerfile", ctx,
                     source=f"{PINS['image_binaries'][name]['module']}@{PINS['image_binaries'][name]['version']}")


def step_promtool() -> str:
    sys.path.insert(0, str(ROOT / "scripts"))
    import bootstrap
    return f"{bootstrap.step_go_tool('promtool', PINS['go_tools']['promtool'])} (scripts/bootstrap go_tools.promtool)"


STAGE_LABEL = "io.ml-serving-charts.stage"   # on the build stages of images/models/base/Dockerfile.*


def build_replacing(make: Callable[[], ImageSpec], rebuild: bool) -> str:
    """build_image, then remove the image the tag pointed to before (unless something still uses it)
    and the finished build stages that earlier steps and builds left dangling (0.2-1 GB each; only
    those created before this build started, so never one a build started later is still using)."""
    spec = make()
    before = image_id(spec.tags[0])
    started = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    result = build_image(spec, rebuild)
    if before and before != image_id(spec.tags[0]):
        subprocess.run(["docker", "rmi", before], capture_output=True)
    subprocess.run(["docker", "image", "prune", "-f", "--filter", f"label={STAGE_LABEL}", "--filter",
                    f"until={started}"], capture_output=True)
    return result


def app_steps(names: list[str], rebuild: bool) -> list[Step]:
    steps = [Step("docker engine", lambda: dockerd.ensure())]
    python_apps = [n for n in names if n in PYTHON_APPS]
    if python_apps:
        steps += [Step(f"rootfs python (debootstrap {SUITE})", lambda: step_rootfs("python", rebuild)),
                  Step("python builder image (unlabelled)", lambda: step_python_builder(rebuild)),
                  Step(f"image {PYTHON_IMAGE}", lambda: build_replacing(python_spec, rebuild))]
        for env in dict.fromkeys(PYTHON_APPS[n][0] for n in python_apps if PYTHON_APPS[n][0]):
            steps.append(Step(f"image {python_envs()[env]['image']} (venv {python_envs()[env]['venv']})",
                              lambda e=env: build_replacing(lambda: python_env_spec(e), rebuild)))
    for name in names:
        if name == "prometheus":
            steps.append(Step("promtool (scripts/bootstrap)", step_promtool))
        if name in PINS["image_binaries"]:
            pin = PINS["image_binaries"][name]
            steps.append(Step(f"go build {pin['module']}@{pin['version']} {' '.join(pin['packages'])}",
                              lambda n=name: step_image_binaries(n)))
        steps.append(Step(f"image {APP_IMAGES[name]}", lambda n=name: build_replacing(lambda: app_spec(n), rebuild)))
    return steps


def build_app_images(names: list[str], rebuild: bool = False) -> list[str]:
    """Build (or reuse) the named images; returns their tags. Importable (tests, cluster scripts)."""
    IMAGES_CACHE.mkdir(parents=True, exist_ok=True)
    start = time.monotonic()
    steps = app_steps(names, rebuild)
    timings = run_steps(steps, len(steps), f"scripts/images {' '.join(names)}")
    total = time.monotonic() - start
    tags = [APP_IMAGES[n] for n in names]
    (IMAGES_CACHE / "last-app-images-build.json").write_text(json.dumps(
        {"images": tags, "total_seconds": round(total, 1), "steps": timings,
         "sizes_mb": {t: round(image_size_mb(t), 1) for t in tags},
         "finished": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}, indent=2) + "\n")
    log(f"ready in {total:.1f}s: " + ", ".join(f"{t} ({image_size_mb(t):.0f} MB)" for t in tags))
    return tags


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="scripts/images", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    p_node = sub.add_parser("kind-node", help=f"build {NODE_IMAGE} (offline kind node image)")
    p_node.add_argument("--rebuild", action="store_true", help="debootstrap again and rebuild every image layer")
    sub.add_parser("list", help="show each layer and whether it is built")
    for target in [*APP_IMAGES, *IMAGE_GROUPS]:
        what = APP_IMAGES.get(target) or ", ".join(IMAGE_GROUPS[target]) + (" and kind-node" if target == "all" else "")
        sub.add_parser(target, help=f"build {what}").add_argument(
            "--rebuild", action="store_true", help="rebuild every image layer (and debootstrap again)")
    args = parser.parse_args(argv)
    try:
        if args.command == "list":
            dockerd.ensure()
            return list_images()
        if args.command in APP_IMAGES or args.command in IMAGE_GROUPS:
            if args.command == "all":
                build_kind_node(args.rebuild)
            build_app_images(IMAGE_GROUPS.get(args.command, [args.command]), args.rebuild)
            return 0
        build_kind_node(args.rebuild)
        return 0
    except (BuildError, dockerd.DockerError):
        return 1
    except KeyboardInterrupt:
        log("interrupted; finished layers stay cached")
        return 130


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
