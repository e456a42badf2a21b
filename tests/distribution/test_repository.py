"""The charts as users get them: packaged, signed, indexed, served over HTTP and OCI, and verified.
(Installing from both repositories into a real cluster is in tests/cluster_kwok.)"""
from __future__ import annotations

import json
import re
import shutil
import tarfile
from pathlib import Path

import pytest
import yaml

from harness import CHARTS
from harness.distribution import SigningKey, helm_run, oci_registry, serve_directory

pytestmark = pytest.mark.lint

CHART_META = {p.parent.name: yaml.safe_load(p.read_text()) for p in sorted(CHARTS.glob("*/Chart.yaml"))}
# What a packaged chart may hold: nothing else (no ci/, snapshots, caches or test code) reaches users.
ALLOWED = re.compile(r"^[^/]+/(Chart\.yaml|Chart\.lock|values\.yaml|values\.schema\.json|README\.md|LICENSE|\.helmignore|"
                     r"templates/.+|crds/.+\.yaml|files/.+|dashboards/.+\.json|charts/[^/]+\.tgz)$")


def allowed(name: str) -> bool:
    """Dependencies are packed as charts/<dep>/...: each is held to the same rule as a chart."""
    parts = name.split("/")
    while len(parts) > 3 and parts[1] == "charts":
        parts = parts[2:]
    return bool(ALLOWED.match("/".join(parts)))


def package_of(repo: Path, chart: str) -> Path:
    return repo / f"{chart}-{CHART_META[chart]['version']}.tgz"


@pytest.mark.parametrize("chart", sorted(CHART_META))
def test_packaged_signed_and_verifiable(signed_repo: Path, signing_key: SigningKey, chart: str, helm: str, tmp_path: Path) -> None:
    tgz = package_of(signed_repo, chart)
    assert tgz.exists() and Path(f"{tgz}.prov").exists()
    ok = helm_run(helm, ["verify", str(tgz), "--keyring", str(signing_key.pubring)], tmp_path)
    assert ok.returncode == 0 and "Chart Hash Verified" in ok.stdout + ok.stderr, ok.stderr
    tampered = tmp_path / tgz.name
    shutil.copy(tgz, tampered)
    shutil.copy(f"{tgz}.prov", f"{tampered}.prov")
    with tampered.open("ab") as f:
        f.write(b"\0")
    bad = helm_run(helm, ["verify", str(tampered), "--keyring", str(signing_key.pubring)], tmp_path)
    assert bad.returncode != 0, "a modified package must fail verification"


@pytest.mark.parametrize("chart", sorted(CHART_META))
def test_package_holds_only_what_users_need(signed_repo: Path, chart: str) -> None:
    with tarfile.open(package_of(signed_repo, chart)) as tgz:
        names = [m.name for m in tgz.getmembers() if m.isfile()]
    unexpected = [n for n in names if not allowed(n)]
    assert not unexpected, f"{chart} package carries files users do not need: {unexpected}"
    assert f"{chart}/Chart.yaml" in names and f"{chart}/values.yaml" in names


def test_index_carries_artifacthub_metadata(signed_repo: Path) -> None:
    index = yaml.safe_load((signed_repo / "index.yaml").read_text())
    assert set(index["entries"]) == set(CHART_META)
    for chart, meta in CHART_META.items():
        entry = index["entries"][chart][0]
        assert entry["version"] == meta["version"]
        for key_ in ("artifacthub.io/license", "artifacthub.io/changes"):
            assert entry["annotations"][key_] == meta["annotations"][key_]
        if "artifacthub.io/images" in meta["annotations"]:
            assert yaml.safe_load(entry["annotations"]["artifacthub.io/images"])


def test_http_repository_add_search_and_template(signed_repo: Path, signing_key: SigningKey, helm: str, tmp_path: Path) -> None:
    with serve_directory(signed_repo) as url:
        added = helm_run(helm, ["repo", "add", "msc", url], tmp_path)
        assert added.returncode == 0, added.stderr
        found = helm_run(helm, ["search", "repo", "msc/", "--output", "json"], tmp_path)
        assert {e["name"] for e in json.loads(found.stdout)} == {f"msc/{c}" for c in CHART_META}
        for chart, meta in CHART_META.items():
            if meta.get("type") == "library":
                continue
            out = helm_run(helm, ["template", "demo", f"msc/{chart}", "--version", meta["version"], "--verify",
                                  "--keyring", str(signing_key.pubring)], tmp_path)
            assert out.returncode == 0, f"{chart}: {out.stderr}"
            assert "kind:" in out.stdout


def test_oci_push_and_pull_by_version_and_digest(signed_repo: Path, helm: str, tmp_path: Path) -> None:
    (tmp_path / "v").mkdir()
    (tmp_path / "d").mkdir()
    with oci_registry(tmp_path / "registry") as registry:
        for chart, meta in CHART_META.items():
            pushed = helm_run(helm, ["push", str(package_of(signed_repo, chart)), f"oci://{registry}/charts", "--plain-http"], tmp_path)
            assert pushed.returncode == 0, pushed.stderr
            digest = re.search(r"Digest: (sha256:[0-9a-f]{64})", pushed.stdout + pushed.stderr)
            assert digest, pushed.stdout + pushed.stderr
            ref = f"oci://{registry}/charts/{chart}"
            by_version = helm_run(helm, ["pull", ref, "--version", meta["version"], "--plain-http", "-d", str(tmp_path / "v")], tmp_path)
            assert by_version.returncode == 0, by_version.stderr
            assert (tmp_path / "v" / package_of(signed_repo, chart).name).read_bytes() == package_of(signed_repo, chart).read_bytes()
            by_digest = helm_run(helm, ["pull", f"{ref}@{digest.group(1)}", "--plain-http", "-d", str(tmp_path / "d")], tmp_path)
            assert by_digest.returncode == 0, by_digest.stderr
