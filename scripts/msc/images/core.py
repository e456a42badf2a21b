"""The image build core: an ImageSpec (Dockerfile + context files + base + build args) is built once and
then reused while the digest of its inputs, kept in the image's label io.ml-serving-charts.inputs, is the
same. Every image of scripts/images is an ImageSpec or a step that makes one's inputs.

Standard library only. Builds need a Docker engine (msc.dockerd) and, for debootstrap, root."""
from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from ..env import IMAGES_CACHE
from ..proc import logger, run as run_command

LABEL = "io.ml-serving-charts.inputs"
SOURCE_LABEL = "io.ml-serving-charts.source"
STAGE_LABEL = "io.ml-serving-charts.stage"   # on build stages (images/models/base/Dockerfile.*), pruned after use
log = logger("images")

# The ONE name of every image this project builds for a cluster to run (APP_IMAGES, the busybox stand-in).
# "localhost" as a reference's first component is a registry host to Docker, containerd and the kubelet alike, so
# such a name never resolves to docker.io, where anyone may publish under an unclaimed namespace such as
# ml-serving-charts/ (issue 18). No runtime can pull it from anywhere (nothing serves localhost:443 on a node):
# a cluster runs it only after `kind load` (or a user's own push to a registry set by global.imageRegistry).
# The charts' defaults name the same registry; tests/render/test_image_references.py holds them to it.
OWN_REGISTRY = "localhost"
OWN_NAMESPACE = f"{OWN_REGISTRY}/ml-serving-charts"


def own_image(name: str, tag: str) -> str:
    """The reference of one of our images: localhost/ml-serving-charts/<name>:<tag>."""
    return f"{OWN_NAMESPACE}/{name}:{tag}"


def run(cmd: list[str], what: str, timeout: float = 1800, env: dict | None = None, cwd: Path | None = None,
        stdin: int | None = None, log_file: Path | None = None) -> str:
    """Run a build command; output goes to log_file when given (and its tail into the error)."""
    return run_command(cmd, what, timeout=timeout, env={**os.environ, **(env or {})}, cwd=cwd, stdin=stdin,
                       log_file=log_file).stdout


def docker(*args: str, what: str, timeout: float = 1800, env: dict | None = None,
           log_file: Path | None = None) -> str:
    return run(["docker", *args], what, timeout=timeout, env=env, log_file=log_file)


# ---------------------------------------------------------------- hashing and docker image state

_HASH_MEMO: dict[str, str] = {}
_HASH_MEMO_FILE = IMAGES_CACHE / ".file-hashes.json"


def file_sha256(path: Path) -> str:
    """sha256 of a file, memoised by (path, size, mtime) across runs: binaries are hundreds of MB."""
    if not _HASH_MEMO and _HASH_MEMO_FILE.exists():
        with contextlib.suppress(ValueError, OSError):
            _HASH_MEMO.update(json.loads(_HASH_MEMO_FILE.read_text()))
    st = path.stat()
    key = f"{path.resolve()}|{st.st_size}|{st.st_mtime_ns}"
    if key not in _HASH_MEMO:
        h = hashlib.sha256()
        with open(path, "rb") as fh:
            for chunk in iter(lambda: fh.read(1 << 20), b""):
                h.update(chunk)
        _HASH_MEMO[key] = h.hexdigest()
        IMAGES_CACHE.mkdir(parents=True, exist_ok=True)
        _HASH_MEMO_FILE.write_text(json.dumps(_HASH_MEMO, indent=0, sort_keys=True))
    return _HASH_MEMO[key]


def digest_of(parts: dict) -> str:
    return hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()


def image_id(ref: str) -> str | None:
    proc = subprocess.run(["docker", "image", "inspect", "-f", "{{.Id}}", ref], capture_output=True, text=True)
    return proc.stdout.strip() if proc.returncode == 0 else None


def image_label(ref: str, label: str = LABEL) -> str | None:
    proc = subprocess.run(["docker", "image", "inspect", "-f", f'{{{{index .Config.Labels "{label}"}}}}', ref],
                          capture_output=True, text=True)
    return proc.stdout.strip() if proc.returncode == 0 else None


