"""What the cluster_kind tier and scripts/demo install and call: our images loaded into kind, model servers run
as plain pods (labelled as Seldon's operator labels its pods), an in-cluster HTTP client, and a
prometheus-operator + Prometheus stack built from our own images.

No SeldonDeployment is reconciled here yet: the model servers are Deployments + Services made by this
module, which exercise the model images and the cluster network, not the operator's graph routing."""
from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable
from urllib.parse import quote

from .env import PINS
from .gomod import module_dir
from .images.apps import APP_IMAGES
from .images.core import docker_has
from .images.kind_node import netbase_image
from .images.seldon import SELDON_IMAGES
from .iris import CLASSES, FEATURES, IRIS_ROWS, argmax_classes, seldon_request, seldon_rows, v2_request, v2_rows
from .kube import Kubectl
from .proc import logger, wait_until

Obj = dict[str, Any]
__all__ = ["CLASSES", "FEATURES", "IRIS_ROWS", "argmax_classes", "seldon_request", "seldon_rows", "v2_request",
           "v2_rows"]   # the iris contract, for the callers of the stack

# ------------------------------------------------------------------ constants shared with the charts

SELDON_MANAGED_BY = {"app.kubernetes.io/managed-by": "seldon-core"}   # what ml-monitoring's PodMonitor selects
PROMETHEUS_RELEASE = "prometheus"      # the `release` label our Prometheus selects (ml-monitoring prometheus.release)
MONITORING_NAMESPACE = "monitoring"    # ml-monitoring's default tests.prometheusUrl: prometheus-operated.monitoring.svc
PROMETHEUS_URL = f"http://prometheus-operated.{MONITORING_NAMESPACE}.svc:9090"
FIELD_MANAGER = "msc-kind"               # server-side apply owner of what this tier applies
SELDON_OPERATOR_IMAGES = tuple(ref for _, _, ref in SELDON_IMAGES.values())   # operator, executor
SELDON_OPERATOR_MISSING = ("Seldon Core operator/executor 1.17.1 images not in Docker (needs "
                           + " and ".join(SELDON_OPERATOR_IMAGES) + "): `scripts/images seldon` builds them from the "
                           "verified source (scripts/test does, through `scripts/images all`)")

# Charts whose helm test runs docker.io/library/busybox (gpu-node-pool's catalog test: sh + grep) get this
# local Debian image instead, built with the kind node image: no registry serves busybox here.
BUSYBOX_STANDIN = netbase_image()


def busybox_standin_values() -> dict[str, str]:
    repository, tag = BUSYBOX_STANDIN.rsplit(":", 1)
    return {"registry": "", "repository": repository, "tag": tag}
RESTRICTED_NAMESPACE_LABELS = {f"pod-security.kubernetes.io/{m}": "restricted" for m in ("enforce", "warn", "audit")} | \
    {"pod-security.kubernetes.io/enforce-version": "latest"}


log = logger("kind")


# ------------------------------------------------------------------ images

def missing_images(names: Iterable[str]) -> dict[str, str]:
    """name -> why it is missing, for each of our images (APP_IMAGES keys) not in the local Docker engine."""
    return {n: f"image {APP_IMAGES[n]} not built: run scripts/images {n}" for n in names if not docker_has(APP_IMAGES[n])}


SELDON_NAMESPACE = "seldon-system"


def image_values(ref: str) -> dict[str, str]:
    """A chart's image.{registry,repository,tag} for a local image reference (no registry: kind has it loaded)."""
    repository, tag = ref.rsplit(":", 1)
    return {"registry": "", "repository": repository, "tag": tag, "pullPolicy": "IfNotPresent"}


def component_image(key: str) -> dict[str, str]:
    """seldon-model's components.<node>.image for one of our images (an APP_IMAGES key)."""
    repository, tag = APP_IMAGES[key].rsplit(":", 1)
    return {"repository": repository, "tag": tag}


def seldon_operator_available() -> bool:
    return all(docker_has(ref) for ref in SELDON_OPERATOR_IMAGES)


# ------------------------------------------------------------------ pods that look like Seldon's

RESTRICTED_POD = {"runAsNonRoot": True, "runAsUser": 65532, "runAsGroup": 65532,
                  "seccompProfile": {"type": "RuntimeDefault"}}
