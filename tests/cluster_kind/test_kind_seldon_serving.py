"""Seldon's prepackaged SKLEARN_SERVER and XGBOOST_SERVER served for real: seldon-model releases
(values/seldon-model/iris.yaml and xgboost.yaml, each also with protocol v2, their modelUri pointed inside the cluster) reconciled by the operator built from source, the model downloaded by
the storage initializer (rclone) and every answer coming through the executor:

- from an in-cluster S3 endpoint (`rclone serve s3`, in its own namespace) with the credentials of the Secret that
  the graph's `envSecretRefName` names, and from a `pvc://` volume;
- over the seldon protocol's REST (`/api/v1.0/predictions`) and gRPC (`seldon.protos.Seldon/Predict`, a real
  grpcio client with seldon-core's own stubs, in a pod of the iris-model image), each checked for the classes of
  two textbook flowers and for `meta.requestPath`;
- a wrong credential leaves the pod's storage initializer failing with rclone's 403 message, which the
  seldon-model README shows;
- an AnchorTabular explainer (the alibiexplainer image, loaded into the CPU worker only: 2.7 GB) beside the
  model, its saved explainer downloaded from the PVC, answers /api/v1.0/explain with an anchor.
Every pod runs in a namespace that enforces Pod Security `restricted`."""
from __future__ import annotations

import json
import secrets
import subprocess
import tempfile
from typing import Any, Callable, Iterator

import pytest
import yaml

from msc import clusters, stack as ks
from msc.images.smoke import anchor_explainer_dir
from msc.iris import SETOSA_CM, TRAIN_XGBOOST, VIRGINICA_CM
from msc.proc import wait_until
from harness import VALUES
from harness.cluster import Helm
from kind_support import CPU_POOL, KindEnv, install_model, wait_available

pytestmark = pytest.mark.cluster_kind
Obj = dict[str, Any]

STORE_PORT = 8333
MODEL_DIR = "/var/local/msc-models"   # on the CPU worker node: the pvc:// volume (a local PersistentVolume)



def restricted_pod(containers: list[Obj], init: list[Obj] = (), volumes: list[Obj] = ()) -> Obj:
    def harden(c: Obj) -> Obj:
        return {"imagePullPolicy": "IfNotPresent", "securityContext": ks.RESTRICTED_CONTAINER,
                "resources": {"requests": {"cpu": "10m", "memory": "64Mi"}, "limits": {"cpu": "500m", "memory": "256Mi"}},
                **c}
    return {"securityContext": ks.RESTRICTED_POD, "automountServiceAccountToken": False,
            "terminationGracePeriodSeconds": 1, "containers": [harden(c) for c in containers],
            "initContainers": [harden(c) for c in init], "volumes": list(volumes)}