def image_size_mb(ref: str) -> float:
    proc = subprocess.run(["docker", "image", "inspect", "-f", "{{.Size}}", ref], capture_output=True, text=True)
    return int(proc.stdout.strip() or 0) / 1e6 if proc.returncode == 0 else 0.0


def docker_has(ref: str) -> bool:
    return image_id(ref) is not None


@dataclass
class ImageSpec:
    """One docker image built from a Dockerfile and a context assembled from files."""
    tags: list[str]
    dockerfile: Path
    files: dict[str, Path | bytes]            # context path -> source file (or content)
    base: str | None = None                   # image passed as --build-arg BASE (its id goes in the digest)
    build_args: dict[str, str] = field(default_factory=dict)
    source: str = ""                          # what the image is built from (a label, for people)
    labels: dict[str, str] = field(default_factory=dict)   # more labels (org.opencontainers.image.*)

    def digest(self) -> str:
        files = {}
        for rel, src in sorted(self.files.items()):
            if isinstance(src, bytes):
                files[rel] = ["bytes", hashlib.sha256(src).hexdigest()]
            else:
                files[rel] = [oct(src.stat().st_mode & 0o111), file_sha256(src)]
        return digest_of({"dockerfile": self.dockerfile.read_text(), "files": files, "args": self.build_args,
                          "base": image_id(self.base) if self.base else None, "source": self.source,
                          **({"labels": self.labels} if self.labels else {})})


def build_image(spec: ImageSpec, rebuild: bool) -> str:
    want = spec.digest()
    main = spec.tags[0]
    if not rebuild and image_label(main) == want and all(image_id(t) == image_id(main) for t in spec.tags):
        return f"cached ({main})"
    with tempfile.TemporaryDirectory(prefix="msc-image-ctx-", dir=IMAGES_CACHE) as tmp:
        ctx = Path(tmp)
        for rel, src in spec.files.items():
            dest = ctx / rel
            dest.parent.mkdir(parents=True, exist_ok=True)
            if isinstance(src, bytes):
                dest.write_bytes(src)
            else:
                try:
                    os.link(src.resolve(), dest)      # same filesystem: no copy of big binaries (mode kept)
                except OSError:
                    shutil.copy2(src.resolve(), dest)
        shutil.copy(spec.dockerfile, ctx / "Dockerfile")
        args = [f"--build-arg={k}={v}" for k, v in {**spec.build_args, **({"BASE": spec.base} if spec.base else {})}.items()]
        labels = [f"--label={LABEL}={want}"] + ([f"--label={SOURCE_LABEL}={spec.source}"] if spec.source else []) \
            + [f"--label={k}={v}" for k, v in spec.labels.items()]
        tags = [a for t in spec.tags for a in ("-t", t)]
        safe = main.replace("/", "_").replace(":", "_")
        docker("build", "--force-rm", *(["--no-cache"] if rebuild else []), *args, *labels, *tags, str(ctx),
               what=f"docker build {main}", env={"DOCKER_BUILDKIT": "0"},
               log_file=IMAGES_CACHE / "logs" / f"build-{safe}.log")
    return f"built {main} ({image_size_mb(main):.0f} MB)"


def build_replacing(make: Callable[[], ImageSpec], rebuild: bool) -> str:
    """build_image, then remove the image the tag pointed to before (unless something still uses it)
    and the finished build stages that earlier steps and builds left dangling (0.2-1 GB each; only
    those created before this build started, so never one a build started later is still using)."""
    spec = make()
    before = image_id(spec.tags[0])
    started = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    result = build_image(spec, rebuild)
    if before and before != image_id(spec.tags[0]):
        subprocess.run(["docker", "rmi", before], capture_output=True)
    subprocess.run(["docker", "image", "prune", "-f", "--filter", f"label={STAGE_LABEL}", "--filter",
                    f"until={started}"], capture_output=True)
    return result


def write_build_record(name: str, record: dict) -> None:
    """$MSC_CACHE/images/last-<name>-build.json: what the last build took (the notes quote these figures)."""
    IMAGES_CACHE.mkdir(parents=True, exist_ok=True)
    record = {**record, "finished": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
    (IMAGES_CACHE / f"last-{name}-build.json").write_text(json.dumps(record, indent=2) + "\n")