RESTRICTED_CONTAINER = {"allowPrivilegeEscalation": False, "readOnlyRootFilesystem": True,
                        "capabilities": {"drop": ["ALL"]}, "runAsNonRoot": True}


@dataclass(frozen=True)
class Server:
    """A model server pod + Service: `image` is an APP_IMAGES key; ports are named http and metrics."""
    name: str
    image: str
    http_port: int
    metrics_port: int
    ready_path: str
    env: dict[str, str] = field(default_factory=dict)
    memory: str = "512Mi"

    def url(self, namespace: str, path: str = "") -> str:
        return f"http://{self.name}.{namespace}.svc:{self.http_port}{path}"


def seldon_env(name: str, service_type: str, parameters: list[Obj] | None = None) -> dict[str, str]:
    """What Seldon's operator puts into a python-wrapper container (it labels the wrapper's metrics)."""
    return {"PREDICTIVE_UNIT_ID": name, "PREDICTOR_ID": "default", "SELDON_DEPLOYMENT_ID": "iris-kind",
            "PREDICTIVE_UNIT_SERVICE_PORT": "9000", "PREDICTIVE_UNIT_METRICS_SERVICE_PORT": "6000",
            "PREDICTIVE_UNIT_METRICS_ENDPOINT": "/prometheus", "PREDICTIVE_UNIT_PARAMETERS": json.dumps(parameters or []),
            "SERVICE_TYPE": service_type}


SERVERS = {s.name: s for s in (
    Server("iris", "iris-model", 9000, 6000, "/health/ping", seldon_env("iris", "MODEL")),
    Server("iris-b", "iris-model", 9000, 6000, "/health/ping", seldon_env("iris-b", "MODEL")),
    # callers send millimetres: the transformer's conversion is visible in the model's answer
    Server("iris-transformer", "iris-transformer", 9000, 6000, "/health/ping",
           seldon_env("iris-transformer", "TRANSFORMER", [{"name": "input_unit", "type": "STRING", "value": "mm"}])),
    Server("iris-combiner", "iris-combiner", 9000, 6000, "/health/ping", seldon_env("iris-combiner", "COMBINER")),
    Server("mlserver-iris", "mlserver-iris", 8080, 8082, "/v2/health/ready", {}, memory="768Mi"),
)}
CLIENT_NAME = "kind-client"


def labels(name: str, part_of: str) -> dict[str, str]:
    return {"app.kubernetes.io/name": name, "app.kubernetes.io/part-of": part_of, **SELDON_MANAGED_BY}


def server_objects(server: Server, namespace: str, part_of: str = "ml-serving-charts-kind") -> list[Obj]:
    """A Deployment and Service for one model server, restricted PSS, requests and limits, probes."""
    lab = labels(server.name, part_of)
    selector = {"app.kubernetes.io/name": server.name, "app.kubernetes.io/part-of": part_of}
    container = {
        "name": server.name, "image": APP_IMAGES[server.image], "imagePullPolicy": "IfNotPresent",
        "env": [{"name": k, "value": v} for k, v in server.env.items()],
        "ports": [{"name": "http", "containerPort": server.http_port},
                  {"name": "metrics", "containerPort": server.metrics_port}],
        "readinessProbe": {"httpGet": {"path": server.ready_path, "port": "http"}, "periodSeconds": 2,
                           "failureThreshold": 3},
        "livenessProbe": {"tcpSocket": {"port": "http"}, "initialDelaySeconds": 60, "periodSeconds": 10},
        "resources": {"requests": {"cpu": "50m", "memory": "128Mi"},
                      "limits": {"cpu": "1", "memory": server.memory}},
        "securityContext": RESTRICTED_CONTAINER,
        "volumeMounts": [{"name": "tmp", "mountPath": "/tmp"}],
    }
    deployment = {
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": server.name, "namespace": namespace, "labels": lab},
        "spec": {"replicas": 1, "selector": {"matchLabels": selector},
                 "template": {"metadata": {"labels": lab},
                              "spec": {"automountServiceAccountToken": False, "securityContext": RESTRICTED_POD,
                                       "terminationGracePeriodSeconds": 5, "containers": [container],
                                       "volumes": [{"name": "tmp", "emptyDir": {}}]}}}}
    service = {
        "apiVersion": "v1", "kind": "Service",
        "metadata": {"name": server.name, "namespace": namespace, "labels": lab},
        "spec": {"selector": selector, "ports": [{"name": "http", "port": server.http_port, "targetPort": "http"},
                                                 {"name": "metrics", "port": server.metrics_port, "targetPort": "metrics"}]}}
    return [deployment, service]


