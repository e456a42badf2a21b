"""Tiers are pytest markers. A tier whose tools are missing is skipped with the reason, never passed
silently; the end of the run lists every tier and whether it ran."""
from __future__ import annotations

import shutil
import subprocess
from collections import Counter
from pathlib import Path

import pytest

from harness import CI, HELMS, ROOT, require_built, tool
from harness.distribution import SigningKey, make_signing_key, package_repository
from harness.paths import CRDS

TIERS = ("render", "schema", "lint", "cluster_kwok", "cluster_kind", "bench")


def _missing(paths: list[Path]) -> str | None:
    absent = [p.name for p in paths if not p.exists()]
    return f"missing {', '.join(absent)}: run scripts/bootstrap" if absent else None


def _docker_running() -> str | None:
    if not shutil.which("docker"):
        return "no docker client"
    ok = subprocess.run(["docker", "info"], capture_output=True).returncode == 0
    return None if ok else "no running Docker engine (scripts/test and scripts/cluster up --provider kind start one)"


def tier_unavailable(tier: str) -> str | None:
    """Why this machine cannot run the tier, or None when it can."""
    helms = list(HELMS.values())
    if tier == "render":
        return _missing([*helms, tool("promtool")])
    if tier == "schema":
        return _missing(helms) or (None if any(CRDS.rglob("*.yaml")) else "CRDs not fetched: run scripts/bootstrap")
    if tier == "lint":
        return _missing([*helms, tool("ct")])
    if tier == "cluster_kwok":
        return _missing([*helms, tool("kwokctl"), tool("kwok"), tool("kube-apiserver"), tool("etcd")])
    if tier == "cluster_kind":
        return _missing([*helms, tool("kind")]) or _docker_running()
    if tier == "bench":
        return _missing(helms)
    raise KeyError(tier)


def pytest_sessionstart(session: pytest.Session) -> None:
    """Charts render with their CRDs in place (scripts/place-crds; the files are never committed)."""
    proc = subprocess.run([str(ROOT / "scripts" / "place-crds")], capture_output=True, text=True)
    if proc.returncode != 0:
        raise pytest.UsageError(f"scripts/place-crds failed:\n{proc.stdout}{proc.stderr}")


@pytest.fixture(scope="session")
def signing_key(tmp_path_factory: pytest.TempPathFactory) -> SigningKey:
    """A throwaway GPG key (distribution tests in the render-free tiers and the kwok tier share it)."""
    return make_signing_key(tmp_path_factory.mktemp("gnupg"))


@pytest.fixture(scope="session")
def signed_repo(signing_key: SigningKey, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The chart repository scripts/package makes, signed with signing_key; packaged once per session."""
    return package_repository(tmp_path_factory.mktemp("repo"), signing_key)


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--update-snapshots", action="store_true", help="rewrite golden render snapshots")
    parser.addoption("--update-docs", action="store_true",
                     help="rewrite each chart's README parameter tables and values.schema.json descriptions from its @param lines")


_reasons: dict[str, str | None] = {}
_outcomes: dict[str, Counter[str]] = {t: Counter() for t in TIERS}


def pytest_configure(config: pytest.Config) -> None:
    _reasons.update({t: tier_unavailable(t) for t in TIERS})


@pytest.hookimpl(tryfirst=True)   # before xdist's own hook reads the xdist_group markers added here
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    xdist = config.pluginmanager.hasplugin("xdist")   # its marker is unknown under -p no:xdist (scripts/bench)
    for item in items:
        tiers = [m.name for m in item.iter_markers() if m.name in TIERS]
        if not tiers:
            raise pytest.UsageError(f"{item.nodeid} has no tier marker (one of {', '.join(TIERS)})")
        for tier in tiers:
            if _reasons[tier] and CI:   # scripts/test installs every tier's tools: a missing one is a failure
                item.add_marker(pytest.mark.tier_missing(reason=f"tier {tier} cannot run: {_reasons[tier]}"))
            elif _reasons[tier]:
                item.add_marker(pytest.mark.skip(reason=f"tier {tier} skipped: {_reasons[tier]}"))
            if xdist and tier.startswith("cluster_"):
                # One cluster per tier: every test of a cluster tier runs in the same xdist worker.
                item.add_marker(pytest.mark.xdist_group(tier))


def pytest_runtest_setup(item: pytest.Item) -> None:
    for marker in item.iter_markers("tier_missing"):
        require_built(False, marker.kwargs["reason"])


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    """Tally outcomes per tier (runs in the xdist controller too, from the workers' reports)."""
    if report.when == "call" or (report.when == "setup" and not report.passed):
        for tier in TIERS:
            if tier in report.keywords:
                _outcomes[tier][report.outcome] += 1


def pytest_terminal_summary(terminalreporter, exitstatus: int, config: pytest.Config) -> None:  # type: ignore[no-untyped-def]
    terminalreporter.section("tiers")
    for tier in TIERS:
        counts = _outcomes[tier]
        if _reasons.get(tier) and not counts["passed"] and not counts["failed"]:
            terminalreporter.write_line(f"{tier:13} SKIPPED: {_reasons[tier]}")
        elif sum(counts.values()):
            terminalreporter.write_line(f"{tier:13} " + ", ".join(f"{n} {k}" for k, n in sorted(counts.items())))
        else:
            terminalreporter.write_line(f"{tier:13} not selected")


@pytest.fixture(params=sorted(HELMS), ids=lambda h: h)
def helm(request: pytest.FixtureRequest) -> str:
    """Each test that takes `helm` runs once with Helm 4 and once with Helm 3."""
    return request.param
