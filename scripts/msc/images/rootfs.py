"""Debian bookworm root filesystems made with debootstrap, kept as tarballs in $MSC_CACHE/images and
imported into Docker: the bases of the kind node image, of kube-proxy/podnet (netbase) and of the
shell-less python images (python). Each is keyed by its suite, mirror, packages and post-install script."""
from __future__ import annotations

import hashlib
import shutil
import subprocess
import time
from pathlib import Path

from ..env import IMAGES, IMAGES_CACHE
from ..debian import apt_install
from .core import LABEL, SOURCE_LABEL, digest_of, docker, image_label, log, run

POST_INSTALL = IMAGES / "kind-node" / "rootfs-post.sh"
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


def rootfs_key(flavour: str) -> str:
    post = POST_INSTALL.read_bytes()
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
            apt_install(["debootstrap"])
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
            run(["bash", str(POST_INSTALL), str(tree), flavour, SUITE, MIRROR, SECURITY_MIRROR],
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