def client_objects(namespace: str, part_of: str = "ml-serving-charts-kind") -> list[Obj]:
    """A long-running pod of the helm-test-client image (python3, stdlib, no shell) to `kubectl exec` into."""
    lab = {"app.kubernetes.io/name": CLIENT_NAME, "app.kubernetes.io/part-of": part_of}
    return [{
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": CLIENT_NAME, "namespace": namespace, "labels": lab},
        "spec": {"automountServiceAccountToken": False, "securityContext": RESTRICTED_POD,
                 "terminationGracePeriodSeconds": 1,
                 "containers": [{"name": "client", "image": APP_IMAGES["helm-test-client"],
                                 "imagePullPolicy": "IfNotPresent",
                                 "command": ["python3", "-c", "import time\nwhile True: time.sleep(3600)"],
                                 "resources": {"requests": {"cpu": "10m", "memory": "32Mi"},
                                               "limits": {"cpu": "500m", "memory": "128Mi"}},
                                 "securityContext": RESTRICTED_CONTAINER}]}}]


def apply(kubectl: Kubectl, objs: list[Obj]) -> None:
    kubectl.apply(objs, field_manager=FIELD_MANAGER)


def deploy(kubectl: Kubectl, namespace: str, servers: Iterable[Server], with_client: bool = True,
           part_of: str = "ml-serving-charts-kind", timeout: float = 300) -> None:
    """Apply the servers (and the client pod), then wait until every one is Ready."""
    servers = list(servers)
    objs = [o for s in servers for o in server_objects(s, namespace, part_of)]
    if with_client:
        objs += client_objects(namespace, part_of)
    apply(kubectl, objs)
    for server in servers:
        rollout(kubectl, namespace, f"deployment/{server.name}", timeout)
    if with_client:
        wait_pod_ready(kubectl, namespace, CLIENT_NAME, timeout)


def rollout(kubectl: Kubectl, namespace: str, ref: str, timeout: float) -> None:
    proc = kubectl("rollout", "status", ref, "-n", namespace, f"--timeout={int(timeout)}s", check=False,
                   timeout=timeout + 30)
    if proc.returncode != 0:
        raise AssertionError(f"{ref} in {namespace} not ready in {timeout:.0f}s:\n{proc.stderr.strip()}\n"
                             f"{describe_pods(kubectl, namespace, ref.split('/', 1)[1])}")


def wait_pod_ready(kubectl: Kubectl, namespace: str, pod: str, timeout: float) -> None:
    proc = kubectl("wait", "--for=condition=Ready", f"pod/{pod}", "-n", namespace, f"--timeout={int(timeout)}s",
                   check=False, timeout=timeout + 30)
    if proc.returncode != 0:
        raise AssertionError(f"pod {pod} in {namespace} not Ready in {timeout:.0f}s: {proc.stderr.strip()}\n"
                             f"{describe_pods(kubectl, namespace, pod)}")


def describe_pods(kubectl: Kubectl, namespace: str, name: str) -> str:
    """Why pods are not Ready: each pod's phase, waiting reasons and its last log lines."""
    proc = kubectl("get", "pods", "-n", namespace, "-l", f"app.kubernetes.io/name={name}", "-o", "json", check=False)
    pods = json.loads(proc.stdout)["items"] if proc.returncode == 0 else []
    if not pods:
        proc = kubectl("get", "pod", name, "-n", namespace, "-o", "json", check=False)
        pods = [json.loads(proc.stdout)] if proc.returncode == 0 else []
    out = []
    for pod in pods:
        st = pod.get("status", {})
        waits = [f"{c['name']}: {next(iter(c.get('state', {})), '?')} {json.dumps(next(iter(c.get('state', {}).values()), {}))[:200]}"
                 for c in st.get("containerStatuses", [])]
        logs = kubectl("logs", pod["metadata"]["name"], "-n", namespace, "--tail=15", "--all-containers", check=False)
        out.append(f"pod {pod['metadata']['name']}: {st.get('phase')} on {pod['spec'].get('nodeName')}; "
                   f"{'; '.join(waits)}\n{(logs.stdout or logs.stderr)[-1500:]}")
    return "\n".join(out) or f"(no pods for {name})"


