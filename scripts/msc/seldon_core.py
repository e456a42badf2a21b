"""Seldon Core 1.17.1's Go programs, built from its verified source (msc.sources, scripts/pins.toml
[sources.seldon-core]): the operator (`manager`, which the kwok tier runs as a local process and the operator
image wraps) and the executor (the service orchestrator the operator puts beside every graph).

- operator: `go build -o manager .` in a writable copy of operator/, static (CGO_ENABLED=0);
- executor: `go build ./cmd/executor` in a copy of executor/ with operator/ copied to _operator/ (its go.mod
  replaces the operator module with ./_operator, as upstream's Makefile does). confluent-kafka-go needs cgo,
  so it links statically against musl (Debian's musl-tools) and the musl librdkafka the module bundles;
- both go.mod files say `go 1.17`, which would link Go 1.17's GODEBUG defaults into the binaries (a webhook
  that accepts TLS 1.0 and RSA key exchange): the copies get `godebug default=go1.26`, a link-time setting.
Each binary is checked by running it; the folder is stamped with the source ids and the recipe."""
from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
from pathlib import Path

from . import gomod, sources
from .debian import apt_install
from .env import BIN, CACHE, IMAGES, IMAGES_CACHE, PINS, go_env
from .proc import BuildError, atomic_dir, run

PIN = PINS["sources"]["seldon-core"]
VERSION = PIN["tag"].lstrip("v")
BIN_DIR = CACHE / "bin" / f"seldon-core-{PIN['tag']}"
BINARIES = {"manager": "operator", "executor": "executor"}   # binary -> the source folder it is built from
RECIPE = 2
# The two changes to upstream's code (images/seldon-operator/README.md says why): the containers the operator
# injects (executor, storage initializer) get the securityContext Pod Security "restricted" asks for, and the
# executor it injects keeps serving for EXECUTOR_SHUTDOWN_DELAY after SIGTERM (its --shutdown_delay).
PATCHES = [IMAGES / "seldon-operator" / "restricted-security-context.patch",
           IMAGES / "seldon-operator" / "executor-shutdown-delay.patch"]
STAMP = json.dumps({"ids": PIN["ids"], "recipe": RECIPE, "patches": [hashlib.sha256(p.read_bytes()).hexdigest()
                                                                      for p in PATCHES]}, sort_keys=True)


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
        for folder in ("operator", "executor"):
            shutil.copytree(src / folder, tmp / folder, symlinks=True)
        for patch in PATCHES:
            run(["git", "apply", "-p1", str(patch)], f"apply {patch.relative_to(IMAGES.parent)}", cwd=tmp)
        shutil.copytree(tmp / "operator", tmp / "executor" / "_operator", symlinks=True)   # upstream's copy_operator
        for module in ("operator", "executor"):
            gomod.edit(tmp / module, "-godebug=default=go1.26")
        shutil.copy(src / "LICENSE", tmp / "LICENSE")
        (tmp / ".recipe.json").write_text(STAMP)
    atomic_dir(work, build)
    return work


def step_binaries() -> str:
    """manager and executor in $MSC_CACHE/bin/seldon-core-<tag>/ (cold: about 2 + 2.5 minutes on 2 cores)."""
    binaries = [BIN_DIR / b for b in BINARIES]
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



def step_manager_tool() -> str:
    """.tools/bin/seldon-manager for the kwok tier: a link to the manager built by step_binaries."""
    done = step_binaries()
    link = BIN / "seldon-manager"
    if not (link.is_symlink() and link.resolve() == (BIN_DIR / "manager").resolve()):
        link.unlink(missing_ok=True)
        link.symlink_to(BIN_DIR / "manager")
    return f"{done}; linked {link}"
