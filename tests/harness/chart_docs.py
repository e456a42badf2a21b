"""A chart's documentation generated from the `## @param` lines of its values.yaml: the README's
`## Parameters` section (bitnami's readme-generator-for-helm, pinned in scripts/pins.toml) and the
`description` of every values.schema.json property a @param names (this module: readme-generator's own
--schema output would replace our closed, hand-written schemas, so only descriptions are written here).

tests/lint/test_chart_docs.py fails when a chart's committed files differ from what this produces;
`.tools/venv/bin/python -m pytest tests/lint/test_chart_docs.py --update-docs` rewrites them."""
from __future__ import annotations

import json
import re
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Any

import yaml

from .paths import tool, tool_env

README_GENERATOR = "readme-generator"
# The tags readme-generator reads (its default config): "## @param path [modifiers] description".
_TAG = re.compile(r"^\s*##\s*@(param|extra|skip)\s+(\S+)\s*(\[.*?\])?\s*(.*)$")


class DocsError(Exception):
    """readme-generator refused the chart's metadata, or a @param names no value or schema property."""


def tagged_paths(chart: Path) -> list[tuple[str, str, str]]:
    """(tag, path, description) of every @param, @extra and @skip line of the chart's values.yaml, in order."""
    lines = (chart / "values.yaml").read_text().splitlines()
    return [(m.group(1), m.group(2), m.group(4).strip()) for line in lines if (m := _TAG.match(line))]


def descriptions(chart: Path) -> dict[str, str]:
    """Value path -> description, from the @param and @extra lines."""
    return {path: text for tag, path, text in tagged_paths(chart) if tag in ("param", "extra")}


def readme_generator_command(values: Path, readme: Path) -> list[str]:
    return [str(tool(README_GENERATOR)), "--values", str(values), "--readme", str(readme)]


def generated_readme(chart: Path) -> str:
    """The chart's README.md after readme-generator rewrote its `## Parameters` section (run on a copy)."""
    with tempfile.TemporaryDirectory() as tmp:
        values, readme = Path(tmp) / "values.yaml", Path(tmp) / "README.md"
        shutil.copy(chart / "values.yaml", values)
        shutil.copy(chart / "README.md", readme)
        proc = subprocess.run(readme_generator_command(values, readme), capture_output=True, text=True, env=tool_env())
        if proc.returncode != 0:
            errors = [line for line in (proc.stdout + proc.stderr).splitlines() if "ERROR" in line or "Error" in line]
            raise DocsError(f"readme-generator refused {chart.name}/values.yaml:\n" + "\n".join(errors or [proc.stdout + proc.stderr]))
        return readme.read_text()


def _schema_node(schema: dict[str, Any], path: str) -> dict[str, Any] | None:
    """The schema of a value path reached through `properties` only (keys may contain dots); None when the
    path leads into a map whose keys are free (additionalProperties, patternProperties, a $ref), whose schema
    describes every entry. Raises DocsError when a closed object (additionalProperties: false) lacks the key."""
    node, rest = schema, path.split(".")
    while rest:
        properties = node.get("properties") or {}
        for n in range(len(rest), 0, -1):   # the longest key first: "app.kubernetes.io/name" is one key
            key = ".".join(rest[:n])
            if key in properties:
                node, rest = properties[key], rest[n:]
                break
        else:
            if node.get("additionalProperties") is False and not node.get("patternProperties"):
                raise DocsError(f"values.schema.json has no property for @param {path} (at {'.'.join(rest)})")
            return None
    return node


def schema_with_descriptions(chart: Path) -> str:
    """values.schema.json with each property that a @param or @extra names described by its text; every
    constraint is kept as written. JSON as committed: two-space indent and a final newline."""
    schema = json.loads((chart / "values.schema.json").read_text())
    for path, text in descriptions(chart).items():
        node = _schema_node(schema, path)
        if node is not None and text:
            node["description"] = text
    return json.dumps(schema, indent=2) + "\n"


def check_tagged_paths_exist(chart: Path) -> None:
    """Every @param, @extra and @skip names a value of values.yaml (readme-generator checks @param only)."""
    values = yaml.safe_load((chart / "values.yaml").read_text()) or {}

    def exists(node: Any, rest: list[str]) -> bool:
        if not rest:
            return True
        if not isinstance(node, dict):
            return False
        return any(exists(node[".".join(rest[:n])], rest[n:]) for n in range(len(rest), 0, -1) if ".".join(rest[:n]) in node)

    missing = [f"@{tag} {path}" for tag, path, _ in tagged_paths(chart) if not exists(values, path.split("."))]
    if missing:
        raise DocsError(f"{chart.name}/values.yaml documents values it does not have: {missing}")


def expected_files(chart: Path) -> dict[Path, str]:
    """What README.md and values.schema.json of the chart must contain."""
    check_tagged_paths_exist(chart)
    return {chart / "README.md": generated_readme(chart), chart / "values.schema.json": schema_with_descriptions(chart)}