# ------------------------------------------------------------------ calls from inside the cluster

CLIENT_PROGRAM = Path(__file__).with_name("http_calls.py")


def call(kubectl: Kubectl, namespace: str, plan: list[Obj], timeout: float = 120) -> dict[str, Obj]:
    """Run HTTP steps from the client pod (cluster DNS + pod network): [{name, url, body?, retry?}] ->
    {name: {status, body, url}} (msc/http_calls.py)."""
    proc = kubectl("exec", CLIENT_NAME, "-n", namespace, "-c", "client", "--", "python3", "-c",
                   CLIENT_PROGRAM.read_text(), json.dumps(plan), timeout=timeout)
    return json.loads(proc.stdout)


GRPC_PROGRAM = Path(__file__).with_name("grpc_calls.py")
# the image a gRPC client pod runs for each protocol (it has grpcio and that protocol's stubs), and its python
GRPC_CLIENT_IMAGES = {"seldon": ("iris-model", "/opt/seldon/bin/python"), "v2": ("mlserver-iris", "/opt/mlserver/bin/python")}


def grpc_client_name(protocol: str) -> str:
    return f"grpc-client-{protocol}"


def grpc_client_objects(namespace: str, protocol: str, part_of: str = "ml-serving-charts-kind") -> list[Obj]:
    """A long-running pod to `kubectl exec` gRPC calls from (msc/grpc_calls.py), restricted like every pod here."""
    image, python = GRPC_CLIENT_IMAGES[protocol]
    lab = {"app.kubernetes.io/name": grpc_client_name(protocol), "app.kubernetes.io/part-of": part_of}
    return [{
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": grpc_client_name(protocol), "namespace": namespace, "labels": lab},
        "spec": {"automountServiceAccountToken": False, "securityContext": RESTRICTED_POD,
                 "terminationGracePeriodSeconds": 1,
                 "containers": [{"name": "client", "image": APP_IMAGES[image], "imagePullPolicy": "IfNotPresent",
                                 "command": [python, "-c", "import time\nwhile True: time.sleep(3600)"],
                                 "env": [{"name": "HOME", "value": "/tmp"}],
                                 "volumeMounts": [{"name": "tmp", "mountPath": "/tmp"}],
                                 "resources": {"requests": {"cpu": "10m", "memory": "64Mi"},
                                               "limits": {"cpu": "500m", "memory": "256Mi"}},
                                 "securityContext": RESTRICTED_CONTAINER}],
                 "volumes": [{"name": "tmp", "emptyDir": {}}]}}]


def call_grpc(kubectl: Kubectl, namespace: str, protocol: str, target: str, rows: list[list[float]],
              model: str = "", timeout: float = 120) -> Obj:
    """One gRPC prediction from the grpc client pod (grpc_client_objects(namespace, protocol)); the answer as JSON."""
    python = GRPC_CLIENT_IMAGES[protocol][1]
    proc = kubectl("exec", grpc_client_name(protocol), "-n", namespace, "-c", "client", "--", python, "-c", GRPC_PROGRAM.read_text(),
                   protocol, target, model or "-", json.dumps(rows), timeout=timeout)
    return json.loads(proc.stdout)


SELDON_CRD = "seldondeployments.machinelearning.seldon.io"


def seldon_crd_values(kubectl: Kubectl, release: str, namespace: str) -> dict:
    """seldon-operator values for a release on a cluster that may already have the SeldonDeployment CRD from
    another release (the tests' and the demo's operators on a reused cluster): a CRD has one owning release, so
    this one then leaves it alone (crd.install=false)."""
    proc = kubectl("get", "crd", SELDON_CRD, "-o", "json", check=False)
    if proc.returncode != 0:
        return {}
    notes = json.loads(proc.stdout)["metadata"].get("annotations", {})
    owner = (notes.get("meta.helm.sh/release-name"), notes.get("meta.helm.sh/release-namespace"))
    return {} if owner == (release, namespace) else {"crd": {"install": False}}


