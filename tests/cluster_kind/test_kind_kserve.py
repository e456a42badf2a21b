"""KServe on kind (issue 22): charts/kserve-controller installed with the controller, router, sklearnserver and
storage initializer built here, serving the iris model from a minimal InferenceService in Standard mode, and its
webhook refusing an invalid InferenceService with KServe's own message.

The model: a model store pod (the sklearnserver image's own python and scikit-learn, so the pickle loads) trains
msc.iris.TRAIN_SKLEARN and serves model.joblib over HTTP; the InferenceService's storageUri points at it, so the
controller's pod mutator injects the storage initializer, which downloads it into /mnt/models. Calls go from the
helm-test-client pod to the predictor's Service (no Ingress: config.ingress.disableIngressCreation). Measured here: 2 tests in 44 s
on a warm cluster (controller installed and answering in 14 s, InferenceService Ready in 18 s); cold, the cluster
came up in 32 s and its 5 images loaded in 52 s."""
from __future__ import annotations

import json
import time
from typing import Iterator

import pytest

from harness import require_built
from harness.cluster import Helm
from msc import stack as ks
from msc.images.apps import APP_IMAGES
from msc.images.kserve import KSERVE_IMAGES
from msc.iris import CLASSES, IRIS_ROWS, TRAIN_SKLEARN
from msc.proc import wait_until
from kind_support import KindEnv

pytestmark = pytest.mark.cluster_kind

NAMESPACE = "kserve"
RELEASE = "msc-kserve"
IMAGES = [*(ref for _, _, ref in KSERVE_IMAGES.values()), APP_IMAGES["kserve-sklearnserver"],
          APP_IMAGES["kserve-storage-initializer"]]
SMALL = {"requests": {"cpu": "50m", "memory": "256Mi"}, "limits": {"cpu": "1", "memory": "1Gi"}}
# The model store: trains the iris model with the server's own scikit-learn into /tmp/models and serves it.
STORE_PROGRAM = f"""
import functools, http.server, sys
sys.argv = ["train", "/tmp/models"]
exec({TRAIN_SKLEARN!r})
handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory="/tmp/models")
http.server.ThreadingHTTPServer(("", 8000), handler).serve_forever()
"""


def isvc(isvc_name: str, namespace: str, **model: object) -> dict:
    """A minimal InferenceService: the sklearn model on the kserve-sklearnserver runtime, v1; `model` adds fields."""
    return {"apiVersion": "serving.kserve.io/v1beta1", "kind": "InferenceService",
            "metadata": {"name": isvc_name, "namespace": namespace},
            "spec": {"predictor": {"model": {"modelFormat": {"name": "sklearn"}, "protocolVersion": "v1",
                                             "runtime": "kserve-sklearnserver", "resources": SMALL, **model}}}}


def webhook_answers(kind: KindEnv, namespace: str) -> bool:
    """A server-side dry run of a valid InferenceService passes the defaulting and validating webhooks."""
    proc = kind.kubectl("apply", "--dry-run=server", "-f", "-", stdin=json.dumps(
        isvc("probe", namespace, storageUri="http://model-store:8000/model.joblib")), check=False)
    return proc.returncode == 0


@pytest.fixture(scope="module")
def kserve(kind: KindEnv, helm_cli: Helm) -> Iterator[str]:
    """kserve-controller in `kserve` (runtimes with small requests for the 2-CPU workers); its release name."""
    missing = [ref for ref in IMAGES if not ks.docker_has(ref)]
    require_built(not missing, f"images {missing} not built: run scripts/images kserve kserve-servers")
    kind.require("helm-test-client")
    assert kind.load, "the kind fixture gives a loader"
    kind.load(IMAGES)
    # the chart refuses to leave out the rules for a kind the cluster has: test_kind_autoscaling installs KEDA
    keda = kind.kubectl("get", "crd", "scaledobjects.keda.sh", check=False).returncode == 0
    t0 = time.monotonic()
    helm_cli.upgrade(RELEASE, "kserve-controller", NAMESPACE, install=True, wait=True, extra=["--create-namespace"],
                     values={"runtimes": {"sklearnserver": {"resources": SMALL}, "mlserver": {"enabled": False}},
                             "config": {"storageInitializer": {"cpuRequest": "20m", "memoryRequest": "64Mi"}},
                             "rbac": {"integrations": {"keda": keda}}})
    wait_until(lambda: webhook_answers(kind, NAMESPACE), 120, "KServe's webhooks answering")
    print(f"kserve-controller installed, webhooks answering, in {time.monotonic() - t0:.0f}s")
    try:
        yield RELEASE
    finally:
        helm_cli.uninstall(RELEASE, NAMESPACE, check=False)
        kind.kubectl("delete", "clusterservingruntimes", "-l", f"app.kubernetes.io/instance={RELEASE}", check=False)


