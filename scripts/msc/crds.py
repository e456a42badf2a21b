"""Put the CRDs a chart installs into the chart, at package and test time (they are never committed).

Usage:
  scripts/place-crds [CHART ...]                 every chart below when none is named
  scripts/place-crds --source DIR [CHART ...]    take the CRD files from DIR
  scripts/place-crds --require-upstream [...]    fail unless the pinned upstream CRD is used (packaging, publishing)
  scripts/place-crds --check [CHART ...]         only report what is placed; exit 1 if something is missing

Each CRD is copied into charts/<chart>/files/crds/ (git-ignored; the chart renders it from a template
behind `crd.install`, so `helm upgrade` upgrades it, which Helm never does for a chart's crds/ folder)
together with <file>.source, one line naming where it came from; the chart shows that line as the
CRD's ml-serving-charts.io/crd-source annotation.

Where a CRD comes from: the pinned upstream CRD that scripts/bootstrap puts into .tools/crds/<set>/
(scripts/pins.toml [chart_crds] and [crds.*]; the SeldonDeployment CRD is built from the verified Seldon Core
source as upstream's chart generator builds it), or, for a test, `--source DIR`. `--require-upstream` (packaging
a release) refuses anything but the pinned upstream file.
"""
from __future__ import annotations

import argparse
import os
import re
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from typing import Iterable

from .env import CHARTS, CRDS, PINS, ROOT
from .kube import Kubectl
from .proc import MscError

# CRD schemas written here for kinds whose owner publishes no CRD (GKE ComputeClass): data, read as files.
OWN_SCHEMAS = ROOT / "tests" / "harness" / "schemas"


@dataclass(frozen=True)
class Crd:
    file: str            # file name in every source directory and in the chart
    name: str            # metadata.name the file must carry
    upstream_dir: str    # .tools/crds/<dir>/ where scripts/bootstrap puts the pinned upstream file
    upstream: str        # the pin, shown in the provenance line and in errors


# chart -> the CRDs it installs
PINNED: dict[str, list[Crd]] = {chart: [Crd(**c) for c in crds] for chart, crds in PINS["chart_crds"].items()}


class PlaceError(MscError):
    """A CRD that cannot be placed; the message says which and what to do."""


def pick_source(crd: Crd, source_dir: Path | None, require_upstream: bool) -> tuple[Path, str]:
    """The file to copy and its provenance line."""
    if source_dir is not None:
        if require_upstream:
            raise PlaceError(f"--source {source_dir} with --require-upstream: a release takes only the pinned "
                             f"upstream CRD ({crd.upstream})")
        path = source_dir / crd.file
        if not path.exists():
            raise PlaceError(f"{path} does not exist (--source {source_dir})")
        return path, f"given: {path} (expected {crd.upstream})"
    upstream = CRDS / crd.upstream_dir / crd.file
    if not upstream.exists():
        raise PlaceError(f"the pinned upstream CRD {crd.upstream} is not in {upstream.parent}: run scripts/bootstrap, "
                         f"which builds it from the verified source (scripts/pins.toml [crds.{crd.upstream_dir}])")
    return upstream, f"upstream: {crd.upstream}"


def check_crd(path: Path, crd: Crd) -> None:
    """One CustomResourceDefinition document with the expected name (a cheap guard against a wrong file)."""
    text = path.read_text()
    documents = [d for d in re.split(r"^---\s*$", text, flags=re.MULTILINE) if re.search(r"^\w", d, re.MULTILINE)]
    if len(documents) != 1:
        raise PlaceError(f"{path}: expected one YAML document, found {len(documents)} (the chart renders one CRD per file)")
    if not re.search(r"^kind:\s*CustomResourceDefinition\s*$", text, re.MULTILINE):
        raise PlaceError(f"{path}: not a CustomResourceDefinition")
    if not re.search(rf"^\s+name:\s*{re.escape(crd.name)}\s*$", text, re.MULTILINE):
        raise PlaceError(f"{path}: metadata.name is not {crd.name}")


def write_atomic(path: Path, content: str) -> None:
    """Write via a temporary file and rename, so a concurrent render never reads half a CRD."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile("w", dir=path.parent, prefix=f".{path.name}.", delete=False) as tmp:
        tmp.write(content)
    os.chmod(tmp.name, 0o644)
    os.replace(tmp.name, path)


def place(chart: str, source_dir: Path | None, require_upstream: bool) -> list[str]:
    """Copy the chart's CRDs in (only when the content changed); returns one report line per CRD."""
    lines = []
    target_dir = CHARTS / chart / "files" / "crds"
    for crd in PINNED[chart]:
        source, provenance = pick_source(crd, source_dir, require_upstream)
        check_crd(source, crd)
        target = target_dir / crd.file
        content = source.read_text()
        if not target.exists() or target.read_text() != content:
            write_atomic(target, content)
        sidecar = target_dir / f"{crd.file}.source"
        if not sidecar.exists() or sidecar.read_text() != provenance + "\n":
            write_atomic(sidecar, provenance + "\n")
        lines.append(f"{chart}: {target.relative_to(ROOT)} <- {provenance}")
    return lines


def check(chart: str) -> list[str]:
    missing = [c.file for c in PINNED[chart] if not (CHARTS / chart / "files" / "crds" / c.file).exists()]
    if missing:
        raise PlaceError(f"{chart}: not placed: {', '.join(missing)} (run scripts/place-crds {chart})")
    return [f"{chart}: " + (CHARTS / chart / "files" / "crds" / f"{c.file}.source").read_text().strip()
            for c in PINNED[chart]]


def known_crd_files() -> list[Path]:
    """Every CRD the suite knows: the pinned upstream ones and our own few (tests/harness/schemas)."""
    return sorted(CRDS.rglob("*.yaml")) + sorted(OWN_SCHEMAS.glob("*.yaml"))


def apply_crds(kubectl: Kubectl, files: Iterable[Path] | None = None, timeout: float = 60,
               field_manager: str = "msc-tests") -> list[str]:
    """Server-side apply CRD files (default: known_crd_files()) and wait until each is Established; returns
    their names. kubectl parses the files (PyYAML cannot load some upstream CRDs: enum values like `- =`)."""
    docs = [d for d in kubectl.read_manifests(*(files if files is not None else known_crd_files()))
            if d.get("kind") == "CustomResourceDefinition"]
    kubectl.apply(docs, field_manager=field_manager, timeout=timeout)
    names = [d["metadata"]["name"] for d in docs]
    kubectl("wait", "--for=condition=Established", f"--timeout={int(timeout)}s",
            *[f"customresourcedefinition/{n}" for n in names], timeout=timeout + 10)
    return names


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("charts", nargs="*", help=f"charts (default: all of {', '.join(PINNED)})")
    parser.add_argument("--source", type=Path, help="directory holding the CRD files to use")
    parser.add_argument("--require-upstream", action="store_true", help="fail unless the pinned upstream CRD is used")
    parser.add_argument("--check", action="store_true", help="report what is placed, change nothing")
    args = parser.parse_args(argv)
    unknown = [c for c in args.charts if c not in PINNED]
    if unknown:
        parser.error(f"no CRDs are pinned for {', '.join(unknown)} (known: {', '.join(PINNED)})")
    try:
        for chart in args.charts or list(PINNED):
            lines = check(chart) if args.check else place(chart, args.source, args.require_upstream)
            print("\n".join(f"[place-crds] {line}" for line in lines))
    except PlaceError as err:
        print(f"[place-crds] ERROR: {err}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
