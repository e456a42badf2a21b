"""SeldonDeployments as upstream writes them, for tests/render/test_upstream_specs.py.

Two sources: the Seldon Core v1.17.1 source archive (read in place, never copied: its server samples, operator
test data, executor samples and component notebooks, wherever a SeldonDeployment appears), and
tests/render/upstream_specs/*.yaml, our own small specs shaped like the upstream documentation's examples
that the archive lacks (its docs and examples folders are not mirrored)."""
from __future__ import annotations

import json
import re
import tarfile
from pathlib import Path
from typing import Any, Iterator

import yaml

from harness import ROOT

ARCHIVE = ROOT.parent / "shared" / "sources" / "seldon-core-1.17.1.tar.gz"
OWN = Path(__file__).resolve().parent / "upstream_specs"
Obj = dict[str, Any]
_SKIP = re.compile(r"/(crd|bases|bundle[^/]*|manifests|testing)/|\.go$|\.md$|\.py$")


def _documents(text: str) -> Iterator[Obj]:
    try:
        if text.lstrip().startswith("{"):
            yield json.loads(text)
            return
        for doc in yaml.safe_load_all(text):
            if isinstance(doc, dict):
                yield doc
    except (yaml.YAMLError, ValueError):
        return


def _notebook_texts(raw: bytes) -> Iterator[str]:
    """The YAML a notebook cell writes or applies (%%writefile, a heredoc, or a cell of YAML)."""
    for cell in json.loads(raw).get("cells", []):
        source = "".join(cell.get("source", []))
        if "SeldonDeployment" not in source:
            continue
        start = source.find("apiVersion:")
        if start < 0:
            continue
        body = source[start:]
        end = re.search(r"^(EOF|END)\s*$", body, re.MULTILINE)
        yield body[:end.start()] if end else body


def archive_specs() -> list[tuple[str, Obj]]:
    """(archive path[#n], SeldonDeployment) for every one in the archive; [] when the archive is absent."""
    if not ARCHIVE.exists():
        return []
    out: list[tuple[str, Obj]] = []
    with tarfile.open(ARCHIVE) as tar:
        for member in tar.getmembers():
            if not member.isfile() or _SKIP.search(member.name) or member.size > 5_000_000:
                continue
            if not member.name.endswith((".yaml", ".yml", ".json", ".ipynb")):
                continue
            raw = tar.extractfile(member).read()  # type: ignore[union-attr]
            if b"SeldonDeployment" not in raw:
                continue
            name = member.name.split("/", 1)[1]
            texts = list(_notebook_texts(raw)) if name.endswith(".ipynb") else [raw.decode(errors="replace")]
            n = 0
            for text in texts:
                for doc in _documents(text):
                    if doc.get("kind") == "SeldonDeployment" and str(doc.get("apiVersion", "")).startswith("machinelearning.seldon.io/"):
                        n += 1
                        out.append((f"{name}#{n}", doc))
    return out


def own_specs() -> list[tuple[str, Obj]]:
    out: list[tuple[str, Obj]] = []
    for path in sorted(OWN.glob("*.yaml")):
        for doc in yaml.safe_load_all(path.read_text()):
            if doc:
                out.append((f"tests/{path.name}#{doc['metadata']['name']}", doc))
    return out


def all_specs() -> list[tuple[str, Obj]]:
    return archive_specs() + own_specs()
