"""The Seldon Core operator and executor images under the names the seldon-operator chart uses by default,
from the binaries msc.seldon_core builds from the verified source. Each image is a root filesystem of the
binary, the licence and the users file (nonroot 65532), imported with `docker import` (no base image, no
shell), labelled with the upstream tag, commit and licence, and cached by a digest of those inputs."""
from __future__ import annotations

import io
import subprocess
import tarfile
from pathlib import Path

from .. import dockerd, sources
from ..env import IMAGES
from ..proc import BuildError, Step, run_steps
from ..seldon_core import BIN_DIR, PIN, VERSION, step_binaries
from .core import LABEL, log, SOURCE_LABEL, digest_of, file_sha256, image_label, image_size_mb

USERS = {"etc/passwd": IMAGES / "models" / "base" / "passwd", "etc/group": IMAGES / "models" / "base" / "group"}


# image name -> (binary, the source folder it is built from, the image reference the chart uses by default)
SELDON_IMAGES = {
    "seldon-operator": ("manager", "operator", f"docker.io/seldonio/seldon-core-operator:{VERSION}"),
    "seldon-executor": ("executor", "executor", f"docker.io/seldonio/seldon-core-executor:{VERSION}"),
}


def rootfs_tar(binary: str) -> bytes:
    """/<binary>, /etc/passwd and /etc/group (nonroot 65532), /licenses/seldon-core/LICENSE and /tmp (1777)."""
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w") as tar:
        def add(name: str, path: Path, mode: int) -> None:
            info = tarfile.TarInfo(name)
            info.size, info.mode, info.mtime = path.stat().st_size, mode, 0
            with open(path, "rb") as fh:
                tar.addfile(info, fh)
        add(binary, BIN_DIR / binary, 0o755)
        for name, path in USERS.items():
            add(name, path, 0o644)
        add("licenses/seldon-core/LICENSE", BIN_DIR / "LICENSE", 0o644)
        tmp = tarfile.TarInfo("tmp")
        tmp.type, tmp.mode = tarfile.DIRTYPE, 0o1777
        tar.addfile(tmp)
    return out.getvalue()


def upstream_labels() -> dict[str, str]:
    """The labels of every image built from the Seldon Core source: its tag, commit and licence (1.17.1 is the
    last Apache-2.0 release)."""
    return {"org.opencontainers.image.version": VERSION, "org.opencontainers.image.revision": PIN["commit"],
            "org.opencontainers.image.source": PIN["repository"], "org.opencontainers.image.licenses": PIN["license"]}


def upstream_source(folder: str) -> str:
    """The io.ml-serving-charts.source label of an image built from a folder of the Seldon Core source."""
    return f"{PIN['repository']} {PIN['tag']} ({PIN['commit'][:12]}) {folder}, {PIN['license']}"


def build_image(name: str, rebuild: bool = False) -> str:
    """The image of one binary, `docker import`ed from rootfs_tar(), reused while its inputs are the same."""
    binary, folder, ref = SELDON_IMAGES[name]
    changes = [f'ENTRYPOINT ["/{binary}"]', "USER 65532:65532", "WORKDIR /",
               f'LABEL {SOURCE_LABEL}="{upstream_source(folder + "/")}"',
               *(f"LABEL {k}={v}" for k, v in upstream_labels().items())]
    want = digest_of({"binary": file_sha256(BIN_DIR / binary), "users": {k: file_sha256(v) for k, v in USERS.items()},
                      "license": file_sha256(BIN_DIR / "LICENSE"), "changes": changes})
    if not rebuild and image_label(ref) == want:
        return f"cached ({ref})"
    proc = subprocess.run(["docker", "import", *(a for c in [*changes, f"LABEL {LABEL}={want}"] for a in ("--change", c)),
                           "-", ref], input=rootfs_tar(binary), capture_output=True)
    if proc.returncode != 0:
        raise BuildError(f"docker import {ref}: {proc.stderr.decode(errors='replace')[-1500:]}")
    check = subprocess.run(["docker", "run", "--rm", "--read-only", "--cap-drop", "ALL", ref, "--help"],
                           capture_output=True, text=True, timeout=120)
    if "Usage" not in check.stdout + check.stderr:
        raise BuildError(f"{ref} does not start as {binary}: {(check.stdout + check.stderr)[-800:]}")
    return f"built {ref} ({image_size_mb(ref):.0f} MB; runs as 65532, read-only)"


def build_all(rebuild: bool = False) -> list[str]:
    """The binaries, then both images; returns the image references."""
    steps = [Step("docker engine", dockerd.ensure), Step(f"Seldon Core {PIN['tag']} source (verified)",
                                                        lambda: f"{sources.source_tree('seldon-core')}"),
             Step("go build manager and executor", step_binaries)]
    steps += [Step(f"image {ref}", lambda n=name: build_image(n, rebuild)) for name, (_, _, ref) in SELDON_IMAGES.items()]
    run_steps(steps, log, "scripts/images seldon")
    return [ref for _, _, ref in SELDON_IMAGES.values()]
