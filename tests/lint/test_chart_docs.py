"""Every chart's README parameter tables and values.schema.json descriptions are what the `## @param` lines of
its values.yaml generate (harness/chart_docs.py: readme-generator-for-helm for the README, the descriptions
written into our own schema), and every value has such a line (readme-generator refuses a values.yaml
with an undocumented value or metadata for a value that does not exist)."""
from __future__ import annotations

import difflib
from pathlib import Path

import pytest
import yaml

from harness import CHARTS, ROOT
from harness.chart_docs import README_GENERATOR, DocsError, expected_files
from harness.paths import tool

pytestmark = [pytest.mark.lint,
              pytest.mark.skipif(not tool(README_GENERATOR).exists(), reason=f"{README_GENERATOR} missing: run scripts/bootstrap")]

APPS = [c.parent for c in sorted(CHARTS.glob("*/Chart.yaml")) if yaml.safe_load(c.read_text()).get("type") != "library"]
FIX = ".tools/venv/bin/python -m pytest tests/lint/test_chart_docs.py --update-docs"


@pytest.mark.parametrize("chart", APPS, ids=lambda p: p.name)
def test_readme_and_schema_descriptions_are_generated(chart: Path, request: pytest.FixtureRequest) -> None:
    try:
        expected = expected_files(chart)
    except DocsError as err:
        pytest.fail(f"{chart.name}: {err}\nFix values.yaml's @param lines, then run: {FIX}")
    stale = {path: text for path, text in expected.items() if path.read_text() != text}
    if stale and request.config.getoption("--update-docs"):
        for path, text in stale.items():
            path.write_text(text)
        return
    diffs = ["".join(difflib.unified_diff(path.read_text().splitlines(keepends=True), text.splitlines(keepends=True),
                                          str(path.relative_to(ROOT)), "generated", n=1))[:3000]
             for path, text in stale.items()]
    assert not stale, (f"{chart.name}: {', '.join(p.name for p in stale)} differ from what the @param lines of "
                       f"{chart.name}/values.yaml generate; run: {FIX}\n" + "\n".join(diffs))
