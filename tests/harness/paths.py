"""Where things live, for the tests: the tooling package's paths and pins (msc.env), plus the harness's own."""
from __future__ import annotations

from pathlib import Path

from msc.env import BIN, CHARTS, CRDS, PINS, ROOT, TOOLS, VALUES, tool, tool_env
from msc.kube import HELMS, TEST_CHARTS

OWN_SCHEMAS = Path(__file__).resolve().parent / "schemas"
KUBERNETES_MINORS: list[str] = PINS["kubernetes_minors"]

__all__ = ["BIN", "CHARTS", "CRDS", "HELMS", "KUBERNETES_MINORS", "OWN_SCHEMAS", "PINS", "ROOT", "TEST_CHARTS",
           "TOOLS", "VALUES", "tool", "tool_env"]
