"""msc.autoscalers without a cluster: upstream's metrics-server and KEDA manifests, built by the pinned kustomize
from the pinned modules with our images, are valid for every Kubernetes minor, run only binaries our images have,
and keep upstream's restricted security contexts. That they scale anything is the kind tier's to show."""
from __future__ import annotations

import re
from typing import Any

import pytest

from harness import ROOT, require_built
from harness.render import load_all
from harness.validate import validate_object
from msc import autoscalers
from msc.env import tool
from msc.images.apps import APP_IMAGES

pytestmark = pytest.mark.lint

Obj = dict[str, Any]


@pytest.fixture(scope="module", params=["metrics-server", "keda"])
def manifest(request: pytest.FixtureRequest) -> tuple[str, list[Obj]]:
    require_built(tool("kustomize").exists(), "kustomize missing: run scripts/bootstrap")
    build = autoscalers.metrics_server_manifest if request.param == "metrics-server" else autoscalers.keda_manifest
    return request.param, load_all(build())


def deployments(objs: list[Obj]) -> dict[tuple[str, str], Obj]:
    return {(o["metadata"]["namespace"], o["metadata"]["name"]): o for o in objs if o["kind"] == "Deployment"}


def test_every_object_is_valid(manifest: tuple[str, list[Obj]]) -> None:
    problems = [p for obj in manifest[1] for p in validate_object(obj)]
    assert not problems, "\n".join(problems[:20])


def test_the_deployments_run_our_image_as_upstream_secured_them(manifest: tuple[str, list[Obj]]) -> None:
    name, objs = manifest
    found = deployments(objs)
    assert set(found) == set(autoscalers.DEPLOYMENTS[name]), "install() waits for other Deployments than it applies"
    binaries = set(re.findall(r"^COPY \S+ (/\S+)$", (ROOT / "images" / name / "Dockerfile").read_text(), re.M))
    for (namespace, deployment), obj in found.items():
        pod = obj["spec"]["template"]["spec"]
        for c in pod["containers"]:
            where = f"{namespace}/{deployment} {c['name']}"
            assert c["image"] == APP_IMAGES[name] and c["imagePullPolicy"] == "IfNotPresent", where
            assert not c.get("command") or c["command"][0] in binaries, f"{where}: {c['command']} not in the image"
            sc = {**pod.get("securityContext", {}), **c.get("securityContext", {})}
            assert sc.get("runAsNonRoot") and sc.get("allowPrivilegeEscalation") is False, f"{where}: {sc}"
            assert sc.get("capabilities", {}).get("drop") == ["ALL"] and sc.get("readOnlyRootFilesystem"), f"{where}: {sc}"
    if name == "metrics-server":
        args = found[("kube-system", "metrics-server")]["spec"]["template"]["spec"]["containers"][0]["args"]
        assert "--kubelet-insecure-tls" in args and "--cert-dir=/tmp" in args
    else:
        kinds = {o["kind"] for o in objs}
        assert {"CustomResourceDefinition", "APIService", "ValidatingWebhookConfiguration"} <= kinds
        crds = {o["metadata"]["name"] for o in objs if o["kind"] == "CustomResourceDefinition"}
        assert {"scaledobjects.keda.sh", "triggerauthentications.keda.sh"} <= crds
        adapter = found[("keda", "keda-metrics-apiserver")]["spec"]["template"]["spec"]["containers"][0]
        assert adapter["command"] == ["/keda-adapter"] and adapter["args"][0].startswith("--"), adapter
