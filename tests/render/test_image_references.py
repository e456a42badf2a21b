"""Every image reference any chart renders names its registry and a tag or digest (issue 18): nothing is left
for a node to resolve to docker.io by default, where anyone may publish under an unclaimed name. Checked for
every chart x scenario, wherever an image hides: pod templates and helm-test Pods, SeldonDeployment
componentSpecs, explainer containerSpecs and storageInitializerImage, the operator's environment variables that
name images, and the images seldon-config hands the operator (prepackaged servers, storage initializer,
explainers). And global.imageRegistry reaches each of them."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Iterator

import pytest

from harness import all_scenarios, pod_specs, render
from harness.images import DEFAULT_REGISTRY, is_qualified, qualified, split_registry
from msc.images.apps import APP_IMAGES
from msc.images.core import OWN_NAMESPACE
from msc.stack import BUSYBOX_STANDIN

pytestmark = pytest.mark.render

Obj = dict[str, Any]
SCENARIOS = all_scenarios()
MIRROR = "mirror.example.com/ml"
IMAGE_ENV = ("_IMAGE", "_IMAGE_AND_VERSION", "_IMAGE_V2")   # the manager's variables that name images
# The Docker Hub namespaces a default may name: each image there is its publisher's own (Seldon Core's images,
# Docker's official busybox). The project owns no Docker Hub namespace: its images are OWN_NAMESPACE's.
UPSTREAM_DOCKER_HUB = {"seldonio": "Seldon Core's images (operator, executor, prepackaged servers)",
                       "library": "Docker's official images (busybox in helm tests)",
                       "tensorflow": "TensorFlow Serving (seldon-config's TENSORFLOW_SERVER, as upstream ships it)",
                       "kserve": "KServe's images (kserve-controller)"}
OURS = {qualified(ref) for ref in [*APP_IMAGES.values(), BUSYBOX_STANDIN] if ref.startswith(f"{OWN_NAMESPACE}/")}


def _graph_nodes(node: Obj) -> Iterator[Obj]:
    yield node
    for child in node.get("children") or []:
        yield from _graph_nodes(child)


def image_references(objs: list[Obj]) -> Iterator[tuple[str, str]]:
    """(where, reference) for every image the objects name."""
    for owner, spec in pod_specs(objs):
        for field in ("initContainers", "containers"):
            for c in spec.get(field) or []:
                where = f"{owner['kind']}/{owner['metadata']['name']} {c.get('name')}"
                if c.get("image"):   # image-less: a prepackaged server's settings, the operator adds the image
                    yield where, c["image"]
                for var in c.get("env") or []:
                    if var.get("value") and (var["name"].endswith(IMAGE_ENV) or var["name"].startswith("RELATED_IMAGE_")):
                        yield f"{where} env {var['name']}", var["value"]
    for sd in (o for o in objs if o["kind"] == "SeldonDeployment"):
        for p in sd["spec"]["predictors"]:
            explainer = p.get("explainer") or {}
            if (explainer.get("containerSpec") or {}).get("image"):
                yield f"SeldonDeployment/{sd['metadata']['name']} explainer", explainer["containerSpec"]["image"]
            for node in [*_graph_nodes(p["graph"]), explainer]:
                if node.get("storageInitializerImage"):
                    yield f"SeldonDeployment/{sd['metadata']['name']} {node.get('name', 'explainer')} storageInitializerImage", \
                        node["storageInitializerImage"]
    for config in (o for o in objs if o["kind"] == "ConfigMap" and o["metadata"]["name"] == "seldon-config"):
        for name, server in json.loads(config["data"]["predictor_servers"]).items():
            for protocol, image in server["protocols"].items():
                yield f"seldon-config {name} {protocol}", f"{image['image']}:{image['defaultImageVersion']}"
        yield "seldon-config storageInitializer", json.loads(config["data"]["storageInitializer"])["image"]
        for key, image in json.loads(config["data"]["explainer"]).items():
            yield f"seldon-config explainer {key}", image


def _render(chart: str, path: Path | None, registry: str | None = None) -> list[Obj]:
    # --set comes after every values file, so it wins over a scenario's own global.imageRegistry
    return render(chart, values_files=[path] if path else [],
                  extra_args=("--set", f"global.imageRegistry={registry}") if registry is not None else ())


@pytest.mark.parametrize(("chart", "name", "path"), SCENARIOS, ids=[f"{c}/{n}" for c, n, _ in SCENARIOS])
def test_every_rendered_image_is_fully_qualified(chart: str, name: str, path: Path | None) -> None:
    refs = list(image_references(_render(chart, path)))
    assert refs or chart == "ml-common-probe", "no image found: the walk above missed where this chart puts them"
    loose = [f"{where}: {ref}" for where, ref in refs if not is_qualified(ref)]
    assert not loose, loose


@pytest.mark.parametrize(("chart", "name", "path"), SCENARIOS, ids=[f"{c}/{n}" for c, n, _ in SCENARIOS])
def test_global_image_registry_reaches_every_image(chart: str, name: str, path: Path | None) -> None:
    """global.imageRegistry replaces each image's registry and keeps its path (a mirror of the same names)."""
    plain = dict(image_references(_render(chart, path, "")))
    mirrored = dict(image_references(_render(chart, path, MIRROR)))
    assert mirrored.keys() == plain.keys()
    missed = [f"{where}: {mirrored[where]} (without a mirror: {ref})" for where, ref in plain.items()
              if mirrored[where] != f"{MIRROR}/{split_registry(qualified(ref))[1]}"]
    assert not missed, missed


