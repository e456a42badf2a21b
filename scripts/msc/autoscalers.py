"""metrics-server and KEDA for the kind tier's autoscaling tests: upstream's own install manifests, taken from
the pinned Go modules (metrics-server `manifests/overlays/release`, KEDA `config/default`: CRDs, RBAC, the
operator, the metrics API server, the admission webhooks) and built by the pinned kustomize with our images
(scripts/images autoscaling) and what a kind cluster needs. The YAML goes to `kubectl apply --server-side`.

    install(kubectl, metrics_server_manifest(), "metrics-server")   # then HPAs on CPU work
    wait_metrics_api(kubectl)                                         # once every node has been scraped
    install(kubectl, keda_manifest(), "keda")                       # then ScaledObjects work
"""
from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

from .env import BIN, PINS
from .gomod import module_dir
from .images.apps import APP_IMAGES
from .kube import Kubectl
from .proc import run, wait_until

Obj = dict[str, Any]
METRICS_SERVER_NAMESPACE = "kube-system"   # upstream's
KEDA_NAMESPACE = "keda"                    # upstream's
# the Deployments each install waits for (namespace, name)
DEPLOYMENTS = {"metrics-server": [(METRICS_SERVER_NAMESPACE, "metrics-server")],
               "keda": [(KEDA_NAMESPACE, d) for d in ("keda-operator", "keda-metrics-apiserver", "keda-admission")]}


def _pin(name: str) -> dict:
    return PINS["image_binaries"][name]


def _image(key: str) -> dict[str, str]:
    """A kustomize `images:` target for one of our images."""
    name, tag = APP_IMAGES[key].rsplit(":", 1)
    return {"newName": name, "newTag": tag}


def _patch(kind: str, name: str, ops: list[Obj]) -> Obj:
    return {"target": {"kind": kind, "name": name}, "patch": json.dumps(ops)}


def kustomize(base: Path, kustomization: Obj) -> str:
    """`kustomize build` of an overlay (written as JSON, which kustomize reads as YAML) on a folder of a module."""
    with tempfile.TemporaryDirectory(prefix="msc-kustomize-") as tmp:
        overlay = {"apiVersion": "kustomize.config.k8s.io/v1beta1", "kind": "Kustomization",
                   "resources": [os.path.relpath(base, tmp)], **kustomization}
        Path(tmp, "kustomization.yaml").write_text(json.dumps(overlay, indent=1))
        return run([str(BIN / "kustomize"), "build", "--load-restrictor", "LoadRestrictionsNone", tmp],
                   f"kustomize build {base}", timeout=120, hint="run `scripts/bootstrap` (it builds kustomize)").stdout


def metrics_server_manifest() -> str:
    """Upstream's release manifests with our image, and --kubelet-insecure-tls (kind's kubelets serve
    self-signed certificates)."""
    pin = _pin("metrics-server")
    base = module_dir(pin["module"], pin["version"]) / "manifests" / "overlays" / "release"
    deployment = "/spec/template/spec/containers/0"
    return kustomize(base, {
        "images": [{"name": "registry.k8s.io/metrics-server/metrics-server", **_image("metrics-server")}],
        "patches": [_patch("Deployment", "metrics-server", [
            {"op": "add", "path": f"{deployment}/args/-", "value": "--kubelet-insecure-tls"},
            # our image's user (upstream's 1000 would also run; one uid for every image here)
            {"op": "replace", "path": f"{deployment}/securityContext/runAsUser", "value": 65532}])]})


def keda_manifest() -> str:
    """Upstream's config/default (every KEDA CRD, RBAC, namespace `keda`, operator, metrics API server, admission
    webhooks) at the pinned tag, each Deployment on our one image with its binary as the command."""
    pin = _pin("keda")
    base = module_dir(pin["module"], pin["version"]) / "config" / "default"
    container = "/spec/template/spec/containers/0"
    pull = {"op": "replace", "path": f"{container}/imagePullPolicy", "value": "IfNotPresent"}
    return kustomize(base, {
        "images": [{"name": f"ghcr.io/kedacore/{n}", **_image("keda")}
                   for n in ("keda", "keda-metrics-apiserver", "keda-admission-webhooks")],
        "patches": [
            _patch("Deployment", "keda-operator", [pull]),
            _patch("Deployment", "keda-admission", [pull]),
            # upstream's metrics server image has no command: its args start with the binary's path
            _patch("Deployment", "keda-metrics-apiserver", [
                pull, {"op": "remove", "path": f"{container}/args/0"},
                {"op": "add", "path": f"{container}/command", "value": ["/keda-adapter"]}])]})


def install(kubectl: Kubectl, manifest: str, what: str, timeout: float = 300) -> None:
    """Server-side apply of a manifest (CRDs first, so the objects of their kinds are accepted in the same
    apply), then wait until every Deployment of `what` (a DEPLOYMENTS key) has rolled out, then its APIServices.
    Why last: an APIService made with its Service makes the API server dial the Service's IP at once, before
    kube-proxy has a rule for it; that connection leaves the cluster (here: to the sandbox's own port 443, which
    answers 404), is kept alive and reused, and the API stays FailedDiscoveryCheck for as long as it lives."""
    docs = [d for d in manifest.split("\n---\n") if d.strip()]
    later = [d for d in docs if "\nkind: APIService\n" in f"\n{d}\n"]
    apply = ["apply", "--server-side", "--force-conflicts", "--field-manager=msc-autoscalers", "-f", "-"]
    kubectl(*apply, stdin="\n---\n".join(d for d in docs if d not in later), timeout=timeout)
    for namespace, name in DEPLOYMENTS[what]:
        kubectl("rollout", "status", f"deployment/{name}", "-n", namespace, f"--timeout={int(timeout)}s",
                timeout=timeout + 30)
    if later:
        kubectl(*apply, stdin="\n---\n".join(later), timeout=timeout)


def wait_metrics_api(kubectl: Kubectl, timeout: float = 180) -> None:
    """Until the metrics API serves every node's usage (metrics-server answers only after its first scrapes of the
    kubelets: an HPA made before that reports <unknown> for a while)."""
    def scraped() -> bool:
        proc = kubectl("get", "--raw", "/apis/metrics.k8s.io/v1beta1/nodes", check=False)
        nodes = kubectl.json("get", "nodes")["items"]
        return proc.returncode == 0 and len(json.loads(proc.stdout).get("items", [])) == len(nodes)
    wait_until(scraped, timeout, "the metrics API (metrics-server) to serve every node's usage", interval=3)
