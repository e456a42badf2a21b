"""Where things live: the repository, its charts and scenarios, and the bootstrapped tools."""
from __future__ import annotations

import os
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CHARTS = ROOT / "charts"
VALUES = ROOT / "values"
TEST_CHARTS = ROOT / "tests" / "charts"
TOOLS = Path(os.environ.get("MSC_TOOLS", ROOT / ".tools"))
BIN = TOOLS / "bin"
CRDS = TOOLS / "crds"
OWN_SCHEMAS = Path(__file__).resolve().parent / "schemas"
PINS = tomllib.loads((ROOT / "scripts" / "pins.toml").read_text())

# The Helm binaries every render is repeated with: name -> path (helm3 = Helm 3, helm = Helm 4).
HELMS = {"helm4": BIN / "helm", "helm3": BIN / "helm3"}
KUBERNETES_MINORS: list[str] = PINS["kubernetes_minors"]


def tool(name: str) -> Path:
    """Path of a bootstrapped binary (it may not exist: callers skip with a reason)."""
    return BIN / name


def tool_env() -> dict[str, str]:
    """Environment for subprocesses: bootstrapped tools first on PATH, ct's config files found."""
    env = dict(os.environ)
    env["PATH"] = f"{BIN}{os.pathsep}{TOOLS / 'venv' / 'bin'}{os.pathsep}{env.get('PATH', '')}"
    return env
