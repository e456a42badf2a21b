"""The KServe v0.20.0 controller (cmd/manager, built from the verified source by `scripts/images kserve`) at work on
a real control plane with nothing but the kserve-controller chart's RBAC: installed with Helm, the release's
Deployment scaled to 0 and its manager run as a local process that authenticates as the release's ServiceAccount
(a TokenRequest token, seldon_manager.service_account_kubeconfig), with the release's inferenceservice-config and
webhook certificate. Its caches sync, it turns an InferenceService into the Standard-mode Deployment, Service and
HorizontalPodAutoscaler (the sklearnserver ClusterServingRuntime's image and arguments), and an InferenceGraph into
a Deployment of the router image built here; nothing it does is forbidden (its log says so).

Found this way: KServe refuses to start without ingress.ingressGateway even in Standard mode (the chart sets it).
The webhooks are the kind tier's: here the API server cannot reach a local process by Service name without the
routing seldon_manager sets up, so the release's failurePolicy is Ignore."""
from __future__ import annotations

import base64
import json
import os
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest

from harness import find, require_built
from harness.cluster import Helm, wait_until
from harness.loopback import free_port
from kwok_support import KwokEnv
from msc.images.apps import APP_IMAGES
from msc.images.kserve import KSERVE_IMAGES
from msc.kserve import BIN_DIR
from seldon_manager import service_account_kubeconfig

pytestmark = pytest.mark.cluster_kwok

MANAGER = BIN_DIR / "manager"
# the CRDs the session applies (every fetched one) include KEDA's and Istio's: the controller watches both, so the
# chart must grant them (it refuses to install otherwise); KServe's own CRDs are the session's too
VALUES = {"crd": {"install": False}, "leaderElection": {"enabled": False}, "webhook": {"failurePolicy": "Ignore"},
          "rbac": {"integrations": {"keda": True, "istio": True}}, "runtimes": {"mlserver": {"enabled": False}}}


def isvc(namespace: str) -> dict:
    return {"apiVersion": "serving.kserve.io/v1beta1", "kind": "InferenceService",
            "metadata": {"name": "iris", "namespace": namespace},
            "spec": {"predictor": {"minReplicas": 1, "maxReplicas": 3, "model": {
                "modelFormat": {"name": "sklearn"}, "protocolVersion": "v1", "runtime": "kserve-sklearnserver",
                "storageUri": f"http://model-store.{namespace}.svc:8000/model.joblib"}}}}


def graph(namespace: str) -> dict:
    return {"apiVersion": "serving.kserve.io/v1alpha1", "kind": "InferenceGraph",
            "metadata": {"name": "seq", "namespace": namespace},
            "spec": {"nodes": {"root": {"routerType": "Sequence", "steps": [{"serviceName": "iris", "name": "iris"}]}}}}


def test_controller_reconciles_with_nothing_but_the_charts_rbac(kwok: KwokEnv, helms: dict[str, Helm], namespace,
                                                                tmp_path: Path) -> None:
    require_built(MANAGER.exists(), f"no {MANAGER}: `scripts/images kserve` builds KServe's controller from the "
                                    "verified source (scripts/test does)")
    assert {"inferenceservices.serving.kserve.io", "inferencegraphs.serving.kserve.io"} <= set(kwok.crds)
    ns, models = namespace("kserve-ctrl"), namespace("kserve-models")
    helm = helms["helm4"]
    helm.install("ks", "kserve-controller", ns, values=VALUES, wait=False)
    manifest = helm.manifest("ks", ns)
    deployment = find(manifest, "Deployment")
    kwok.kubectl("scale", "deployment", deployment["metadata"]["name"], "-n", ns, "--replicas=0")
    account = deployment["spec"]["template"]["spec"]["serviceAccountName"]
    kubeconfig = service_account_kubeconfig(kwok.kubectl, ns, account, tmp_path / "sa-kubeconfig")
    secret = find(manifest, "Secret")
    certs = tmp_path / "k8s-webhook-server" / "serving-certs"
    certs.mkdir(parents=True)
    for key in ("tls.crt", "tls.key"):
        (certs / key).write_bytes(base64.b64decode(secret["data"][key]))
    probes, metrics, webhook = free_port(), free_port(), free_port()
    log = tmp_path / "manager.log"
    env = {**os.environ, "KUBECONFIG": str(kubeconfig), "POD_NAMESPACE": ns, "TMPDIR": str(tmp_path),
           "SECRET_NAME": secret["metadata"]["name"]}
    with open(log, "wb") as out:
        proc = subprocess.Popen([str(MANAGER), f"--webhook-port={webhook}", f"--metrics-addr=127.0.0.1:{metrics}",
                                 f"--health-probe-addr=127.0.0.1:{probes}"], env=env, stdout=out, stderr=subprocess.STDOUT)
    try:
        def ready() -> bool:
            assert proc.poll() is None, f"the controller exited {proc.returncode}:\n{log.read_text()[-3000:]}"
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{probes}/readyz", timeout=3) as resp:
                    return resp.status == 200
            except OSError:
                return False
        t0 = time.monotonic()
        wait_until(ready, 120, "the KServe controller ready")
        kwok.kubectl("apply", "-f", "-", stdin=json.dumps({"apiVersion": "v1", "kind": "List",
                                                             "items": [isvc(models), graph(models)]}))

        def made() -> dict | None:
            got = kwok.kubectl.json("get", "deployments,services,horizontalpodautoscalers", "-n", models)["items"]
            kinds = {(o["kind"], o["metadata"]["name"]): o for o in got}
            want = {("Deployment", "iris-predictor"), ("Service", "iris-predictor"),
                    ("HorizontalPodAutoscaler", "iris-predictor"), ("Deployment", "seq")}
            return kinds if want <= set(kinds) else None
        objects = wait_until(made, 120, "the InferenceService's and InferenceGraph's objects")
        took = time.monotonic() - t0
        predictor = objects[("Deployment", "iris-predictor")]["spec"]["template"]["spec"]["containers"][0]
        assert predictor["image"] == f"docker.io/{APP_IMAGES['kserve-sklearnserver']}"
        assert predictor["args"] == ["--model_name=iris", "--model_dir=/mnt/models", "--http_port=8080"]
        assert predictor["securityContext"]["runAsNonRoot"] is True
        router = objects[("Deployment", "seq")]["spec"]["template"]["spec"]["containers"][0]
        assert router["image"] == KSERVE_IMAGES["kserve-router"][2]
        assert "iris-predictor" in json.dumps(router["args"])
        hpa = objects[("HorizontalPodAutoscaler", "iris-predictor")]["spec"]
        assert (hpa["minReplicas"], hpa["maxReplicas"]) == (1, 3)

        def isvc_ready() -> bool:
            status = kwok.kubectl.json("get", "inferenceservice", "iris", "-n", models).get("status", {})
            return any(c["type"] == "Ready" and c["status"] == "True" for c in status.get("conditions", []))
        wait_until(isvc_ready, 120, "InferenceService iris Ready (kwok runs its pod)")
        text = log.read_text(errors="replace")
        assert "forbidden" not in text.lower(), [line for line in text.splitlines() if "forbidden" in line.lower()][:5]
        print(f"controller ready, InferenceService and InferenceGraph reconciled in {took:.1f}s")
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        helm.uninstall("ks", ns, check=False)
        kwok.kubectl("delete", "clusterservingruntimes", "-l", "app.kubernetes.io/instance=ks", check=False)
