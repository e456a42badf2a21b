"""The house rules of the tooling (docs/architecture.md): one standard-library-only package behind the
commands, reached by the tests through pytest's pythonpath; no path hacks, no imports from tests/ and no
import cycles inside the package."""
from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

from harness import ROOT

pytestmark = pytest.mark.lint

PACKAGE = ROOT / "scripts" / "msc"
PYTHON_FILES = [p for d in ("scripts", "tests", "images") for p in (ROOT / d).rglob("*.py")]


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports_of(path: Path) -> list[str]:
    """Absolute names of every module a file of the package imports (relative imports resolved)."""
    here = module_name(path)
    package = here if path.name == "__init__.py" else here.rsplit(".", 1)[0]
    names = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names += [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, *([base] if base else [])])
            names.append(base)
            names += [f"{base}.{a.name}" for a in node.names]   # `from . import kube` names a module
    return names


def package_graph() -> dict[str, set[str]]:
    modules = {module_name(p): p for p in PACKAGE.rglob("*.py")}
    return {name: {i for i in imports_of(path) if i in modules and i != name} for name, path in modules.items()}


def test_no_path_hacks() -> None:
    hack = "sys.path" + ".insert"   # spelled apart, so this file does not find itself
    offenders = [str(p.relative_to(ROOT)) for p in PYTHON_FILES if hack in p.read_text()]
    assert not offenders, f"{hack} in {offenders}: import through pytest.ini's pythonpath or python3 -m msc.*"


# Programs whose source the package sends to a client pod (`kubectl exec ... python -c`), whose image has the
# libraries they import; the package itself never imports them.
POD_PROGRAMS = {PACKAGE / "grpc_calls.py"}


def test_package_uses_only_the_standard_library_and_itself() -> None:
    """It runs before the venv exists (scripts/bootstrap makes the venv) and never reaches into tests/."""
    foreign = {}
    importers = {str(p.relative_to(ROOT)) for p in PACKAGE.rglob("*.py")
                 if any(i.endswith(".grpc_calls") or i == "msc.grpc_calls" for i in imports_of(p))}
    assert not importers, f"pod programs ({[p.name for p in POD_PROGRAMS]}) are sent to pods, never imported: {importers}"
    for path in set(PACKAGE.rglob("*.py")) - POD_PROGRAMS:
        for name in imports_of(path):
            top = name.split(".")[0]
            if top not in sys.stdlib_module_names and top != "msc" and top != "__future__":
                foreign.setdefault(str(path.relative_to(ROOT)), set()).add(name)
    assert not foreign, f"imports from outside the standard library and msc: {foreign}"


def test_package_has_no_import_cycle() -> None:
    graph = package_graph()
    seen: dict[str, str] = {}   # module -> "active" | "done"

    def visit(module: str, path: list[str]) -> None:
        seen[module] = "active"
        for dep in sorted(graph[module]):
            if seen.get(dep) == "active":
                pytest.fail(f"import cycle: {' -> '.join([*path[path.index(dep):], dep])}")
            if dep not in seen:
                visit(dep, [*path, dep])
        seen[module] = "done"
    for module in sorted(graph):
        if module not in seen:
            visit(module, [module])


def test_every_command_is_a_thin_entry_point() -> None:
    """scripts/<command> only runs a module of the package (or pytest, for test and bench)."""
    for script in sorted(p for p in (ROOT / "scripts").iterdir() if p.is_file() and p.suffix == "" and p.name != "pins"):
        text = script.read_text()
        assert text.startswith("#!/usr/bin/env bash"), script.name
        assert "-m msc." in text or "-m pytest" in text, f"scripts/{script.name} does not run a module of msc"
        assert len(text.splitlines()) <= 30, f"scripts/{script.name} holds logic: move it into scripts/msc"
