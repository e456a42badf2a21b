"""Seldon Core 1.17.1 built from its verified source (msc.sources, scripts/pins.toml [sources.seldon-core]):
the operator (`manager`) and the executor (service orchestrator), and their images under the names the
seldon-operator chart uses by default.

- operator: `go build -o manager .` in a writable copy of operator/, static (CGO_ENABLED=0);
- executor: `go build ./cmd/executor` in a copy of executor/ with operator/ copied to _operator/ (its go.mod
  replaces the operator module with ./_operator, as upstream's Makefile does). confluent-kafka-go needs cgo,
  so it links statically against musl (Debian's musl-tools) and the musl librdkafka the module bundles;
- both go.mod files say `go 1.17`, which would link Go 1.17's GODEBUG defaults into the binaries (a webhook
  that accepts TLS 1.0 and RSA key exchange): the copies get `godebug default=go1.26`, a link-time setting.
Each binary is checked by running it. The images are a root filesystem of the binary, the licence and the
users file (nonroot 65532), imported with `docker import` (no base image, no shell), labelled with the
upstream tag, commit and licence, and cached by a digest of those inputs."""
from __future__ import annotations

import io
import json
import shutil
import subprocess
import tarfile
from pathlib import Path

from .. import dockerd, gomod, sources
from ..env import CACHE, IMAGES, IMAGES_CACHE, PINS, go_env
from ..proc import BuildError, Step, atomic_dir, run_steps
from ..toolchain import apt_install
from .core import LABEL, log, SOURCE_LABEL, digest_of, file_sha256, image_label, image_size_mb

PIN = PINS["sources"]["seldon-core"]
VERSION = PIN["tag"].lstrip("v")
BIN_DIR = CACHE / "bin" / f"seldon-core-{PIN['tag']}"
USERS = {"etc/passwd": IMAGES / "models" / "base" / "passwd", "etc/group": IMAGES / "models" / "base" / "group"}
RECIPE = 1
STAMP = json.dumps({"ids": PIN["ids"], "recipe": RECIPE}, sort_keys=True)   # what a built folder was made from


# image name -> (binary, the source folder it is built from, the image reference the chart uses by default)
SELDON_IMAGES = {
    "seldon-operator": ("manager", "operator", f"docker.io/seldonio/seldon-core-operator:{VERSION}"),
    "seldon-executor": ("executor", "executor", f"docker.io/seldonio/seldon-core-executor:{VERSION}"),
}


def runs(binary: Path) -> bool:
    """The binary starts and prints its usage (neither has a version flag)."""
    if not binary.exists():
        return False
    proc = subprocess.run([str(binary), "--help"], capture_output=True, text=True, timeout=30)
    return "Usage" in proc.stdout + proc.stderr


def stamp_ok(folder: Path) -> bool:
    """The folder was made from the pinned source by this recipe (its .recipe.json says so)."""
    return (folder / ".recipe.json").exists() and (folder / ".recipe.json").read_text() == STAMP


def work_tree() -> Path:
    """A writable copy of operator/ and executor/ (with executor/_operator), GODEBUG set; made once per pin."""
    work = CACHE / "src" / f"seldon-core-build-{PIN['tag']}"
    if stamp_ok(work):
        return work
    src = sources.source_tree("seldon-core")

    def build(tmp: Path) -> None:
        for folder, dest in (("operator", "operator"), ("executor", "executor"), ("operator", "executor/_operator")):
            shutil.copytree(src / folder, tmp / dest, symlinks=True)
        for module in ("operator", "executor"):
            gomod.edit(tmp / module, "-godebug=default=go1.26")
        shutil.copy(src / "LICENSE", tmp / "LICENSE")
        (tmp / ".recipe.json").write_text(STAMP)
    atomic_dir(work, build)
    return work


def step_binaries() -> str:
    """manager and executor in $MSC_CACHE/bin/seldon-core-<tag>/ (cold: about 2 + 2.5 minutes on 2 cores)."""
    binaries = [BIN_DIR / b for b, _, _ in SELDON_IMAGES.values()]
    if stamp_ok(BIN_DIR) and all(runs(b) for b in binaries):
        return f"cached ({BIN_DIR})"
    work = work_tree()
    apt_install(["musl-tools"])
    logs = IMAGES_CACHE / "logs"

    def build(tmp: Path) -> None:
        gomod.build(work / "operator", ["."], tmp / "manager", what="go build the Seldon operator (manager)",
                    env=go_env(GOFLAGS="-buildvcs=false -mod=mod"), log_file=logs / "go-build-seldon-operator.log")
        gomod.build(work / "executor", ["./cmd/executor"], tmp / "executor", tags="musl,netgo,osusergo",
                    ldflags="-linkmode external -extldflags -static", what="go build the Seldon executor",
                    env=go_env(GOFLAGS="-buildvcs=false -mod=mod", CGO_ENABLED="1", CC="musl-gcc"),
                    log_file=logs / "go-build-seldon-executor.log")
        broken = [b.name for b in (tmp / "manager", tmp / "executor") if not runs(b)]
        if broken:
            raise BuildError(f"built Seldon binaries do not start: {broken} (logs in {logs})")
        shutil.copy(work / "LICENSE", tmp / "LICENSE")
        (tmp / ".recipe.json").write_text(STAMP)
    atomic_dir(BIN_DIR, build)
    return f"built ({', '.join(f'{b.name} {b.stat().st_size / 1e6:.0f} MB' for b in binaries)})"


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


def build_image(name: str, rebuild: bool = False) -> str:
    """The image of one binary, `docker import`ed from rootfs_tar(), reused while its inputs are the same."""
    binary, folder, ref = SELDON_IMAGES[name]
    source = f"{PIN['repository']} {PIN['tag']} ({PIN['commit'][:12]}) {folder}/, {PIN['license']}"
    changes = [f'ENTRYPOINT ["/{binary}"]', "USER 65532:65532", "WORKDIR /",
               f'LABEL {SOURCE_LABEL}="{source}"', f"LABEL org.opencontainers.image.version={VERSION}",
               f"LABEL org.opencontainers.image.revision={PIN['commit']}",
               f"LABEL org.opencontainers.image.source={PIN['repository']}",
               f"LABEL org.opencontainers.image.licenses={PIN['license']}"]
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
