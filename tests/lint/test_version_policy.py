"""Every chart change bumps the chart's version: ct lint's version check, exercised on a throwaway
clone where a chart changes without a bump (must fail) and then with one (must pass)."""
from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

from harness import ROOT, tool, tool_env
from harness.paths import TOOLS

pytestmark = pytest.mark.lint

CT_ETC = TOOLS / "etc" / "ct"


def git(repo: Path, *args: str) -> str:
    env = {**tool_env(), "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.invalid",
           "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@example.invalid"}
    return subprocess.run(["git", *args], cwd=repo, check=True, capture_output=True, text=True, env=env).stdout


def ct_lint_changed(repo: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(tool("ct")), "lint", "--config", "ct.yaml", "--lint-conf", str(CT_ETC / "lintconf.yaml"),
                           "--chart-yaml-schema", str(CT_ETC / "chart_schema.yaml")],
                          cwd=repo, capture_output=True, text=True, env=tool_env())


def test_change_without_version_bump_fails_ct_lint(tmp_path: Path) -> None:
    # A clone of the committed tree, whose `origin/main` is the base ct compares against.
    source = tmp_path / "source"
    subprocess.run(["git", "clone", "--quiet", "--no-hardlinks", str(ROOT), str(source)], check=True)
    git(source, "checkout", "-q", "-B", "main")
    clone = tmp_path / "clone"
    subprocess.run(["git", "clone", "--quiet", str(source), str(clone)], check=True)
    git(clone, "checkout", "-q", "-b", "change")
    chart_yaml = clone / "charts" / "ml-common" / "Chart.yaml"
    helpers = clone / "charts" / "ml-common" / "templates" / "_names.tpl"
    helpers.write_text(helpers.read_text() + "\n{{/* a change */}}\n")
    git(clone, "commit", "-q", "-am", "change without bump")

    unbumped = ct_lint_changed(clone)
    assert unbumped.returncode != 0
    assert "chart version not ok. Needs a version bump!" in unbumped.stdout + unbumped.stderr

    text = chart_yaml.read_text()
    version = re.search(r"^version: (\d+)\.(\d+)\.(\d+)$", text, re.MULTILINE)
    assert version
    major, minor, patch = map(int, version.groups())
    chart_yaml.write_text(text.replace(version.group(0), f"version: {major}.{minor}.{patch + 1}"))
    git(clone, "commit", "-q", "-am", "bump")
    bumped = ct_lint_changed(clone)
    assert "Needs a version bump" not in bumped.stdout + bumped.stderr
    assert bumped.returncode == 0, bumped.stdout + bumped.stderr
