"""`helm template` output parsed strictly: a key written twice in one mapping fails (PyYAML, and so render(),
keep the last one silently, which would hide a label the chart emits twice)."""
from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import yaml

from .paths import HELMS, tool_env
from .render import chart_path, render


class UniqueKeyLoader(yaml.SafeLoader):
    """A safe YAML loader that raises ValueError on a duplicate key in a mapping."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        keys = [self.construct_object(key, deep=deep) for key, _ in node.value]
        duplicates = sorted({str(k) for k in keys if keys.count(k) > 1})
        if duplicates:
            raise ValueError(f"keys written twice at line {node.start_mark.line + 1}: {duplicates}")
        return super().construct_mapping(node, deep=deep)


def render_unique_keys(chart: str | Path, values: dict[str, Any], helm: str = "helm4") -> list[dict[str, Any]]:
    """The chart's objects, like render(), parsed with UniqueKeyLoader."""
    render(chart, values, helm=helm)   # builds the chart's dependencies, fails with Helm's message
    proc = subprocess.run([str(HELMS[helm]), "template", "test", str(chart_path(chart)), "--values", "-"],
                          input=json.dumps(values), capture_output=True, text=True, env=tool_env(), check=True)
    return [doc for doc in yaml.load_all(proc.stdout, Loader=UniqueKeyLoader) if doc]