def wait_seldon_webhook(kubectl: Kubectl, namespace: str, timeout: float = 180) -> None:
    """Until the API server reaches the Seldon webhook (a Ready operator pod is not enough): a server-side dry run
    of a SeldonDeployment succeeds."""
    probe = {"apiVersion": "machinelearning.seldon.io/v1", "kind": "SeldonDeployment",
             "metadata": {"name": "webhook-probe", "namespace": namespace},
             "spec": {"predictors": [{"name": "p", "graph": {"name": "m", "implementation": "SKLEARN_SERVER",
                                                            "modelUri": "gs://probe"}}]}}
    wait_until(lambda: kubectl("create", "--dry-run=server", "-f", "-", stdin=json.dumps(probe), check=False).returncode == 0,
               timeout, "the Seldon webhook to answer the API server")


def ok(result: Obj, what: str) -> Obj:
    assert result["status"] == 200, f"{what}: {result['url']} answered HTTP {result['status']}: {str(result['body'])[:800]}"
    return result["body"]


def promql(kubectl: Kubectl, namespace: str, query: str, url: str = PROMETHEUS_URL) -> list[Obj]:
    """An instant query from the client pod; returns data.result."""
    res = call(kubectl, namespace, [{"name": "q", "url": f"{url}/api/v1/query?query={quote(query)}", "retry": 30}])["q"]
    body = ok(res, f"PromQL {query}")
    assert body.get("status") == "success", body
    return body["data"]["result"]


# ------------------------------------------------------------------ prometheus-operator + Prometheus

def prometheus_operator_module() -> Path:
    """The prometheus-operator Go module at the pinned CRD version (example/ holds its CRDs and RBAC)."""
    pin = PINS["crds"]["prometheus-operator"]
    return module_dir(pin["module"], pin["version"])


def prometheus_operator_objects(kubectl: Kubectl, module: Path, namespace: str = MONITORING_NAMESPACE) -> list[Obj]:
    """Upstream's example/rbac/prometheus-operator (ServiceAccount, ClusterRole, binding, Deployment) put into
    `namespace`, with our operator image (which also carries the config reloader) and without the kubelet
    Service sync (nothing here scrapes kubelets)."""
    rbac = module / "example" / "rbac" / "prometheus-operator"
    objs = kubectl.read_manifests(*(rbac / f"prometheus-operator-{name}.yaml" for name in
                                    ("service-account", "cluster-role", "cluster-role-binding", "deployment")))
    image = APP_IMAGES["prometheus-operator"]
    for obj in objs:
        if obj["kind"] in ("ServiceAccount", "Deployment"):
            obj["metadata"]["namespace"] = namespace
        for subject in obj.get("subjects", []):
            subject["namespace"] = namespace
        if obj["kind"] == "Deployment":
            pod = obj["spec"]["template"]["spec"]
            container = pod["containers"][0]
            container["image"] = image
            container["imagePullPolicy"] = "IfNotPresent"
            container["args"] = [f"--prometheus-config-reloader={image}",
                                 *(a for a in container["args"] if not a.startswith(("--kubelet", "--prometheus-config-reloader")))]
            container["securityContext"] = {**container.get("securityContext", {}), **RESTRICTED_CONTAINER}
            container["readinessProbe"] = {"httpGet": {"path": "/healthz", "port": "http"}, "periodSeconds": 5}
            pod["securityContext"] = RESTRICTED_POD
    return objs