def model_store_objects(namespace: str, access: str, secret: str) -> list[Obj]:
    """`rclone serve s3` over an emptyDir that init containers fill: bucket `models`, objects `iris/model.joblib`
    (the model the iris-model image trained) and `iris-xgboost/model.bst` (trained by XGBOOST_SERVER's own
    xgboost, msc.iris.TRAIN_XGBOOST)."""
    labels = {"app.kubernetes.io/name": "modelstore"}
    fetch = ("import os, shutil; os.makedirs('/data/models/iris'); "
             "shutil.copy('/opt/component/model.joblib', '/data/models/iris/model.joblib')")
    rclone = ks.APP_IMAGES["rclone-storage-initializer"]
    pod = restricted_pod(
        init=[{"name": "fetch-model", "image": ks.APP_IMAGES["iris-model"], "command": ["/opt/seldon/bin/python", "-c", fetch],
               "volumeMounts": [{"name": "data", "mountPath": "/data"}]},
              {"name": "train-xgboost", "image": ks.APP_IMAGES["xgboostserver"],
               "command": ["/opt/seldon/bin/python", "-c", TRAIN_XGBOOST, "/data/models/iris-xgboost"],
               "resources": {"requests": {"cpu": "10m", "memory": "128Mi"}, "limits": {"cpu": "1", "memory": "512Mi"}},
               "volumeMounts": [{"name": "data", "mountPath": "/data"}]}],
        containers=[{"name": "s3", "image": rclone, "command": ["rclone"],
                     "args": ["serve", "s3", "--auth-key", "$(ACCESS_KEY),$(SECRET_KEY)", "--addr", f":{STORE_PORT}", "/data"],
                     "env": [{"name": "HOME", "value": "/tmp"}, {"name": "RCLONE_CACHE_DIR", "value": "/tmp/rclone"},
                             *({"name": k, "valueFrom": {"secretKeyRef": {"name": "modelstore-auth", "key": k}}}
                               for k in ("ACCESS_KEY", "SECRET_KEY"))],
                     "ports": [{"name": "s3", "containerPort": STORE_PORT}],
                     "readinessProbe": {"tcpSocket": {"port": "s3"}, "periodSeconds": 2},
                     "volumeMounts": [{"name": "data", "mountPath": "/data", "readOnly": True},
                                      {"name": "tmp", "mountPath": "/tmp"}]}],
        volumes=[{"name": "data", "emptyDir": {}}, {"name": "tmp", "emptyDir": {}}])
    return [
        {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "modelstore-auth", "namespace": namespace},
         "stringData": {"ACCESS_KEY": access, "SECRET_KEY": secret}},
        {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "modelstore", "namespace": namespace, "labels": labels},
         "spec": {"replicas": 1, "selector": {"matchLabels": labels},
                  "template": {"metadata": {"labels": labels}, "spec": pod}}},
        {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "modelstore", "namespace": namespace, "labels": labels},
         "spec": {"selector": labels, "ports": [{"name": "s3", "port": STORE_PORT, "targetPort": "s3"}]}},
    ]


def s3_secret(name: str, namespace: str, store: Obj, secret_key: str) -> Obj:
    """What envSecretRefName names: rclone's remote `s3` (the modelUri's scheme) as RCLONE_CONFIG_S3_* variables."""
    return {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": name, "namespace": namespace},
            "stringData": {"RCLONE_CONFIG_S3_TYPE": "s3", "RCLONE_CONFIG_S3_PROVIDER": "Other",
                           "RCLONE_CONFIG_S3_ENV_AUTH": "false", "RCLONE_CONFIG_S3_ENDPOINT": store["endpoint"],
                           "RCLONE_CONFIG_S3_ACCESS_KEY_ID": store["access"],
                           "RCLONE_CONFIG_S3_SECRET_ACCESS_KEY": secret_key}}


@pytest.fixture(scope="module")
def model_store(kind: KindEnv, make_namespace: Callable[..., str]) -> Obj:
    kind.require("iris-model", "xgboostserver", "rclone-storage-initializer")
    namespace = make_namespace("kind-modelstore")
    access, secret = secrets.token_hex(8), secrets.token_hex(16)
    ks.apply(kind.kubectl, model_store_objects(namespace, access, secret))
    ks.rollout(kind.kubectl, namespace, "deployment/modelstore", 180)
    return {"endpoint": f"http://modelstore.{namespace}.svc.cluster.local:{STORE_PORT}", "access": access,
            "secret": secret, "namespace": namespace}