@pytest.fixture(scope="module")
def iris(kind: KindEnv, kserve: str, make_namespace) -> Iterator[str]:
    """The model store, the client pod and the InferenceService `iris` in a new namespace; returns it once Ready."""
    ns = make_namespace("kserve-iris", restricted=False)
    labels = {"app.kubernetes.io/name": "model-store"}
    store = [{"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "model-store", "namespace": ns, "labels": labels},
              "spec": {"automountServiceAccountToken": False, "securityContext": ks.RESTRICTED_POD,
                       "containers": [{"name": "store", "image": APP_IMAGES["kserve-sklearnserver"],
                                       "imagePullPolicy": "IfNotPresent",
                                       "command": ["/opt/kserve/bin/python", "-c", STORE_PROGRAM],
                                       "ports": [{"containerPort": 8000}],
                                       "readinessProbe": {"httpGet": {"path": "/model.joblib", "port": 8000}},
                                       "resources": SMALL, "securityContext": ks.RESTRICTED_CONTAINER,
                                       "volumeMounts": [{"name": "tmp", "mountPath": "/tmp"}]}],
                       "volumes": [{"name": "tmp", "emptyDir": {}}]}},
             {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "model-store", "namespace": ns},
              "spec": {"selector": labels, "ports": [{"port": 8000, "targetPort": 8000}]}}]
    ks.apply(kind.kubectl, store + ks.client_objects(ns))
    ks.wait_pod_ready(kind.kubectl, ns, "model-store", 180)
    ks.wait_pod_ready(kind.kubectl, ns, ks.CLIENT_NAME, 180)
    t0 = time.monotonic()
    kind.kubectl("apply", "-f", "-", stdin=json.dumps(
        isvc("iris", ns, storageUri=f"http://model-store.{ns}.svc:8000/model.joblib")))
    proc = kind.kubectl("wait", "--for=condition=Ready", "inferenceservice/iris", "-n", ns, "--timeout=300s",
                        check=False, timeout=330)
    if proc.returncode != 0:
        status = kind.kubectl("get", "inferenceservice", "iris", "-n", ns, "-o", "json", check=False).stdout
        raise AssertionError(f"InferenceService iris not Ready: {proc.stderr}\n{status[-2500:]}\n"
                             f"{ks.describe_pods(kind.kubectl, ns, 'iris-predictor')}")
    print(f"InferenceService iris Ready in {time.monotonic() - t0:.0f}s")
    try:
        yield ns
    finally:   # while the controller still runs: it removes the InferenceService's finalizer (else the namespace hangs)
        kind.kubectl("delete", "inferenceservice", "iris", "-n", ns, "--wait=true", "--timeout=120s", check=False,
                     timeout=150)


def test_sklearnserver_predicts_the_iris_classes_over_v1(kind: KindEnv, iris: str) -> None:
    """v1 REST predict on the predictor's Service answers the class of each textbook flower."""
    pod = kind.kubectl.json("get", "pods", "-n", iris, "-l", "serving.kserve.io/inferenceservice=iris")["items"][0]
    assert [c["name"] for c in pod["spec"]["initContainers"]] == ["storage-initializer"]
    assert pod["spec"]["initContainers"][0]["image"] == f"docker.io/{APP_IMAGES['kserve-storage-initializer']}"
    url = f"http://iris-predictor.{iris}.svc/v1/models/iris:predict"
    res = ks.call(kind.kubectl, iris, [{"name": "predict", "url": url, "retry": 30,
                                        "body": {"instances": [row for row, _ in IRIS_ROWS]}}])["predict"]
    assert res["status"] == 200, res
    assert [CLASSES[i] for i in res["body"]["predictions"]] == [name for _, name in IRIS_ROWS], res


def test_webhook_refuses_an_invalid_inference_service_with_kserves_message(kind: KindEnv, iris: str) -> None:
    """spec.predictor.model.name passes the CRD's schema; KServe's validating webhook refuses it."""
    proc = kind.kubectl("apply", "-f", "-", check=False, stdin=json.dumps(
        isvc("named", iris, name="iris", storageUri=f"http://model-store.{iris}.svc:8000/model.joblib")))
    assert proc.returncode != 0, proc.stdout
    assert 'admission webhook "inferenceservice.kserve-webhook-server.validator" denied the request' in proc.stderr
    assert "the 'name' field is not allowed in standard predictor" in proc.stderr, proc.stderr
