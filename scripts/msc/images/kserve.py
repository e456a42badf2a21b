"""KServe 0.20.0's controller and InferenceGraph router images under upstream's names, from the binaries
msc.kserve builds from the verified source (msc.images.binary_image: the binary, licence and users file,
`docker import`ed, no shell). The Python images (sklearnserver, storage initializer) are app images
(msc.images.apps, recipe images/kserve/)."""
from __future__ import annotations

from .. import dockerd, sources
from ..kserve import BIN_DIR, PIN, VERSION, step_binaries
from ..proc import Step, run_steps
from .binary_image import import_binary_image
from .core import log

# image name -> (binary, the package it is built from, the image reference the kserve-controller chart uses)
KSERVE_IMAGES = {
    "kserve-controller": ("manager", "cmd/manager", f"docker.io/kserve/kserve-controller:v{VERSION}"),
    "kserve-router": ("router", "cmd/router", f"docker.io/kserve/router:v{VERSION}"),
}


def build_image(name: str, rebuild: bool = False) -> str:
    """The image of one binary, reused while its inputs are the same; both answer -help with Go's flag usage."""
    binary, folder, ref = KSERVE_IMAGES[name]
    return import_binary_image(ref, BIN_DIR / binary, PIN, folder + "/", "kserve", ["-help"], "Usage of", rebuild)


def build_all(rebuild: bool = False) -> list[str]:
    """The binaries, then both images; returns the image references."""
    steps = [Step("docker engine", dockerd.ensure),
             Step(f"KServe {PIN['tag']} source (verified)", lambda: f"{sources.source_tree('kserve')}"),
             Step("go build cmd/manager and cmd/router", step_binaries)]
    steps += [Step(f"image {ref}", lambda n=name: build_image(n, rebuild)) for name, (_, _, ref) in KSERVE_IMAGES.items()]
    run_steps(steps, log, "scripts/images kserve")
    return [ref for _, _, ref in KSERVE_IMAGES.values()]
