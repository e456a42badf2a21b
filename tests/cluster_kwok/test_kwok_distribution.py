"""The charts as users install them: packaged and signed by scripts/package, then `helm install --verify`
from the HTTP repository, and `helm install` from an OCI registry (Debian's docker-registry) by version
(with --verify: `helm push` uploads the .prov next to the chart) and by digest, into the kwok cluster, under
Helm 4 and Helm 3 (both support OCI references by digest). tests/distribution checks the packages
themselves (contents, signatures, tampering, index metadata)."""
from __future__ import annotations

import re
from pathlib import Path
from typing import Callable, Iterator

import pytest
import yaml

from harness import CHARTS
from harness.cluster import Helm
from harness.distribution import SigningKey, helm_run, oci_registry, serve_directory
from kwok_support import KwokEnv, assert_release_stored, cluster_scoped_kinds, coexistence_values

pytestmark = pytest.mark.cluster_kwok


@pytest.fixture(scope="module")
def charts(signed_repo: Path) -> dict[str, str]:
    """Application chart -> version, from the repository's index."""
    index = yaml.safe_load((signed_repo / "index.yaml").read_text())["entries"]
    return {name: entries[0]["version"] for name, entries in index.items() if entries[0].get("type") != "library"}


@pytest.fixture(scope="module")
def http_repo(signed_repo: Path) -> Iterator[str]:
    with serve_directory(signed_repo) as url:
        yield url


@pytest.fixture(scope="module")
def oci(signed_repo: Path, charts: dict[str, str], tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, dict]]:
    """The registry's host:port and each chart's digest, pushed (with its .prov) once."""
    work = tmp_path_factory.mktemp("oci")
    with oci_registry(work / "registry") as registry:
        digests = {}
        for chart, version in charts.items():
            pushed = helm_run("helm4", ["push", str(signed_repo / f"{chart}-{version}.tgz"), f"oci://{registry}/charts",
                                        "--plain-http"], work)
            assert pushed.returncode == 0, pushed.stderr
            digests[chart] = re.search(r"Digest: (sha256:[0-9a-f]{64})", pushed.stdout + pushed.stderr).group(1)
        yield registry, digests


@pytest.fixture(scope="module")
def scoped(kwok: KwokEnv) -> set[str]:
    return cluster_scoped_kinds(kwok.kubectl)


def _charts() -> list[str]:
    """Application charts (collection time: from charts/; the index is checked against it below)."""
    return sorted(p.parent.name for p in CHARTS.glob("*/Chart.yaml")
                  if yaml.safe_load(p.read_text()).get("type") != "library")


def _install_checked(kwok: KwokEnv, helm: Helm, release: str, ref: str, chart: str, ns: str, scoped: set[str],
                     extra: list[str]) -> None:
    helm.install(release, ref, ns, values=coexistence_values(chart, None, release), extra=extra)
    try:
        assert_release_stored(kwok.kubectl, helm, release, ns, scoped)
        (listed,) = [r for r in helm.releases() if r["name"] == release and r["namespace"] == ns]
        assert listed["chart"].startswith(f"{chart}-") and listed["status"] == "deployed", listed
    finally:
        helm.uninstall(release, ns, wait=False, check=False)


def test_index_lists_every_application_chart(charts: dict[str, str]) -> None:
    assert sorted(charts) == _charts()


@pytest.mark.parametrize("chart", _charts())
def test_install_verified_from_http_repository(kwok: KwokEnv, helm: str, helm_cli: Helm, http_repo: str,
                                               signing_key: SigningKey, charts: dict[str, str], scoped: set[str],
                                               namespace: Callable[..., str], chart: str) -> None:
    added = helm_cli.run("repo", "add", "msc", http_repo, "--force-update")
    assert added.returncode == 0
    ns = namespace(f"http-{chart}-{helm}")
    _install_checked(kwok, helm_cli, f"http-{helm[-1]}", f"msc/{chart}", chart, ns, scoped,
                     ["--version", charts[chart], "--verify", "--keyring", str(signing_key.pubring)])


@pytest.mark.parametrize("chart", _charts())
def test_install_from_oci_by_version_and_digest(kwok: KwokEnv, helm: str, helm_cli: Helm, oci: tuple[str, dict],
                                                signing_key: SigningKey, charts: dict[str, str], scoped: set[str],
                                                namespace: Callable[..., str], chart: str) -> None:
    registry, digests = oci
    ns = namespace(f"oci-{chart}-{helm}")
    ref = f"oci://{registry}/charts/{chart}"
    _install_checked(kwok, helm_cli, f"ver-{helm[-1]}", ref, chart, ns, scoped,
                     ["--version", charts[chart], "--plain-http", "--verify", "--keyring", str(signing_key.pubring)])
    _install_checked(kwok, helm_cli, f"dig-{helm[-1]}", f"{ref}@{digests[chart]}", chart, ns, scoped, ["--plain-http"])
