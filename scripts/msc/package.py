"""Package every chart into a Helm repository folder: CRDs placed, dependencies built, signed when
a key is given, index.yaml generated (Chart.yaml's artifacthub.io annotations travel into it).

Usage: scripts/package [--out DIR] [--url URL] [--sign KEY_NAME --keyring SECRING [--passphrase-file F]]
                       [--helm PATH] [CHART ...]
"""
from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

from . import crds
from .env import BIN, CHARTS, ROOT
from .kube import build_dependencies
from .proc import MscError, run as run_command


def run(cmd: list[str], what: str) -> str:
    return run_command(cmd, what, timeout=600, tail=40).stdout


def dependency_names(chart: Path) -> set[str]:
    """The `name:` of each entry under Chart.yaml's `dependencies:` (a flat list in every chart here)."""
    text = (chart / "Chart.yaml").read_text()
    block = re.search(r"^dependencies:\n((?:[ -].*\n?)*)", text, re.MULTILINE)
    return set(re.findall(r"^\s*-?\s*name:\s*(\S+)", block.group(1), re.MULTILINE)) if block else set()


def charts_in_dependency_order(names: list[str]) -> list[Path]:
    """Library and leaf charts first, so an umbrella packs the others' current versions."""
    paths = [CHARTS / n for n in names] if names else sorted(p.parent for p in CHARTS.glob("*/Chart.yaml"))
    for p in paths:
        if not (p / "Chart.yaml").exists():
            sys.exit(f"package: no chart at {p}: name one of {sorted(c.parent.name for c in CHARTS.glob('*/Chart.yaml'))}")
    deps = {p: dependency_names(p) for p in paths}
    return sorted(paths, key=lambda p: (len(deps[p]), p.name))


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="scripts/package", description=__doc__.split("\n\n")[0])
    parser.add_argument("charts", nargs="*", help="chart names (default: all)")
    parser.add_argument("--out", type=Path, default=ROOT / "dist", help="repository folder (default dist/)")
    parser.add_argument("--url", default="", help="URL the repository will be served from (index.yaml links)")
    parser.add_argument("--sign", metavar="KEY_NAME", help="sign with this GPG key (writes .prov files)")
    parser.add_argument("--keyring", type=Path, help="legacy GPG secret keyring holding KEY_NAME")
    parser.add_argument("--passphrase-file", type=Path, help="file holding the key's passphrase")
    parser.add_argument("--helm", default=str(BIN / "helm"), help="helm binary (default Helm 4)")
    parser.add_argument("--release", action="store_true",
                        help="a release: refuse stand-in CRDs (scripts/place-crds --require-upstream)")
    args = parser.parse_args(argv)
    if args.sign and not args.keyring:
        parser.error("--sign needs --keyring (a legacy secring: gpg --export-secret-keys > secring.gpg)")

    try:
        return package(args)
    except MscError as err:
        print(f"[package] FAILED: {err}", file=sys.stderr)
        return 1


def package(args: argparse.Namespace) -> int:
    args.out.mkdir(parents=True, exist_ok=True)
    for chart in crds.PINNED:
        for line in crds.place(chart, None, args.release):
            print(f"[package] {line}", flush=True)
    for chart in charts_in_dependency_order(args.charts):
        build_dependencies(chart.resolve())
        cmd = [args.helm, "package", str(chart), "--destination", str(args.out)]
        if args.sign:
            cmd += ["--sign", "--key", args.sign, "--keyring", str(args.keyring)]
            if args.passphrase_file:
                cmd += ["--passphrase-file", str(args.passphrase_file)]
        out = run(cmd, f"helm package {chart.name}")
        print(f"[package] {out.strip().splitlines()[-1]}{' (signed)' if args.sign else ''}", flush=True)
    index_cmd = [args.helm, "repo", "index", str(args.out)]
    if args.url:
        index_cmd += ["--url", args.url]
    if (args.out / "index.yaml").exists():
        index_cmd += ["--merge", str(args.out / "index.yaml")]
    run(index_cmd, "helm repo index")
    print(f"[package] index: {args.out / 'index.yaml'}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
