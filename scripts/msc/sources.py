"""Upstream source that no registry here serves (scripts/pins.toml [sources.*]): found, verified, unpacked.

Where it comes from, first match wins:
  1. the folder $MSC_SOURCES (default: ../shared/sources beside the checkout, when that exists) holding the
     pinned file, which must have the pinned sha256;
  2. a download of the pinned tag from the upstream repository (GitHub's archive of the tag: its bytes differ
     from the mirror's, so it is verified by the git ids of the pinned folders and files instead).
With neither, the error says what to download and where to put it. Nothing of it is committed: archives are
unpacked into $MSC_CACHE/src/<name>-<tag> (atomically, with a stamp of what was verified).

git ids are computed as git does: blob = sha1("blob <size>\\0" + data); tree = sha1("tree <size>\\0" +
entries), an entry being "<mode> <name>\\0" + the raw id, sorted by name with folders compared as "name/";
modes 100644, 100755 (any x bit), 120000 (symlink: the blob is the link target), 40000 (tree)."""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import sys
import tarfile
import tempfile
import urllib.error
import urllib.request
from pathlib import Path

from .env import CACHE, PINS, ROOT
from .proc import MscError, logger

log = logger("sources")
MIRROR_SETTING = "MSC_SOURCES"
DOWNLOAD_TIMEOUT = 120


class SourceError(MscError):
    """Upstream source that is missing or does not match its pins."""


def mirror_dir() -> Path | None:
    """The source mirror folder: $MSC_SOURCES, else ../shared/sources beside the checkout when it exists."""
    if os.environ.get(MIRROR_SETTING):
        return Path(os.environ[MIRROR_SETTING])
    default = ROOT.parent / "shared" / "sources"
    return default if default.is_dir() else None


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


# ---------------------------------------------------------------- git ids

def _object_id(kind: bytes, data: bytes) -> bytes:
    return hashlib.sha1(kind + b" %d\0" % len(data) + data).digest()


def _tree_id(node: dict) -> bytes:
    """node: name -> (mode, raw id) for a file, name -> dict for a folder."""
    entries = []
    for name, value in node.items():
        if isinstance(value, dict):
            entries.append((name + b"/", b"40000 " + name + b"\0" + _tree_id(value)))
        else:
            entries.append((name, value[0] + b" " + name + b"\0" + value[1]))
    return _object_id(b"tree", b"".join(entry for _, entry in sorted(entries)))


def _insert(root: dict, parts: list[bytes], value: tuple[bytes, bytes]) -> None:
    node = root
    for part in parts[:-1]:
        node = node.setdefault(part, {})
    node[parts[-1]] = value


def git_ids(tree: Path, paths: list[str]) -> dict[str, str]:
    """The git id of each path (a folder's tree id, a file's blob id) in an unpacked tree; '' when absent."""
    out = {}
    for path in paths:
        target = tree / path
        if target.is_file() and not target.is_symlink():
            out[path] = _object_id(b"blob", target.read_bytes()).hex()
            continue
        root: dict = {}
        for dirpath, dirnames, filenames in os.walk(target):
            for d in [d for d in dirnames if os.path.islink(os.path.join(dirpath, d))]:
                dirnames.remove(d)      # a symlink to a folder is a link, not a tree
                filenames.append(d)
            rel = Path(dirpath).relative_to(target)
            for f in filenames:
                p = Path(dirpath) / f
                st = p.lstat()
                if p.is_symlink():
                    value = (b"120000", _object_id(b"blob", os.readlink(p).encode()))
                else:
                    value = (b"100755" if st.st_mode & 0o111 else b"100644", _object_id(b"blob", p.read_bytes()))
                _insert(root, [x.encode() for x in rel.parts] + [f.encode()], value)
        out[path] = _tree_id(root).hex() if root else ""
    return out


# ---------------------------------------------------------------- finding and verifying

def download_url(pin: dict) -> str:
    if pin.get("path"):   # a single file at the tag
        return pin["repository"].replace("https://github.com/", "https://raw.githubusercontent.com/") + \
            f"/{pin['tag']}/{pin['path']}"
    return f"{pin['repository']}/archive/refs/tags/{pin['tag']}.tar.gz"


