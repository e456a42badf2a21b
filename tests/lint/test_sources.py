"""Upstream source from the mirror or a download, verified before use (scripts/msc/sources.py): the mirror's
file by its sha256, a download by the git ids of the pinned folders; a mismatch or a missing source is refused
with a message that names the file, the expected value and what to do. Downloads here come from a loopback
server (no test leaves this machine)."""
from __future__ import annotations

import tarfile
from pathlib import Path

import pytest
from msc import sources
from msc.env import PINS
from msc.proc import MscError

from harness.distribution import serve_directory

pytestmark = pytest.mark.lint

NAME = "seldon-core"
PIN = PINS["sources"][NAME]


@pytest.fixture(scope="session")
def mirror_tree() -> Path:
    """The source as the mirror gives it (made before any test isolates the cache and the mirror)."""
    return sources.source_tree(NAME)


@pytest.fixture
def isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty cache and an empty mirror: nothing found unless the test puts it there; a download that no
    test points at loopback fails at once instead of leaving the machine."""
    monkeypatch.setattr(sources, "download_url", lambda pin: "http://127.0.0.1:9/not-served")
    monkeypatch.setattr(sources, "CACHE", tmp_path / "cache")
    mirror = tmp_path / "mirror"
    mirror.mkdir()
    monkeypatch.setenv(sources.MIRROR_SETTING, str(mirror))
    return mirror


def repack(tree: Path, out: Path, tamper: str | None = None) -> Path:
    """The verified tree as a download would bring it: other bytes (compression, order, mtimes), same content;
    `tamper` names a file whose content is changed."""
    with tarfile.open(out, "w:gz") as tar:
        for path in sorted(tree.rglob("*")):
            if path.name == ".verified.json":
                continue
            arcname = f"{PIN['prefix']}{path.relative_to(tree)}"
            if tamper and str(path.relative_to(tree)) == tamper:
                changed = out.parent / "changed"
                changed.write_bytes(path.read_bytes() + b"\n# changed\n")
                tar.add(changed, arcname=arcname)
            else:
                tar.add(path, arcname=arcname, recursive=False)
    return out


def test_the_mirror_archive_verifies(mirror_tree: Path) -> None:
    tree = mirror_tree
    assert sources.git_ids(tree, list(PIN["ids"])) == PIN["ids"]
    assert (tree / "operator" / "main.go").exists() and (tree / "LICENSE").exists()


def test_the_kserve_archive_verifies_and_holds_its_crds() -> None:
    """KServe's archive (issue 22) by the same rules: its pinned folders' git ids, and the full CRDs that
    [crds.kserve] takes from it (strict validation needs the full schemas, not config/crd/minimal)."""
    pin = PINS["sources"]["kserve"]
    tree = sources.source_tree("kserve")
    assert sources.git_ids(tree, list(pin["ids"])) == pin["ids"]
    for rel in PINS["crds"]["kserve"]["files"]:
        text = (tree / rel).read_text()
        assert "kind: CustomResourceDefinition" in text and "openAPIV3Schema" in text, rel


def test_a_mirror_file_with_another_sha256_is_refused(isolated: Path) -> None:
    (isolated / PIN["file"]).write_bytes(b"not the tagged archive")
    with pytest.raises(MscError) as err:
        sources.source_tree(NAME)
    assert str(isolated / PIN["file"]) in str(err.value) and PIN["sha256"] in str(err.value)


def test_a_download_is_verified_by_git_ids(mirror_tree: Path, isolated: Path, tmp_path: Path,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    served = tmp_path / "served"
    served.mkdir()
    repack(mirror_tree, served / "v1.17.1.tar.gz")
    with serve_directory(served) as url:
        monkeypatch.setattr(sources, "download_url", lambda pin: f"{url}/v1.17.1.tar.gz")
        tree = sources.source_tree(NAME)
    assert tree.is_relative_to(tmp_path / "cache")
    assert sources.git_ids(tree, list(PIN["ids"])) == PIN["ids"]


def test_a_tampered_download_is_refused(mirror_tree: Path, isolated: Path, tmp_path: Path,
                                        monkeypatch: pytest.MonkeyPatch) -> None:
    served = tmp_path / "served"
    served.mkdir()
    repack(mirror_tree, served / "v1.17.1.tar.gz", tamper="operator/main.go")
    with serve_directory(served) as url:
        monkeypatch.setattr(sources, "download_url", lambda pin: f"{url}/v1.17.1.tar.gz")
        with pytest.raises(MscError) as err:
            sources.source_tree(NAME)
    assert "operator is " in str(err.value) and PIN["ids"]["operator"] in str(err.value)
    assert not (tmp_path / "cache" / "src" / f"{NAME}-{PIN['tag']}").exists(), "nothing unverified is kept"


def test_without_mirror_or_download_the_error_says_what_to_do(isolated: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sources, "download_url", lambda pin: "http://127.0.0.1:9/closed")
    with pytest.raises(MscError) as err:
        sources.source_tree(NAME)
    message = str(err.value)
    assert PIN["file"] in message and sources.MIRROR_SETTING in message and PIN["tag"] in message
    assert "Download" in message and str(isolated / PIN["file"]) in message