def prometheus_objects(kubectl: Kubectl, module: Path, namespace: str = MONITORING_NAMESPACE,
                       release: str = PROMETHEUS_RELEASE) -> list[Obj]:
    """Upstream's example/rbac/prometheus ServiceAccount/ClusterRole/binding and our own Prometheus CR: our
    prometheus image, 10 s scrape and evaluation, monitors and rules labelled release=<release> from any
    namespace (as kube-prometheus-stack's Prometheus selects its release's)."""
    rbac = module / "example" / "rbac" / "prometheus"
    objs = kubectl.read_manifests(*(rbac / f"prometheus-{name}.yaml" for name in
                                    ("service-account", "cluster-role", "cluster-role-binding")))
    for obj in objs:
        if obj["kind"] == "ServiceAccount":
            obj["metadata"]["namespace"] = namespace
        for subject in obj.get("subjects", []):
            subject["namespace"] = namespace
    selector = {"matchLabels": {"release": release}}
    version = APP_IMAGES["prometheus"].rsplit(":", 1)[1]
    objs.append({
        "apiVersion": "monitoring.coreos.com/v1", "kind": "Prometheus",
        "metadata": {"name": "prometheus", "namespace": namespace},
        "spec": {"image": APP_IMAGES["prometheus"], "version": version, "replicas": 1,
                 "serviceAccountName": "prometheus", "scrapeInterval": "10s", "evaluationInterval": "10s",
                 "podMonitorSelector": selector, "podMonitorNamespaceSelector": {},
                 "serviceMonitorSelector": selector, "serviceMonitorNamespaceSelector": {},
                 "ruleSelector": selector, "ruleNamespaceSelector": {},
                 "probeSelector": selector, "scrapeConfigSelector": selector,
                 "securityContext": {**RESTRICTED_POD, "fsGroup": 65532},
                 "resources": {"requests": {"cpu": "100m", "memory": "256Mi"}, "limits": {"cpu": "1", "memory": "1Gi"}}}})
    return objs


def install_prometheus_stack(kubectl: Kubectl, namespace: str = MONITORING_NAMESPACE, timeout: float = 300,
                             say: Callable[[str], None] = log) -> dict[str, float]:
    """Every monitoring.coreos.com CRD of the pinned operator, the operator, then a Prometheus; waits until
    Prometheus answers /-/ready. Idempotent (server-side apply). Returns the seconds of each step."""
    times: dict[str, float] = {}
    module = prometheus_operator_module()
    t0 = time.monotonic()
    crds = sorted((module / "example" / "prometheus-operator-crd").glob("monitoring.coreos.com_*.yaml"))
    # kubectl reads the files itself: PyYAML cannot load some of them (enum values like `- =`)
    kubectl("apply", "--server-side", "--force-conflicts", f"--field-manager={FIELD_MANAGER}",
            *(a for crd in crds for a in ("-f", str(crd))), timeout=180)
    names = [f"customresourcedefinition/{c.name.split('_', 1)[1].removesuffix('.yaml')}.monitoring.coreos.com"
             for c in crds]
    kubectl("wait", "--for=condition=Established", "--timeout=120s", *names, timeout=150)
    times["crds"] = time.monotonic() - t0
    say(f"{len(crds)} monitoring.coreos.com CRDs of prometheus-operator "
        f"{PINS['crds']['prometheus-operator']['version']} established ({times['crds']:.1f}s)")
    t0 = time.monotonic()
    apply(kubectl, [{"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace}}])
    apply(kubectl, prometheus_operator_objects(kubectl, module, namespace))
    rollout(kubectl, namespace, "deployment/prometheus-operator", timeout)
    times["operator"] = time.monotonic() - t0
    say(f"prometheus-operator ({APP_IMAGES['prometheus-operator']}) ready in {namespace} ({times['operator']:.1f}s)")
    t0 = time.monotonic()
    apply(kubectl, prometheus_objects(kubectl, module, namespace))
    try:
        wait_until(lambda: kubectl("get", "statefulset", "prometheus-prometheus", "-n", namespace,
                                   check=False).returncode == 0, timeout, "StatefulSet prometheus-prometheus", interval=2)
    except TimeoutError as err:
        raise AssertionError("the operator made no StatefulSet prometheus-prometheus:\n"
                             + kubectl("logs", "deployment/prometheus-operator", "-n", namespace, "--tail=30",
                                       check=False).stdout) from err
    rollout(kubectl, namespace, "statefulset/prometheus-prometheus", timeout)
    times["prometheus"] = time.monotonic() - t0
    say(f"Prometheus ({APP_IMAGES['prometheus']}) ready: {PROMETHEUS_URL} ({times['prometheus']:.1f}s)")
    return times
