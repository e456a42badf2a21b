"""The Seldon Core operator and executor images under the names the seldon-operator chart uses by default,
from the binaries msc.seldon_core builds from the verified source (msc.images.binary_image: a root filesystem
of the binary, the licence and the users file, imported with `docker import`, labelled with the upstream tag,
commit and licence)."""
from __future__ import annotations

from .. import dockerd, sources
from ..proc import Step, run_steps
from ..seldon_core import BIN_DIR, PIN, VERSION, step_binaries
from .binary_image import import_binary_image, pin_labels, pin_source
from .core import log


# image name -> (binary, the source folder it is built from, the image reference the chart uses by default)
SELDON_IMAGES = {
    "seldon-operator": ("manager", "operator", f"docker.io/seldonio/seldon-core-operator:{VERSION}"),
    "seldon-executor": ("executor", "executor", f"docker.io/seldonio/seldon-core-executor:{VERSION}"),
}


def upstream_labels() -> dict[str, str]:
    """The labels of every image built from the Seldon Core source: its tag, commit and licence (1.17.1 is the
    last Apache-2.0 release)."""
    return pin_labels(PIN)


def upstream_source(folder: str) -> str:
    """The io.ml-serving-charts.source label of an image built from a folder of the Seldon Core source."""
    return pin_source(PIN, folder)


def build_image(name: str, rebuild: bool = False) -> str:
    """The image of one binary, reused while its inputs are the same (neither binary has a version flag: both
    print their usage)."""
    binary, folder, ref = SELDON_IMAGES[name]
    return import_binary_image(ref, BIN_DIR / binary, PIN, folder + "/", "seldon-core", ["--help"], "Usage", rebuild)


def build_all(rebuild: bool = False) -> list[str]:
    """The binaries, then both images; returns the image references."""
    steps = [Step("docker engine", dockerd.ensure), Step(f"Seldon Core {PIN['tag']} source (verified)",
                                                        lambda: f"{sources.source_tree('seldon-core')}"),
             Step("go build manager and executor", step_binaries)]
    steps += [Step(f"image {ref}", lambda n=name: build_image(n, rebuild)) for name, (_, _, ref) in SELDON_IMAGES.items()]
    run_steps(steps, log, "scripts/images seldon")
    return [ref for _, _, ref in SELDON_IMAGES.values()]