@pytest.mark.parametrize(("chart", "name", "path"), SCENARIOS, ids=[f"{c}/{n}" for c, n, _ in SCENARIOS])
def test_no_image_resolves_to_a_docker_hub_namespace_we_do_not_own(chart: str, name: str, path: Path | None) -> None:
    """Issue 18, point 4 (squatting): anyone may publish under an unclaimed Docker Hub namespace, so no chart
    default or scenario names one. Our own images are under localhost/ (never pulled, loaded into the nodes) and
    are exactly the ones scripts/images builds (msc.images.apps.APP_IMAGES: one definition)."""
    squattable, strays = [], []
    for where, ref in image_references(_render(chart, path)):
        registry, rest = split_registry(qualified(ref))
        if registry == DEFAULT_REGISTRY and rest.split("/", 1)[0] not in UPSTREAM_DOCKER_HUB:
            squattable.append(f"{where}: {ref}")
        if "ml-serving-charts/" in ref and qualified(ref) not in OURS:
            strays.append(f"{where}: {ref}")
    assert not squattable, f"images under a Docker Hub namespace the project does not own: {squattable}"
    assert not strays, f"names under ml-serving-charts/ that are not {OWN_NAMESPACE}/ images scripts/images builds: {strays}"


@pytest.mark.parametrize("ref", ["docker.io/ml-serving-charts/iris-model:0.1.0", "ml-serving-charts/iris-model:0.1.0",
                                 "evil/iris-model:0.1.0"])
def test_the_squatting_check_itself(ref: str) -> None:
    registry, rest = split_registry(qualified(ref))
    assert registry == DEFAULT_REGISTRY and rest.split("/", 1)[0] not in UPSTREAM_DOCKER_HUB


@pytest.mark.parametrize(("ref", "expected"), [
    ("docker.io/seldonio/sklearnserver:1.17.1", True), ("seldonio/sklearnserver:1.17.1", False),
    ("ml-serving-charts/iris-model:0.1.0", False), ("docker.io/library/busybox", False),
    ("registry.example.com:5000/a/b", False), ("localhost:5000/m@sha256:" + "0" * 64, True),
    ("nvcr.io/nvidia/tritonserver:21.08-py3", True)])
def test_the_check_itself(ref: str, expected: bool) -> None:
    assert is_qualified(ref) is expected