def fetch(name: str) -> tuple[Path, bool]:
    """The pinned file of a source: (path, True) from the mirror (sha256 checked), or (path, False) when it
    was downloaded (to be verified by its git ids). Raises SourceError saying what to do."""
    pin = PINS["sources"][name]
    mirror = mirror_dir()
    where = mirror or (ROOT.parent / "shared" / "sources")
    if mirror and (mirror / pin["file"]).exists():
        path = mirror / pin["file"]
        got = sha256_file(path)
        if got != pin["sha256"]:
            raise SourceError(f"{path}: sha256 is {got}, scripts/pins.toml [sources.{name}] expects {pin['sha256']}: "
                              f"the file is not {pin['repository']} at {pin['tag']}; replace it with the pinned one")
        return path, True
    url = download_url(pin)
    target = CACHE / "downloads" / pin["file"]
    if target.exists():
        return target, sha256_file(target) == pin["sha256"]
    log(f"{name}: no {pin['file']} in {where}; downloading {url}")
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        with urllib.request.urlopen(url, timeout=DOWNLOAD_TIMEOUT) as resp, \
                tempfile.NamedTemporaryFile(dir=target.parent, delete=False) as tmp:
            shutil.copyfileobj(resp, tmp)
        os.replace(tmp.name, target)
    except (OSError, urllib.error.URLError) as err:
        raise SourceError(
            f"{name} ({pin['repository']} {pin['tag']}, commit {pin['commit']}) is needed and cannot be had: "
            f"{pin['file']} is not in the source mirror ({where}"
            f"{'' if mirror else ', which does not exist'}; the setting is ${MIRROR_SETTING}) and downloading "
            f"{url} failed ({err}). Download {url} on a machine that can, put it at {where / pin['file']} "
            f"(or point ${MIRROR_SETTING} at its folder), and run the command again.") from err
    return target, sha256_file(target) == pin["sha256"]


def source_file(name: str) -> Path:
    """A single-file source (e.g. a CRD), verified by its sha256."""
    path, _ = fetch(name)
    got = sha256_file(path)
    if got != PINS["sources"][name]["sha256"]:
        raise SourceError(f"{path}: sha256 is {got}, scripts/pins.toml [sources.{name}] expects "
                          f"{PINS['sources'][name]['sha256']}")
    return path


def source_tree(name: str) -> Path:
    """An archive source unpacked into $MSC_CACHE/src/<name>-<tag>/ (its pinned folders and files only, each
    verified); the unpacked tree is reused while its stamp matches the pins."""
    pin = PINS["sources"][name]
    out = CACHE / "src" / f"{name}-{pin['tag']}"
    stamp = out / ".verified.json"
    want = json.dumps({"sha256": pin["sha256"], "ids": pin["ids"]}, sort_keys=True)
    if stamp.exists() and stamp.read_text() == want:
        return out
    archive, exact = fetch(name)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent if out.parent.exists() else None))
    try:
        with tarfile.open(archive, "r:*") as tar:
            commit = tar.pax_headers.get("comment")   # git archive stores the commit id here
            if exact and commit and commit != pin["commit"]:
                raise SourceError(f"{archive}: made from commit {commit}, scripts/pins.toml expects {pin['commit']}")
            members = [m for m in tar.getmembers() if any(
                m.name == f"{pin['prefix']}{p}" or m.name.startswith(f"{pin['prefix']}{p}/") for p in [*pin["ids"], "LICENSE"])]
            tar.extractall(tmp, members=members, filter="tar")
        tree = tmp / pin["prefix"].rstrip("/")
        got = git_ids(tree, list(pin["ids"]))
        wrong = {p: got[p] or "(missing)" for p, want_id in pin["ids"].items() if got[p] != want_id}
        if wrong:
            raise SourceError(f"{archive}: git ids differ from scripts/pins.toml [sources.{name}]: "
                              + ", ".join(f"{p} is {g}, expected {pin['ids'][p]}" for p, g in wrong.items()))
        (tree / ".verified.json").write_text(want)
        out.parent.mkdir(parents=True, exist_ok=True)
        if out.exists():
            shutil.rmtree(out)
        tree.rename(out)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return out


def main(argv: list[str]) -> int:
    names = argv or list(PINS["sources"])
    try:
        for name in names:
            pin = PINS["sources"][name]
            path = source_tree(name) if pin.get("ids") else source_file(name)
            log(f"{name} {pin['tag']} ({pin['license']}): verified, {path}")
    except (MscError, KeyError) as err:
        log(f"FAILED: {err}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
