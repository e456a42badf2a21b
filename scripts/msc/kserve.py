"""KServe 0.20.0's Go programs, built from its verified source (msc.sources, scripts/pins.toml [sources.kserve]):
the controller (`cmd/manager`: InferenceService, InferenceGraph and TrainedModel controllers and the webhooks)
and the InferenceGraph router (`cmd/router`), which the kserve-controller chart and its images run.

Both are built in a writable copy of the module (its own replace directives apply), static (CGO_ENABLED=0),
`GOFLAGS=-mod=mod` (KServe's module is not on the proxy; every dependency is). go.mod says `go 1.25.8`, so the
binaries keep Go 1.25's GODEBUG defaults, which are the current ones. Each binary is checked by running it;
the folder is stamped with the source ids and the recipe, and reused while they match."""
from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

from . import gomod, sources
from .env import CACHE, IMAGES_CACHE, PINS, go_env
from .proc import BuildError, atomic_dir, logger

PIN = PINS["sources"]["kserve"]
VERSION = PIN["tag"].lstrip("v")
BIN_DIR = CACHE / "bin" / f"kserve-{PIN['tag']}"
BINARIES = {"manager": "./cmd/manager", "router": "./cmd/router"}   # binary -> the package it is built from
RECIPE = 1
STAMP = json.dumps({"ids": PIN["ids"], "recipe": RECIPE, "binaries": BINARIES}, sort_keys=True)
log = logger("kserve")


def runs(binary: Path) -> bool:
    """The binary starts and prints its flags (`-help`: Go's flag package answers with 'Usage of')."""
    if not binary.exists():
        return False
    proc = subprocess.run([str(binary), "-help"], capture_output=True, text=True, timeout=30)
    return "Usage of" in proc.stdout + proc.stderr


def stamp_ok(folder: Path) -> bool:
    return (folder / ".recipe.json").exists() and (folder / ".recipe.json").read_text() == STAMP


def work_tree() -> Path:
    """A writable copy of the verified module (cmd/, pkg/, go.mod, go.sum), made once per pin."""
    work = CACHE / "src" / f"kserve-build-{PIN['tag']}"
    if stamp_ok(work):
        return work
    src = sources.source_tree("kserve")

    def build(tmp: Path) -> None:
        for folder in ("cmd", "pkg"):
            shutil.copytree(src / folder, tmp / folder, symlinks=True)
        for name in ("go.mod", "go.sum", "LICENSE"):
            shutil.copy(src / name, tmp / name)
        (tmp / ".recipe.json").write_text(STAMP)
    atomic_dir(work, build)
    return work


def step_binaries() -> str:
    """manager and router in $MSC_CACHE/bin/kserve-<tag>/ (cold: about 3 minutes for the manager on 2 cores,
    seconds for the router after it); progress every minute."""
    binaries = [BIN_DIR / b for b in BINARIES]
    if stamp_ok(BIN_DIR) and all(runs(b) for b in binaries):
        return f"cached ({BIN_DIR})"
    work = work_tree()
    logs = IMAGES_CACHE / "logs"

    def build(tmp: Path) -> None:
        for binary, package in BINARIES.items():
            gomod.build(work, [package], tmp / binary, what=f"go build the KServe {binary} ({package})",
                        env=go_env(GOFLAGS="-buildvcs=false -mod=mod"), log_file=logs / f"go-build-kserve-{binary}.log",
                        progress=log)
        broken = [b for b in BINARIES if not runs(tmp / b)]
        if broken:
            raise BuildError(f"built KServe binaries do not start: {broken} (logs in {logs})")
        shutil.copy(work / "LICENSE", tmp / "LICENSE")
        (tmp / ".recipe.json").write_text(STAMP)
    atomic_dir(BIN_DIR, build)
    return f"built ({', '.join(f'{b.name} {b.stat().st_size / 1e6:.0f} MB' for b in binaries)})"


if __name__ == "__main__":
    print(step_binaries())
