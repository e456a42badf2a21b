"""Images of one static Go binary built from a verified upstream source (Seldon Core's operator and executor,
KServe's controller and router): a root filesystem of the binary, its licence and the users file (nonroot
65532), imported with `docker import` (no base image, no shell), labelled with the upstream tag, commit and
licence, cached by a digest of those inputs, and checked by running it read-only with every capability dropped."""
from __future__ import annotations

import io
import subprocess
import tarfile
from pathlib import Path

from ..env import IMAGES
from ..proc import BuildError
from .core import LABEL, SOURCE_LABEL, digest_of, file_sha256, image_label, image_size_mb

USERS = {"etc/passwd": IMAGES / "models" / "base" / "passwd", "etc/group": IMAGES / "models" / "base" / "group"}


def rootfs_tar(binary: Path, project: str) -> bytes:
    """/<binary>, /etc/passwd and /etc/group (nonroot 65532), /licenses/<project>/LICENSE (the LICENSE beside the
    binary) and /tmp (1777)."""
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w") as tar:
        def add(name: str, path: Path, mode: int) -> None:
            info = tarfile.TarInfo(name)
            info.size, info.mode, info.mtime = path.stat().st_size, mode, 0
            with open(path, "rb") as fh:
                tar.addfile(info, fh)
        add(binary.name, binary, 0o755)
        for name, path in USERS.items():
            add(name, path, 0o644)
        add(f"licenses/{project}/LICENSE", binary.parent / "LICENSE", 0o644)
        tmp = tarfile.TarInfo("tmp")
        tmp.type, tmp.mode = tarfile.DIRTYPE, 0o1777
        tar.addfile(tmp)
    return out.getvalue()


def pin_labels(pin: dict) -> dict[str, str]:
    """The OCI labels of an image built from a [sources.*] pin: its tag, commit, repository and licence."""
    return {"org.opencontainers.image.version": pin["tag"].lstrip("v"), "org.opencontainers.image.revision": pin["commit"],
            "org.opencontainers.image.source": pin["repository"], "org.opencontainers.image.licenses": pin["license"]}


def pin_source(pin: dict, folder: str) -> str:
    """The io.ml-serving-charts.source label of an image built from a folder of a [sources.*] pin."""
    return f"{pin['repository']} {pin['tag']} ({pin['commit'][:12]}) {folder}, {pin['license']}"


def import_binary_image(ref: str, binary: Path, pin: dict, folder: str, project: str, check_args: list[str],
                        expect: str, rebuild: bool = False) -> str:
    """`docker import` rootfs_tar() as ref (ENTRYPOINT the binary, USER 65532), reused while its inputs are the
    same; then `docker run --read-only --cap-drop ALL ref *check_args` must print `expect`."""
    changes = [f'ENTRYPOINT ["/{binary.name}"]', "USER 65532:65532", "WORKDIR /",
               f'LABEL {SOURCE_LABEL}="{pin_source(pin, folder)}"', *(f"LABEL {k}={v}" for k, v in pin_labels(pin).items())]
    want = digest_of({"binary": file_sha256(binary), "users": {k: file_sha256(v) for k, v in USERS.items()},
                      "license": file_sha256(binary.parent / "LICENSE"), "changes": changes})
    if not rebuild and image_label(ref) == want:
        return f"cached ({ref})"
    proc = subprocess.run(["docker", "import", *(a for c in [*changes, f"LABEL {LABEL}={want}"] for a in ("--change", c)),
                           "-", ref], input=rootfs_tar(binary, project), capture_output=True)
    if proc.returncode != 0:
        raise BuildError(f"docker import {ref}: {proc.stderr.decode(errors='replace')[-1500:]}")
    check = subprocess.run(["docker", "run", "--rm", "--read-only", "--cap-drop", "ALL", ref, *check_args],
                           capture_output=True, text=True, timeout=120)
    if expect not in check.stdout + check.stderr:
        raise BuildError(f"{ref} does not start as {binary.name}: {(check.stdout + check.stderr)[-800:]}")
    return f"built {ref} ({image_size_mb(ref):.0f} MB; runs as 65532, read-only)"