@pytest.fixture(scope="module")
def pvc_volume(kind: KindEnv) -> Iterator[str]:
    """A local PersistentVolume on the CPU worker holding iris/model.joblib (copied from the iris-model image
    into the node) and iris-explainer/ (an AnchorTabular explainer saved by the explainer image), for pvc://
    modelUris. Returns the PV's name; each test binds its own claim to it."""
    kind.require("iris-model", "alibi-explainer")
    node = kind.node_of_pool(CPU_POOL)
    name = f"msc-iris-models-{kind.token}"
    with anchor_explainer_dir() as saved:
        subprocess.run(["docker", "exec", node, "mkdir", "-p", MODEL_DIR], check=True)
        subprocess.run(["docker", "cp", saved, f"{node}:{MODEL_DIR}/iris-explainer"], check=True)
    with tempfile.TemporaryDirectory() as tmp:
        cid = subprocess.run(["docker", "create", ks.APP_IMAGES["iris-model"]], capture_output=True, text=True,
                             check=True).stdout.strip()
        try:
            subprocess.run(["docker", "cp", f"{cid}:/opt/component/model.joblib", f"{tmp}/model.joblib"], check=True)
        finally:
            subprocess.run(["docker", "rm", cid], capture_output=True)
        subprocess.run(["docker", "exec", node, "mkdir", "-p", f"{MODEL_DIR}/iris"], check=True)
        subprocess.run(["docker", "cp", f"{tmp}/model.joblib", f"{node}:{MODEL_DIR}/iris/model.joblib"], check=True)
        subprocess.run(["docker", "exec", node, "chmod", "-R", "a+rX", MODEL_DIR], check=True)
    ks.apply(kind.kubectl, [{
        "apiVersion": "v1", "kind": "PersistentVolume", "metadata": {"name": name},
        "spec": {"capacity": {"storage": "10Mi"}, "accessModes": ["ReadOnlyMany"], "storageClassName": "msc-local",
                 "persistentVolumeReclaimPolicy": "Retain", "local": {"path": MODEL_DIR},
                 "nodeAffinity": {"required": {"nodeSelectorTerms": [{"matchExpressions": [
                     {"key": "kubernetes.io/hostname", "operator": "In", "values": [node]}]}]}}}}])
    try:
        yield name
    finally:
        kind.kubectl("delete", "pv", name, "--wait=false", "--ignore-not-found", check=False)


def iris_values(model_uri: str, secret: str | None = None, scenario: str = "iris") -> Obj:
    """values/seldon-model/<scenario>.yaml with the model's URI (and envSecretRefName) replaced."""
    values = yaml.safe_load((VALUES / "seldon-model" / f"{scenario}.yaml").read_text())
    graph = values["predictors"][0]["graph"]
    graph["modelUri"] = model_uri
    if secret:
        graph["envSecretRefName"] = secret
    return values


def classes(answer: Obj) -> list[int]:
    rows = answer["data"]["ndarray"] if "ndarray" in answer["data"] else answer["data"]["tensor"]["values"]
    return [max(range(len(r)), key=r.__getitem__) for r in rows]


def assert_serves(kind: KindEnv, namespace: str, sdep: Obj) -> list[str]:
    """REST and gRPC through the executor: setosa and virginica get classes 0 and 2, and the request went through
    the graph's node. Returns lines for the report."""
    name, predictor = sdep["metadata"]["name"], sdep["spec"]["predictors"][0]
    host = f"{name}-{predictor['name']}.{namespace}.svc.cluster.local"
    node = predictor["graph"]["name"]
    rows = [SETOSA_CM, VIRGINICA_CM]
    rest = ks.call(kind.kubectl, namespace, [{"name": "rest", "url": f"http://{host}:8000/api/v1.0/predictions",
                                               "body": {"data": {"ndarray": rows}}, "retry": 60}])["rest"]
    body = ks.ok(rest, "REST prediction through the executor")
    assert classes(body) == [0, 2], body
    assert node in body["meta"]["requestPath"], body["meta"]
    grpc = ks.call_grpc(kind.kubectl, namespace, "seldon", f"{host}:5001", rows)
    assert classes(grpc) == [0, 2], grpc
    assert node in grpc["meta"]["requestPath"], grpc["meta"]
    return [f"REST {classes(body)} via {body['meta']['requestPath']}", f"gRPC {classes(grpc)}"]


