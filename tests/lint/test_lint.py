"""ct lint (the real ct), helm lint --strict under both Helms, yamllint on every YAML we write."""
from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from harness import CHARTS, HELMS, ROOT, VALUES, tool, tool_env
from harness.paths import TOOLS
from harness.render import build_dependencies

pytestmark = pytest.mark.lint

CHART_DIRS = sorted(p.parent for p in CHARTS.glob("*/Chart.yaml"))
CT_ETC = TOOLS / "etc" / "ct"


def _run(cmd: list[str | Path], cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(c) for c in cmd], cwd=cwd, capture_output=True, text=True, env=tool_env())


def test_ct_lint_all_charts() -> None:
    """Yamale on Chart.yaml, yamllint, helm lint per ci/*-values.yaml, as users' CI runs it. The dependencies are
    built first under the harness's lock, not by ct: its in-place rebuild would race renders in another worker."""
    for chart in CHART_DIRS:
        build_dependencies(chart.resolve())
    proc = _run([tool("ct"), "lint", "--config", ROOT / "ct.yaml", "--all", "--skip-helm-dependencies",
                 "--lint-conf", CT_ETC / "lintconf.yaml", "--chart-yaml-schema", CT_ETC / "chart_schema.yaml"])
    assert proc.returncode == 0, proc.stdout + proc.stderr
    for chart in CHART_DIRS:
        assert f"{chart.name} => (version:" in proc.stdout + proc.stderr, f"ct did not lint {chart.name}"


@pytest.mark.parametrize("chart", CHART_DIRS, ids=lambda p: p.name)
def test_helm_lint_strict(chart: Path, helm: str) -> None:
    values_files = sorted((chart / "ci").glob("*-values.yaml")) or [None]
    for values in values_files:
        cmd: list[str | Path] = [HELMS[helm], "lint", "--strict", chart]
        if values:
            cmd += ["--values", values]
        proc = _run(cmd)
        assert proc.returncode == 0, f"{helm} lint {chart.name} {values or ''}:\n{proc.stdout}{proc.stderr}"


def test_yamllint_values_and_scenarios() -> None:
    files = [p for p in (*VALUES.rglob("*.yaml"), *CHARTS.glob("*/values.yaml"), *CHARTS.glob("*/ci/*.yaml"),
                         *CHARTS.glob("*/Chart.yaml"), ROOT / "ct.yaml")]
    proc = _run([TOOLS / "venv" / "bin" / "yamllint", "--strict", "-c", CT_ETC / "lintconf.yaml", *files])
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_python_has_no_unused_or_undefined_names() -> None:
    """pyflakes over the harness, the suites and the scripts: dead imports and typos fail early."""
    files = [p for p in (*ROOT.glob("tests/**/*.py"), *ROOT.glob("scripts/**/*.py"), *ROOT.glob("images/**/*.py"))
             if ".tools" not in p.parts]
    proc = _run([TOOLS / "venv" / "bin" / "python", "-m", "pyflakes", *files])
    assert proc.returncode == 0, proc.stdout + proc.stderr


@pytest.mark.parametrize("plugin_args", [["-p", "no:xdist"], ["-n", "2"]], ids=["no-xdist", "xdist"])
def test_suite_collects_the_ways_the_scripts_run_it(plugin_args: list[str]) -> None:
    """scripts/bench runs pytest with -p no:xdist, scripts/test in one process, developers with -n 2: the
    tier hooks must work in each (a marker only xdist registers once broke scripts/bench)."""
    proc = subprocess.run([sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "no:cacheprovider", *plugin_args],
                          cwd=ROOT, capture_output=True, text=True, env=tool_env(), timeout=300)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert re.search(r"^\d{3,} tests collected", proc.stdout, re.M), proc.stdout[-3000:]
