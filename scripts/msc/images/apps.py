"""The images the charts and tests run, built here from Debian, PyPI and Go modules:

  rootfs python            debootstrap bookworm + python3, python3-venv (the builder; msc.images.rootfs),
                           also imported unlabelled as python-builder (see step_python_builder)
  python:3.11-bookworm     shell-less python3.11 + stdlib + the shared libraries they load (mkroot.py)
  seldon-python, mlserver  python + a venv from a hash-locked requirements file (images/models/locks)
  iris-*, mlserver-iris    venv image + component code (+ the model, trained during the build)
  helm-test-client         python
  prometheus(-operator)    FROM scratch + static Go binaries built here (pins: [image_binaries.*])
  loadgen                  python + vegeta and ghz (Go) + msc/loadgen_run.py, the entry program (msc.loadgen)

Each is an ImageSpec cached by the digest of its inputs (msc.images.core)."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

from .. import dockerd, gomod, sources, toolchain
from ..env import CACHE, IMAGES, IMAGES_CACHE, PINS, ROOT, go_env
from ..proc import BuildError, Step, atomic_dir, run_steps
from .core import (SOURCE_LABEL, ImageSpec, build_replacing, docker, image_id, image_size_mb, log, own_image, run,
                   write_build_record)
from .locks import lock_header
from .binary_image import pin_labels, pin_source
from .seldon import upstream_labels, upstream_source
from .rootfs import SUITE, rootfs_key, rootfs_tarball, step_rootfs

MODELS = IMAGES / "models"
BASE = MODELS / "base"
APP_VERSION = "0.1.0"
SELDON_VERSION = PINS["sources"]["seldon-core"]["tag"].lstrip("v")
PYTHON_IMAGE = f"ml-serving-charts/python:{PINS['python_envs']['python']}-{SUITE}"
MLSERVER_VERSION = next(r.split("==")[1] for r in PINS["python_envs"]["mlserver"]["requirements"]
                        if r.startswith("mlserver=="))
KSERVE_TAG = PINS["sources"]["kserve"]["tag"]
GO_VERSION_PKG = "github.com/prometheus/common/version"
APP_IMAGES = {   # what `scripts/images NAME` builds; kind clusters get them with `kind load` (IfNotPresent); ours are
    # named under localhost/ (core.own_image): never docker.io, where the ml-serving-charts/ namespace is not ours
    "iris-model": own_image("iris-model", APP_VERSION),
    "iris-transformer": own_image("iris-transformer", APP_VERSION),
    "iris-combiner": own_image("iris-combiner", APP_VERSION),
    "mlserver-iris": own_image("mlserver-iris", APP_VERSION),
    "helm-test-client": own_image("helm-test-client", APP_VERSION),
    "loadgen": own_image("loadgen", APP_VERSION),   # fixed-rate HTTP/gRPC load (msc.loadgen)
    # Seldon Core's prepackaged SKLEARN_SERVER and multi-armed-bandit routers, from the verified 1.17.1 source,
    # under upstream's names (the seldon-operator chart's predictor_servers name seldonio/sklearnserver)
    "sklearnserver": f"seldonio/sklearnserver:{SELDON_VERSION}",
    "mab-epsilon-greedy": f"seldonio/mab_epsilon_greedy:{SELDON_VERSION}",
    "mab-thompson-sampling": f"seldonio/mab_thompson_sampling:{SELDON_VERSION}",
    "rclone-storage-initializer": f"seldonio/rclone-storage-initializer:{SELDON_VERSION}",
    "alibi-explainer": f"seldonio/alibiexplainer:{SELDON_VERSION}",
    "xgboostserver": f"seldonio/xgboostserver:{SELDON_VERSION}",
    # the v2-protocol SKLEARN_SERVER and XGBOOST_SERVER (MLServer), under upstream's names for this MLServer version
    "mlserver-sklearn": f"seldonio/mlserver:{MLSERVER_VERSION}-sklearn",
    "mlserver-xgboost": f"seldonio/mlserver:{MLSERVER_VERSION}-xgboost",
    "prometheus": own_image("prometheus", f"v{PINS['image_binaries']['prometheus']['reports']}"),
    "prometheus-operator":
        own_image("prometheus-operator", f"v{PINS['image_binaries']['prometheus-operator']['reports']}"),
    # KServe 0.20.0's python images, under upstream's names (the kserve-controller chart's defaults): the v1/v2
    # sklearnserver and the storage initializer, from PyPI and the verified archive (images/kserve/)
    "kserve-sklearnserver": f"kserve/sklearnserver:{KSERVE_TAG}",
    "kserve-storage-initializer": f"kserve/storage-initializer:{KSERVE_TAG}",
    # autoscaling: the HPA's resource metrics, and KEDA (operator + metrics API server in one image)
    "metrics-server": own_image("metrics-server", PINS['image_binaries']['metrics-server']['version']),
    "keda": own_image("keda", f"v{PINS['image_binaries']['keda']['reports']}"),
}
IMAGE_GROUPS = {"models": ["iris-model", "iris-transformer", "iris-combiner", "mlserver-iris"],
                "seldon-servers": ["sklearnserver", "mlserver-sklearn", "xgboostserver", "mlserver-xgboost",
                                    "mab-epsilon-greedy", "mab-thompson-sampling", "rclone-storage-initializer",
                                    "alibi-explainer"],
                "monitoring": ["prometheus", "prometheus-operator"],
                "autoscaling": ["metrics-server", "keda"],
                "kserve-servers": ["kserve-sklearnserver", "kserve-storage-initializer"],
                "all": list(APP_IMAGES)}   # `all` also builds kind-node
# Seldon python-wrapper components: one recipe (images/models/seldon-component), an image each.
# name -> (class, service type, the folder its files come from, the files); "source:" folders are in the
# verified Seldon Core tree (msc.sources), the others under images/models/. Their python environment is
# "seldon" unless SELDON_COMPONENT_ENVS names another with the same venv path.
SELDON_COMPONENTS = {
    "iris-model": ("IrisClassifier", "MODEL", "iris", ["iris_schema.py", "IrisClassifier.py", "train.py"]),
    "iris-transformer": ("IrisTransformer", "TRANSFORMER", "iris", ["iris_schema.py", "IrisTransformer.py"]),
    "iris-combiner": ("IrisCombiner", "COMBINER", "iris", ["iris_schema.py", "IrisCombiner.py"]),
    "sklearnserver": ("SKLearnServer", "MODEL", "source:servers/sklearnserver/sklearnserver", ["SKLearnServer.py"]),
    "xgboostserver": ("XGBoostServer", "MODEL", "source:servers/xgboostserver/xgboostserver", ["XGBoostServer.py"]),
    "mab-epsilon-greedy": ("EpsilonGreedy", "ROUTER", "source:components/routers/epsilon-greedy", ["EpsilonGreedy.py"]),
    "mab-thompson-sampling": ("ThompsonSampling", "ROUTER", "source:components/routers/thompson-sampling",
                              ["ThompsonSampling.py"]),
}
SELDON_COMPONENT_ENVS = {"xgboostserver": "seldon-xgboost"}
# MLServer's prepackaged servers: one recipe (images/models/mlserver-server), an image per environment
MLSERVER_SERVERS = {"mlserver-sklearn": "mlserver", "mlserver-xgboost": "mlserver-xgboost"}
SELDON_SOURCED = ("rclone-storage-initializer",)   # Go-binary images that follow a Seldon Core component's recipe
# KServe's python images: one recipe each (images/kserve/<name>.Dockerfile), their files from the verified archive
# (folder -> files), all on the "kserve" environment.
KSERVE_PYTHON = {
    "kserve-sklearnserver": ("sklearnserver", {f"sklearnserver/{f}": f"python/sklearnserver/sklearnserver/{f}" for f in
                                               ("__init__.py", "__main__.py", "model.py", "sklearn_model_repository.py")}),
    "kserve-storage-initializer": ("storage-initializer", {
        "initializer-entrypoint": "python/storage-initializer/scripts/initializer-entrypoint"}),
}
# image -> the python environment it runs in (None: the bare python image)
PYTHON_APPS = {**{name: SELDON_COMPONENT_ENVS.get(name, "seldon") for name in SELDON_COMPONENTS}, **MLSERVER_SERVERS,
               "mlserver-iris": "mlserver", "alibi-explainer": "alibi-explain", "helm-test-client": None, "loadgen": None,
               **{name: "kserve" for name in KSERVE_PYTHON}}
# The users of every image (nonroot = 65532): the python images get them through mkroot.py, the Go ones copy them.
USERS = {"passwd": BASE / "passwd", "group": BASE / "group"}


def python_envs() -> dict[str, dict]:
    return {k: v for k, v in PINS["python_envs"].items() if isinstance(v, dict)}


def host_pip() -> tuple[bytes, dict[str, str]]:
    """How the host's pip reaches the index, for pip inside an image build (it does not see the host's
    pip.conf or environment): the CA bundle it trusts (PIP_CERT / `cert`, e.g. a TLS-inspecting proxy's)
    and its index URL. The CA goes to the builder stage only, never into an image."""
    def setting(env: str, key: str) -> str:
        if os.environ.get(env):
            return os.environ[env]
        proc = subprocess.run([sys.executable, "-m", "pip", "config", "get", key], capture_output=True, text=True)
        return proc.stdout.strip() if proc.returncode == 0 else ""
    cert = setting("PIP_CERT", "global.cert")
    index = setting("PIP_INDEX_URL", "global.index-url")
    return (Path(cert).read_bytes() if cert else b""), ({"PIP_INDEX_URL": index} if index else {})


def python_builder_image() -> str:
    return f"ml-serving-charts/python-builder:{SUITE}-{rootfs_key('python')}"


def step_python_builder(rebuild: bool) -> str:
    """The python rootfs tarball imported once more, WITHOUT the io.ml-serving-charts.inputs label (the
    layer is shared with the rootfs image, so this costs no space). The multi-stage builds below start
    from it: a build stage inherits its base's labels, and prune_stale() deletes dangling images that
    carry that label, which a concurrent kind-node build would do to a finished build stage waiting
    for its `COPY --from` ("invalid from flag value build: No such image")."""
    image = python_builder_image()
    if not rebuild and image_id(image):
        return f"cached ({image})"
    docker("import", "--change", f'LABEL {SOURCE_LABEL}="{rootfs_tarball("python").name} (builder)"',
           str(rootfs_tarball("python")), image, what=f"docker import {image}")
    listed = run(["docker", "images", "--format", "{{.Repository}}:{{.Tag}}", image.split(":")[0]], "docker images")
    for ref in listed.split():
        if ref != image:
            subprocess.run(["docker", "rmi", ref], capture_output=True)
    return f"imported {image}"


def python_spec() -> ImageSpec:
    return ImageSpec([PYTHON_IMAGE], BASE / "Dockerfile.python", {"mkroot.py": BASE / "mkroot.py", **USERS},
                     base=python_builder_image(), source="images/models/base (Dockerfile.python)")


def python_env_spec(name: str) -> ImageSpec:
    """A venv image; built after PYTHON_IMAGE (whose id is part of the key)."""
    env = python_envs()[name]
    lock = MODELS / "locks" / f"{name}.lock"
    want = lock_header(name)
    got = lock.read_text().split("\n", 1)[0] if lock.exists() else "(missing)"
    if got != want:
        raise BuildError(f"{lock.relative_to(ROOT)} does not match scripts/pins.toml [python_envs.{name}]:\n"
                         f"  lock: {got}\n  pins: {want}\nrun `scripts/images lock {name}` and commit the lock")
    ca, index = host_pip()
    runtime_id = image_id(PYTHON_IMAGE)
    if not runtime_id:
        raise BuildError(f"{PYTHON_IMAGE} is missing: build it first (`scripts/images helm-test-client`)")
    return ImageSpec([env["image"]], BASE / "Dockerfile.venv",
                     {"requirements.lock": lock, "mkroot.py": BASE / "mkroot.py", "pip-ca.pem": ca},
                     base=python_builder_image(),
                     build_args={"RUNTIME": PYTHON_IMAGE, "RUNTIME_ID": runtime_id, "VENV": env["venv"], **index},
                     source=f"images/models/base (Dockerfile.venv, locks/{name}.lock)")


def image_binary_dir(name: str) -> Path:
    return CACHE / "bin" / f"{name}-{PINS['image_binaries'][name]['version']}"


def image_binary_names(name: str) -> list[str]:
    """The binaries of an [image_binaries.NAME] pin: `binary` names a single one built from the module root."""
    pin = PINS["image_binaries"][name]
    return [pin["binary"]] if pin.get("binary") else [Path(p).name for p in pin["packages"]]


def image_binary_pins(image: str) -> list[str]:
    """The [image_binaries.*] pins whose binaries go into an image: its own, and those naming it in `image`."""
    return [k for k, pin in PINS["image_binaries"].items() if pin.get("image", k) == image]


def licence_files(folder: Path) -> list[str]:
    """The licence and notice files a module ships at its root (they go into the image beside the binary)."""
    return [f for f in ("LICENSE", "NOTICE", "COPYING") if (folder / f).exists()]


def step_image_binaries(name: str) -> str:
    """Static Go binaries for an image ([image_binaries.NAME] in pins.toml), built inside a writable copy of
    the module (its replace directives apply), stamped like upstream's release builds (prometheus/common/version)."""
    pin = PINS["image_binaries"][name]
    out = image_binary_dir(name)
    binaries = image_binary_names(name)
    recipe = json.dumps({"pin": pin, "recipe": 1}, sort_keys=True)
    stamp = out / ".recipe.json"

    def reports(d: Path) -> dict[str, str]:
        def first_line(proc: subprocess.CompletedProcess) -> str:   # kingpin (ghz) prints its version on stderr
            return (proc.stdout or proc.stderr).split("\n")[0]

        def reported(binary: Path) -> str:
            if pin.get("reports_in") == "binary":   # no --version flag: the -X stamp, found in the binary's data
                return pin["reports"] if pin["reports"].encode() in binary.read_bytes() else "(stamp not found)"
            return first_line(subprocess.run([str(binary), "--version"], capture_output=True, text=True))
        return {b: reported(d / b) if (d / b).exists() else "" for b in binaries}
    if stamp.exists() and stamp.read_text() == recipe and all(pin["reports"] in v for v in reports(out).values()):
        return f"cached ({out})"
    if pin.get("src"):   # reuse the module copy scripts/bootstrap made for another pin (promtool)
        tool_pin = PINS["go_tools"][pin["src"]]
        if (tool_pin["module"], tool_pin["version"]) != (pin["module"], pin["version"]):
            raise BuildError(f"pins.toml: image_binaries.{name} must match go_tools.{pin['src']} to share its module copy")
        work = CACHE / "src" / f"{pin['src']}-{pin['version']}"
        if not (work / "go.mod").exists():
            log(f"  {work} missing: running scripts/bootstrap's {pin['src']} step, which makes it")
            toolchain.step_go_tool(pin["src"], tool_pin)
    else:
        work = gomod.writable_copy(gomod.module_dir(pin["module"], pin["version"]), CACHE / "src" / f"{name}-{pin['version']}",
                                   pin.get("dropreplace", []))
    when = gomod.module_info(pin["module"], pin["version"])
    build_date = time.strftime("%Y%m%d-%H:%M:%S", time.strptime(when["Time"][:19], "%Y-%m-%dT%H:%M:%S"))
    stamps = {"Version": pin["reports"], "Revision": (when.get("Origin") or {}).get("Hash", pin["version"]),
              "Branch": pin["version"], "BuildUser": "ml-serving-charts", "BuildDate": build_date}
    # a pin's own ldflags stamp its version; the default is the prometheus/common/version stamp
    ldflags = pin.get("ldflags") or " ".join(f"-X {GO_VERSION_PKG}.{k}={v}" for k, v in stamps.items())
    log(f"  go build {', '.join(pin['packages'])} in {work} (cold: several minutes on 2 cores)")
    got: dict[str, str] = {}

    def build(tmp: Path) -> None:
        gomod.build(work, [f"./{p}" for p in pin["packages"]], tmp / binaries[0] if pin.get("binary") else tmp,
                    tags=pin.get("tags", ""), ldflags=ldflags, what=f"go build {name}",
                    env=go_env(GOFLAGS=" ".join(["-buildvcs=false", *(["-mod=mod"] if pin.get("dropreplace") else []),
                                                   *([pin["goflags"]] if pin.get("goflags") else [])])),
                    log_file=IMAGES_CACHE / "logs" / f"go-build-{name}.log", progress=log)
        got.update(reports(tmp))
        if not all(pin["reports"] in v for v in got.values()):
            raise BuildError(f"{name}: built binaries report {got}, pins.toml wants {pin['reports']}")
        for f in licence_files(work):
            shutil.copy(work / f, tmp / f)
        (tmp / ".recipe.json").write_text(recipe)
    atomic_dir(out, build)
    return f"built ({'; '.join(got.values())})"


def explainer_spec() -> ImageSpec:
    """seldonio/alibiexplainer: the alibiexplainer package of the verified source, its gRPC stubs generated in a
    build stage (protoc from locks/protoc.lock), on the alibi-explain venv image."""
    env_image = python_envs()["alibi-explain"]["image"]
    folder = "components/alibi-explain-server/alibiexplainer"
    package = sources.source_tree("seldon-core") / folder
    ca, index = host_pip()
    ctx: dict[str, Path | bytes] = {f"alibiexplainer/{p.relative_to(package)}": p for p in sorted(package.rglob("*"))
                                    if p.is_file()}
    ctx.update({"protoc.lock": MODELS / "locks" / "protoc.lock", "pip-ca.pem": ca,
                "LICENSE": sources.source_tree("seldon-core") / "LICENSE"})
    return ImageSpec([APP_IMAGES["alibi-explainer"]], IMAGES / "alibi-explainer" / "Dockerfile", ctx,
                     base=python_builder_image(),
                     build_args={"ENV_IMAGE": env_image, "ENV_IMAGE_ID": image_id(env_image) or "", **index},
                     source=upstream_source(folder + "/"), labels=upstream_labels())


# gRPC descriptions ghz reads (it needs the .proto files; the servers offer no reflection): image folder ->
# (folder in the verified Seldon Core tree, files). The seldon protocol's, and the v2 (KServe/MLServer) one.
LOADGEN_PROTOS = {
    "seldon": ("executor/proto", ["prediction.proto"] + [f"tensorflow/core/framework/{f}.proto" for f in
                                                         ("tensor", "resource_handle", "tensor_shape", "types")]),
    "v2": ("executor/api/grpc/kfserving/inference", ["grpc_service.proto", "model_config.proto"]),
}


def loadgen_spec() -> ImageSpec:
    """ml-serving-charts/loadgen: the python image + vegeta and ghz (their [image_binaries] pins) + the entry
    program msc/loadgen_run.py + the protocols' .proto files from the verified Seldon Core source."""
    seldon = sources.source_tree("seldon-core")
    ctx: dict[str, Path | bytes] = {"loadgen_run.py": ROOT / "scripts" / "msc" / "loadgen_run.py",
                                    "licenses/seldon-core/LICENSE": seldon / "LICENSE"}
    for pin in image_binary_pins("loadgen"):
        bins = image_binary_dir(pin)
        ctx.update({b: bins / b for b in image_binary_names(pin)})
        ctx.update({f"licenses/{pin}/{f}": bins / f for f in licence_files(bins)})
    for folder, (where, files) in LOADGEN_PROTOS.items():
        ctx.update({f"protos/{folder}/{f}": seldon / where / f for f in files})
    return ImageSpec([APP_IMAGES["loadgen"]], IMAGES / "loadgen" / "Dockerfile", ctx, base=PYTHON_IMAGE,
                     source=" + ".join(f"{PINS['image_binaries'][p]['module']}@{PINS['image_binaries'][p]['version']}"
                                       for p in image_binary_pins("loadgen")) + " + scripts/msc/loadgen_run.py; protos: "
                     + upstream_source(", ".join(where for where, _ in LOADGEN_PROTOS.values())))


def app_spec(name: str) -> ImageSpec:
    tag = APP_IMAGES[name]
    if name == "alibi-explainer":
        return explainer_spec()
    if name == "loadgen":
        return loadgen_spec()
    if name in KSERVE_PYTHON:
        recipe, files = KSERVE_PYTHON[name]
        tree = sources.source_tree("kserve")
        pin = PINS["sources"]["kserve"]
        return ImageSpec([tag], IMAGES / "kserve" / f"{recipe}.Dockerfile",
                         {**{k: tree / v for k, v in files.items()}, "LICENSE": tree / "LICENSE"},
                         base=python_envs()["kserve"]["image"],
                         source=pin_source(pin, f"python/{recipe}/") + " + PyPI (images/models/locks/kserve.lock)",
                         labels=pin_labels(pin))
    if name in SELDON_COMPONENTS:
        component, service_type, folder, files = SELDON_COMPONENTS[name]
        where = sources.source_tree("seldon-core") / folder.removeprefix("source:") if folder.startswith("source:") \
            else MODELS / folder
        recipe = MODELS / "seldon-component"
        origin = f"Seldon Core {PINS['sources']['seldon-core']['tag']} {folder.removeprefix('source:')}" \
            if folder.startswith("source:") else f"images/models/{folder}"
        return ImageSpec([tag], recipe / "Dockerfile", {**{f: where / f for f in files}, "serve.py": recipe / "serve.py"},
                         base=python_envs()[PYTHON_APPS[name]]["image"],
                         build_args={"COMPONENT": component, "SERVICE_TYPE": service_type},
                         source=f"{origin} ({component}, {service_type})",
                         labels=upstream_labels() if folder.startswith("source:") else {})
    if name in PYTHON_APPS:
        env = PYTHON_APPS[name]
        recipe = IMAGES / name if name == "helm-test-client" else MODELS / (
            "mlserver-server" if name in MLSERVER_SERVERS else name)
        ctx: dict[str, Path | bytes] = {f: MODELS / "iris" / f
                                        for f in (["iris_schema.py", "train.py"] if name == "mlserver-iris" else [])}
        ctx.update({p.name: p for p in recipe.iterdir() if p.is_file() and p.name not in ("Dockerfile", "README.md")})
        return ImageSpec([tag], recipe / "Dockerfile", ctx, base=python_envs()[env]["image"] if env else PYTHON_IMAGE,
                         source=f"images/{recipe.relative_to(IMAGES)}")
    bins = image_binary_dir(name)
    ctx = {**USERS, **{f: bins / f for f in licence_files(bins)}, **{b: bins / b for b in image_binary_names(name)}}
    if name == "rclone-storage-initializer":   # the host's Debian CA bundle (s3/gs over https), Seldon's licence
        ctx.update({"ca-certificates.crt": Path("/etc/ssl/certs/ca-certificates.crt"),
                    "seldon-core-LICENSE": sources.source_tree("seldon-core") / "LICENSE"})
    if name == "keda":   # scalers reach their sources over https
        ctx["ca-certificates.crt"] = Path("/etc/ssl/certs/ca-certificates.crt")
    if name == "prometheus":
        promtool = PINS["go_tools"]["promtool"]
        ctx.update({"promtool": CACHE / "bin" / f"promtool-{promtool['version']}" / "promtool", "data/.keep": b"",
                    "prometheus.yml": CACHE / "src" / f"promtool-{promtool['version']}"
                    / "documentation" / "examples" / "prometheus.yml"})
    return ImageSpec([tag], IMAGES / name / "Dockerfile", ctx,
                     source=f"{PINS['image_binaries'][name]['module']}@{PINS['image_binaries'][name]['version']}"
                     + (f" + {upstream_source('components/rclone-storage-initializer')}" if name in SELDON_SOURCED else ""),
                     labels=upstream_labels() if name in SELDON_SOURCED else {})


def step_promtool() -> str:
    return f"{toolchain.step_go_tool('promtool', PINS['go_tools']['promtool'])} (scripts/bootstrap go_tools.promtool)"


def app_steps(names: list[str], rebuild: bool) -> list[Step]:
    steps = [Step("docker engine", dockerd.ensure)]
    python_apps = [n for n in names if n in PYTHON_APPS]
    if python_apps:
        steps += [Step(f"rootfs python (debootstrap {SUITE})", lambda: step_rootfs("python", rebuild)),
                  Step("python builder image (unlabelled)", lambda: step_python_builder(rebuild)),
                  Step(f"image {PYTHON_IMAGE}", lambda: build_replacing(python_spec, rebuild))]
        for env in dict.fromkeys(PYTHON_APPS[n] for n in python_apps if PYTHON_APPS[n]):
            steps.append(Step(f"image {python_envs()[env]['image']} (venv {python_envs()[env]['venv']})",
                              lambda e=env: build_replacing(lambda: python_env_spec(e), rebuild)))
    for name in names:
        if name == "prometheus":
            steps.append(Step("promtool (scripts/bootstrap)", step_promtool))
        for binaries in image_binary_pins(name):
            pin = PINS["image_binaries"][binaries]
            steps.append(Step(f"go build {pin['module']}@{pin['version']} {' '.join(pin['packages'])}",
                              lambda n=binaries: step_image_binaries(n)))
        steps.append(Step(f"image {APP_IMAGES[name]}", lambda n=name: build_replacing(lambda: app_spec(n), rebuild)))
    return steps


def build_app_images(names: list[str], rebuild: bool = False) -> list[str]:
    """Build (or reuse) the named images; returns their tags."""
    IMAGES_CACHE.mkdir(parents=True, exist_ok=True)
    start = time.monotonic()
    timings = run_steps(app_steps(names, rebuild), log, f"scripts/images {' '.join(names)}")
    total = time.monotonic() - start
    tags = [APP_IMAGES[n] for n in names]
    write_build_record("app-images", {"images": tags, "total_seconds": round(total, 1), "steps": timings,
                                      "sizes_mb": {t: round(image_size_mb(t), 1) for t in tags}})
    log(f"ready in {total:.1f}s: " + ", ".join(f"{t} ({image_size_mb(t):.0f} MB)" for t in tags))
    return tags
