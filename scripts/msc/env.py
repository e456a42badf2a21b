"""Where everything lives, and the pins: the ONE place the paths and scripts/pins.toml are read.

Paths can be moved with environment variables: MSC_TOOLS (default .tools/ in the checkout: the links the
tiers use), MSC_CACHE (default ~/.cache/ml-serving-charts: per-version builds shared by checkouts)."""
from __future__ import annotations

import os
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CHARTS = ROOT / "charts"
VALUES = ROOT / "values"
IMAGES = ROOT / "images"
PINS_FILE = ROOT / "scripts" / "pins.toml"
PINS: dict = tomllib.loads(PINS_FILE.read_text())

TOOLS = Path(os.environ.get("MSC_TOOLS", ROOT / ".tools"))
BIN = TOOLS / "bin"
CRDS = TOOLS / "crds"
VENV_PYTHON = TOOLS / "venv" / "bin" / "python"
CACHE = Path(os.environ.get("MSC_CACHE", Path.home() / ".cache" / "ml-serving-charts"))
IMAGES_CACHE = CACHE / "images"
CLUSTERS = ROOT / ".cluster"          # local clusters' files (git-ignored)

K8S_VERSION: str = PINS["kubernetes"]["version"]


def tool(name: str) -> Path:
    """A bootstrapped binary in .tools/bin (it may not exist yet: callers say which bootstrap group makes it)."""
    return BIN / name


def tool_env(base: dict[str, str] | None = None) -> dict[str, str]:
    """The environment for tools: bootstrapped binaries first on PATH, then the venv's."""
    env = dict(os.environ if base is None else base)
    env["PATH"] = f"{BIN}{os.pathsep}{TOOLS / 'venv' / 'bin'}{os.pathsep}{env.get('PATH', '')}"
    return env


def go_env(**extra: str) -> dict[str, str]:
    """The environment every Go build and module download runs in: no workspace, no VCS stamping, static."""
    return {**os.environ, "GOWORK": "off", "GOFLAGS": "-buildvcs=false", "CGO_ENABLED": "0", **extra}