@pytest.fixture(scope="module")
def served(kind: KindEnv, helm_cli: Helm, seldon_operator: str, model_store: Obj, pvc_volume: str,
           make_namespace: Callable[..., str]) -> Iterator[Obj]:
    """Every release of this module installed at once (their pods start side by side), in one restricted
    namespace with the Secrets, the claim and the client pods they need: SKLEARN_SERVER from S3, from the PVC and
    with a wrong key, and the v2 MLServer scenario. {namespace, sdeps: {name: SeldonDeployment}}."""
    kind.require("sklearnserver", "mlserver-iris", "iris-model", "helm-test-client", "rclone-storage-initializer",
                 "xgboostserver", "mlserver-xgboost")
    namespace = make_namespace("kind-serving")
    claim = {"apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": {"name": "iris-models", "namespace": namespace},
             "spec": {"accessModes": ["ReadOnlyMany"], "storageClassName": "msc-local", "volumeName": pvc_volume,
                      "resources": {"requests": {"storage": "10Mi"}}}}
    ks.apply(kind.kubectl, [s3_secret("models-s3", namespace, model_store, model_store["secret"]),
                            s3_secret("models-s3-wrong-key", namespace, model_store, "not-the-secret-key"), claim,
                            *ks.client_objects(namespace), *ks.grpc_client_objects(namespace, "seldon"),
                            *ks.grpc_client_objects(namespace, "v2")])
    # the explainer's image only where its pod runs (the GPU worker's taint keeps it off that one)
    worker = kind.node_of_pool(CPU_POOL)
    seconds = clusters.cluster("kind", kind.name).load([ks.APP_IMAGES["alibi-explainer"]], nodes=[worker])
    print(f"kind load {ks.APP_IMAGES['alibi-explainer']} into {worker}: {seconds:.0f}s")
    explained = iris_values("pvc://iris-models/iris")
    explained["predictors"][0]["explainer"] = {
        **yaml.safe_load((VALUES / "seldon-model" / "explainer.yaml").read_text())["predictors"][0]["explainer"],
        "modelUri": "pvc://iris-models/iris-explainer"}
    releases = {"s3": iris_values("s3://models/iris", "models-s3"), "pvc": iris_values("pvc://iris-models/iris"),
                "badkey": iris_values("s3://models/iris", "models-s3-wrong-key"),
                "v2": yaml.safe_load((VALUES / "seldon-model" / "v2-mlserver.yaml").read_text()),
                "xgboost": iris_values("s3://models/iris-xgboost", "models-s3", "xgboost"),
                "xgboost-v2": {**iris_values("s3://models/iris-xgboost", "models-s3", "xgboost"), "protocol": "v2"},
                "explainer": explained}
    sdeps = {name: install_model(kind, helm_cli, namespace, f"iris-{name}", values) for name, values in releases.items()}
    for name in ("s3", "pvc", "v2", "xgboost", "xgboost-v2", "explainer"):
        wait_available(kind, sdeps[name]["metadata"]["name"], namespace)
    for pod in (ks.CLIENT_NAME, ks.grpc_client_name("seldon"), ks.grpc_client_name("v2")):
        ks.wait_pod_ready(kind.kubectl, namespace, pod, 180)
    yield {"namespace": namespace, "sdeps": sdeps}
    kind.kubectl("delete", "namespace", namespace, "--wait=false", "--ignore-not-found", check=False)


@pytest.mark.parametrize("source", ["s3", "pvc"])
def test_sklearn_server_downloads_and_serves(kind: KindEnv, served: Obj, source: str) -> None:
    """modelUri s3://models/iris (credentials from the Secret envSecretRefName names) or pvc://iris-models/iris."""
    print("\n".join(assert_serves(kind, served["namespace"], served["sdeps"][source])))


def test_xgboost_server_downloads_and_serves(kind: KindEnv, served: Obj) -> None:
    """values/seldon-model/xgboost.yaml: XGBOOST_SERVER (seldon protocol) with model.bst from s3://models/iris-xgboost."""
    print("\n".join(assert_serves(kind, served["namespace"], served["sdeps"]["xgboost"])))


def test_wrong_credential_fails_with_a_message_a_user_can_act_on(kind: KindEnv, served: Obj) -> None:
    namespace, sdep = served["namespace"], served["sdeps"]["badkey"]
    initializer = f"{sdep['spec']['predictors'][0]['graph']['name']}-model-initializer"

    def failed_initializer() -> tuple[str, str] | None:
        pods = kind.kubectl.json("get", "pods", "-n", namespace, "-l", f"seldon-deployment-id={sdep['metadata']['name']}")
        for pod in pods["items"]:
            for status in pod.get("status", {}).get("initContainerStatuses", []):
                last = status.get("lastState", {}).get("terminated") or status.get("state", {}).get("terminated")
                if status["name"] == initializer and last and last.get("exitCode", 0) != 0:
                    return pod["metadata"]["name"], status["state"].get("waiting", {}).get("reason", "Error")
        return None
    pod, reason = wait_until(failed_initializer, 240, f"the storage initializer of {sdep['metadata']['name']} to fail")

    def failure_logged() -> str | None:
        """The failed run's log (--previous while it restarts, else the current one; either may be gone for a
        moment while the kubelet replaces the container)."""
        for args in (["--previous"], []):
            out = kind.kubectl("logs", pod, "-n", namespace, "-c", initializer, *args, check=False).stdout
            if "Failed to copy" in out:
                return out
        return None
    logs = wait_until(failure_logged, 120, f"the log of {initializer} to say why")
    assert "403" in logs, logs[-2000:]
    line = next(x for x in logs.splitlines() if "Failed to copy" in x)
    print(f"{pod}: init container {initializer} {reason}: {line[:300]}")
    state = kind.kubectl.json("get", "seldondeployment", sdep["metadata"]["name"], "-n", namespace).get("status", {})
    assert state.get("state") != "Available", state


@pytest.mark.parametrize("release", ["v2", "xgboost-v2"])
def test_v2_protocol_over_rest_and_grpc(kind: KindEnv, served: Obj, release: str) -> None:
    """values/seldon-model/v2-mlserver.yaml (protocol v2, MLServer serving the iris classifier) and
    values/seldon-model/xgboost.yaml with protocol v2 (the operator's MLServer XGBOOST_SERVER, model.bst from S3):
    the executor answers /v2/models/classifier/infer over REST and inference.GRPCInferenceService/ModelInfer over
    gRPC (grpcio with MLServer's own stubs), with the classes of two textbook flowers."""
    namespace, sdep = served["namespace"], served["sdeps"][release]
    host = f"{sdep['metadata']['name']}-default.{namespace}.svc.cluster.local"
    rows = [SETOSA_CM, VIRGINICA_CM]
    request = {"inputs": [{"name": "input-0", "shape": [2, 4], "datatype": "FP64", "data": sum(rows, [])}]}
    rest = ks.call(kind.kubectl, namespace, [{"name": "rest", "url": f"http://{host}:8000/v2/models/classifier/infer",
                                               "body": request, "retry": 60}])["rest"]
    out = ks.ok(rest, "v2 REST inference through the executor")["outputs"][0]
    assert out["data"] == [0, 2], out
    grpc = ks.call_grpc(kind.kubectl, namespace, "v2", f"{host}:5001", rows, model="classifier")
    assert grpc["outputs"][0]["data"] == [0, 2], grpc
    print(f"v2 REST {out['data']}, v2 gRPC {grpc['outputs'][0]['data']} (setosa, virginica)")


def test_explainer_answers_with_an_anchor(kind: KindEnv, served: Obj) -> None:
    """The operator's explainer Deployment (alibiexplainer, AnchorTabular saved on the PVC) explains a setosa
    flower through the model's executor: an anchor of at least 90% precision."""
    namespace, sdep = served["namespace"], served["sdeps"]["explainer"]
    url = (f"http://{sdep['metadata']['name']}-default-explainer.{namespace}.svc.cluster.local:9000"
           "/api/v1.0/explain")
    result = ks.call(kind.kubectl, namespace, [{"name": "explain", "url": url, "body": {"data": {"ndarray": [SETOSA_CM]}},
                                                 "retry": 120, "timeout": 120}], timeout=400)["explain"]
    body = ks.ok(result, "explanation")
    data = (body if isinstance(body, dict) else json.loads(body))["data"]
    assert data["anchor"] and data["precision"] >= 0.9, data
    print(f"explain {SETOSA_CM}: anchor {data['anchor']} precision {data['precision']:.2f} coverage {data['coverage']:.2f}")
