"""The demo: the platform on a local kind cluster, a real Seldon inference graph, real predictions, a PromQL answer.

Usage: scripts/demo [--provider auto|kind|kwok] [--down]
  auto (default): kind when a Docker engine can run here, else the kwok tier (said so, never silently)
  --down: delete the kind cluster at the end (default: keep it for exploring; `scripts/cluster down --provider kind`)

kind: builds what is missing (the node image, the model images and the Seldon Core 1.17.1 operator and executor
from source, all cached by scripts/images), creates or reuses the cluster `msc`, installs prometheus-operator +
Prometheus (our images) and ml-platform with values/ml-platform/kind.yaml (the Seldon operator, the GPU pool,
monitoring and the restricted `models` namespace), then a seldon-model release whose graph is
TRANSFORMER -> ROUTER (RANDOM_ABTEST) -> two MODELs, and prints answers over REST and gRPC with the path each
request took through the graph, and a PromQL query of the executor's metrics.
kwok: a real control plane with fake nodes: installs the charts and shows the objects (no pods run)."""
from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from . import clusters, dockerd, toolchain
from . import stack as ks
from .clusters.contract import POOL_LABEL
from .crds import apply_crds
from .env import VALUES
from .images import seldon as seldon_images
from .images.apps import build_app_images
from .kube import Helm, Kubectl
from .proc import MscError, wait_until

PLATFORM_RELEASE, PLATFORM_NAMESPACE = "platform", "ml-platform"
MODELS_NAMESPACE = "models"                       # values/ml-platform/kind.yaml: restricted, GPU quota 1
GRAPH_RELEASE = "iris"
DEMO_IMAGES = ["iris-model", "iris-transformer", "helm-test-client", "prometheus", "prometheus-operator"]
ROUTER, CHILDREN = "ab-router", ("model-a", "model-b")


# seldon-model values: callers send millimetres, the transformer makes them the centimetres the models know, and
# Seldon's RANDOM_ABTEST router (in the executor) sends each request to one of two models (here the same model
# twice: the answer says which one served it).
DEMO_GRAPH = {"predictors": [{
    "name": "default",
    "graph": {"name": "transformer", "type": "TRANSFORMER",
              "parameters": [{"name": "input_unit", "type": "STRING", "value": "mm"}],
              "children": [{"name": ROUTER, "implementation": "RANDOM_ABTEST",
                            "parameters": [{"name": "ratioA", "type": "FLOAT", "value": 0.5}],
                            "children": [{"name": c, "type": "MODEL"} for c in CHILDREN]}]},
    "components": {"transformer": {"image": ks.component_image("iris-transformer")},
                   **{c: {"image": ks.component_image("iris-model")} for c in CHILDREN}}}]}
STARTED = time.monotonic()
STEPS: list[tuple[str, float]] = []


def scratch(name: str) -> Path:
    """A directory of the demo's own (kubectl's discovery cache, Helm's home), reused by the next run."""
    path = Path(tempfile.gettempdir()) / "msc-demo" / name
    path.mkdir(parents=True, exist_ok=True)
    return path


def say(msg: str) -> None:
    print(f"[demo] {msg}", flush=True)


class Step:
    """`with Step("what"):` prints the step, then its duration."""

    def __init__(self, what: str) -> None:
        self.what = what

    def __enter__(self) -> "Step":
        self.t0 = time.monotonic()
        say(f"--- {self.what}")
        return self

    def __exit__(self, *exc: object) -> None:
        took = time.monotonic() - self.t0
        STEPS.append((self.what, took))
        if exc[0] is None:
            say(f"    done in {took:.1f}s")


ENGINE = {"started": False}   # whether this run started the Docker engine (then the cluster's `down` stops it)


def docker_problem() -> str | None:
    """Why kind cannot run here, or None."""
    try:
        ENGINE["started"] = dockerd.ensure() == "started"
    except MscError as err:
        return str(err)
    probe = subprocess.run(["docker", "info", "--format", "{{.ServerVersion}}"], capture_output=True, text=True)
    return None if probe.returncode == 0 else (probe.stderr.strip() or "docker info failed")


# ------------------------------------------------------------------ kind

def kind_demo(down: bool) -> int:
    with Step("images: kind node, iris model + transformer (Seldon wrapper), test client, Prometheus, Seldon (cached)"):
        missing = [n for n in DEMO_IMAGES if not ks.docker_has(ks.APP_IMAGES[n])]
        if missing:
            say(f"building {', '.join(missing)} (scripts/images; cold builds take a while, then it is cached)")
            build_app_images(missing)
        if not ks.seldon_operator_available():
            say("building the Seldon Core 1.17.1 operator and executor from the verified source (scripts/images seldon)")
            seldon_images.build_all()
        say("all present: " + ", ".join([ks.APP_IMAGES[n] for n in DEMO_IMAGES] + list(ks.SELDON_OPERATOR_IMAGES)))
    with Step("kind cluster msc (scripts/cluster up --provider kind; builds the node image if missing)"):
        kind = clusters.cluster("kind", "msc")
        kubeconfig = kind.up()
        if ENGINE["started"]:   # the engine outlives this run with the cluster; `scripts/cluster down` stops both
            kind.write_state(dockerd_started=True)
        kubectl = Kubectl(kubeconfig, scratch("kubectl-cache"))
        for node in kubectl.json("get", "nodes")["items"]:
            labels = node["metadata"]["labels"]
            say(f"node {node['metadata']['name']:<20} pool={labels.get(POOL_LABEL, 'control-plane'):<14}"
                f" nvidia.com/gpu={node['status']['allocatable'].get('nvidia.com/gpu', '-')}")
    with Step("kind load docker-image (skips what the nodes already have)"):
        took = kind.load([ks.APP_IMAGES[n] for n in DEMO_IMAGES] + list(ks.SELDON_OPERATOR_IMAGES) + [ks.BUSYBOX_STANDIN])
        say(f"loaded in {took:.1f}s")
    with Step("prometheus-operator v0.85.0 + Prometheus v3.14.0 (our images) in namespace monitoring"):
        ks.install_prometheus_stack(kubectl, say=say)
    helm = Helm("helm4", scratch("helm-home"), kubeconfig, timeout="300s")
    with Step(f"helm upgrade --install {PLATFORM_RELEASE} charts/ml-platform -f values/ml-platform/kind.yaml"):
        say(f"the gpu-node-pool and seldon-operator helm tests run docker.io/library/busybox, which no registry "
            f"serves here: they get {ks.BUSYBOX_STANDIN} (local Debian image with sh, grep and curl)")
        standin = {"tests": {"image": ks.busybox_standin_values()}}
        helm.upgrade(PLATFORM_RELEASE, "ml-platform", PLATFORM_NAMESPACE, install=True, wait=True,
                     values_files=[VALUES / "ml-platform" / "kind.yaml"],
                     values={"gpu-node-pool": standin,
                             "seldon-operator": {**standin, **ks.seldon_crd_values(kubectl, PLATFORM_RELEASE,
                                                                                     PLATFORM_NAMESPACE)}},
                     extra=["--create-namespace"])
        ks.wait_seldon_webhook(kubectl, MODELS_NAMESPACE)
        ns = kubectl.json("get", "namespace", MODELS_NAMESPACE)["metadata"]["labels"]
        say(f"Seldon operator and webhook answering; namespace {MODELS_NAMESPACE}: pod-security enforce="
            f"{ns.get('pod-security.kubernetes.io/enforce')}, GPU quota "
            f"{kubectl('get', 'resourcequota', '-n', MODELS_NAMESPACE, '-o', 'jsonpath={.items[*].spec.hard}', check=False).stdout or '-'}")
    with Step(f"helm upgrade --install {GRAPH_RELEASE} charts/seldon-model: transformer -> {ROUTER} (RANDOM_ABTEST) "
              f"-> {' | '.join(CHILDREN)}"):
        helm.upgrade(GRAPH_RELEASE, "seldon-model", MODELS_NAMESPACE, install=True, values=DEMO_GRAPH)
        sdep = kubectl.json("get", "seldondeployments", "-n", MODELS_NAMESPACE, "-l",
                            f"app.kubernetes.io/instance={GRAPH_RELEASE}")["items"][0]["metadata"]["name"]
        wait_until(lambda: kubectl.json("get", "seldondeployment", sdep, "-n", MODELS_NAMESPACE)
                   .get("status", {}).get("state") == "Available", 300, f"SeldonDeployment {sdep} Available")
        for pod in kubectl.json("get", "pods", "-n", MODELS_NAMESPACE, "-l", f"seldon-deployment-id={sdep}")["items"]:
            say(f"pod {pod['metadata']['name']} on {pod['spec']['nodeName']}: containers "
                f"{', '.join(c['name'] for c in pod['spec']['containers'])} (seldon-container-engine: the executor)")
        ks.apply(kubectl, [*ks.client_objects(MODELS_NAMESPACE, "ml-serving-charts-demo"),
                           *ks.grpc_client_objects(MODELS_NAMESPACE, "seldon", "ml-serving-charts-demo")])
        for pod in (ks.CLIENT_NAME, ks.grpc_client_name("seldon")):
            ks.wait_pod_ready(kubectl, MODELS_NAMESPACE, pod, 180)
    with Step("predictions through the executor: REST /api/v1.0/predictions and gRPC seldon.protos.Seldon/Predict"):
        predict(kubectl, f"{sdep}-default.{MODELS_NAMESPACE}.svc.cluster.local")
    with Step("PromQL: the executor's request metrics, scraped through ml-monitoring's PodMonitor"):
        query_metrics(kubectl)
    with Step(f"helm test {GRAPH_RELEASE} and {PLATFORM_RELEASE}"):
        failed = 0
        for release, namespace in ((GRAPH_RELEASE, MODELS_NAMESPACE), (PLATFORM_RELEASE, PLATFORM_NAMESPACE)):
            proc = helm.run("test", release, "--namespace", namespace, "--logs", "--timeout", "240s", check=False,
                            timeout=300)
            for line in helm_test_lines(proc.stdout + proc.stderr):
                say(f"  {line}")
            say(f"helm test {release}: " + ("passed" if proc.returncode == 0 else f"FAILED (exit {proc.returncode})"))
            failed += proc.returncode != 0
    summary(kubeconfig)
    if down:
        with Step("scripts/cluster down --provider kind"):
            kind.down()
    return 1 if failed else 0


def helm_test_lines(output: str) -> list[str]:
    """Each test pod's phase and its log lines, from `helm test --logs` (the NOTES left out)."""
    out, logs = [], False
    for line in output.splitlines():
        if line.startswith("TEST SUITE:"):
            out.append(f"test pod {line.split(':', 1)[1].strip()}")
        elif line.startswith("Phase:"):
            out[-1] += f": {line.split(':', 1)[1].strip()}"
            if out[-1] in out[:-1]:   # a test's ServiceAccount, Role and RoleBinding share its Pod's name
                out.pop()
        elif line.startswith("POD LOGS:"):
            logs = True
            out.append(f"logs of {line.split(':', 1)[1].strip()}:")
        elif line.startswith("Error"):
            out.append(line)
        elif logs and line.strip():
            out.append(f"  {line.strip()[:160]}")
    return out


def predict(kubectl: Kubectl, host: str) -> None:
    """The three textbook flowers in millimetres, over REST and over gRPC: each answer's classes and the path it
    took (transformer, router, the model the router chose)."""
    ns = MODELS_NAMESPACE
    rows_mm = [[x * 10 for x in row] for row, _ in ks.IRIS_ROWS]
    wrong, served = [], []
    rest = ks.call(kubectl, ns, [{"name": f"r{i}", "url": f"http://{host}:8000/api/v1.0/predictions",
                                  "body": {"data": {"ndarray": [row]}}, "retry": 60} for i, row in enumerate(rows_mm)])
    for i, (row, want) in enumerate(ks.IRIS_ROWS):
        answer = ks.ok(rest[f"r{i}"], "REST prediction")
        got = ks.argmax_classes(ks.seldon_rows(answer))[0]
        path = answer["meta"]["requestPath"]
        served.append(next((c for c in CHILDREN if c in path), "?"))
        say(f"REST {rows_mm[i]} mm -> {got:<10} (expected {want}) via {' -> '.join(n for n in ('transformer', ROUTER, *CHILDREN) if n in path or n == ROUTER)}")
        wrong += [want] if got != want else []
    answer = ks.call_grpc(kubectl, ns, "seldon", f"{host}:5001", rows_mm)
    got = ks.argmax_classes(ks.seldon_rows(answer))
    say(f"gRPC Predict {len(rows_mm)} rows -> {got}; requestPath {answer['meta']['requestPath']}")
    wrong += [w for (_, w), g in zip(ks.IRIS_ROWS, got) if g != w]
    if wrong:
        raise SystemExit(f"[demo] FAILED: wrong classes for {wrong}")


def query_metrics(kubectl: Kubectl) -> None:
    ns = MODELS_NAMESPACE
    query = (f'sum by (deployment_name, predictor_name, method, code) '
             f'(seldon_api_executor_server_requests_seconds_count{{namespace="{ns}"}})')
    say(f"query: {query}")
    try:
        series = wait_until(lambda: ks.promql(kubectl, ns, query), 180, "the executor's series in Prometheus", interval=5)
    except TimeoutError as err:
        raise SystemExit(f"[demo] FAILED: {err}")
    for s in series:
        m = s["metric"]
        say(f"  requests{{deployment={m.get('deployment_name')}, predictor={m.get('predictor_name')}, "
            f"method={m.get('method')}, code={m.get('code')}}} = {s['value'][1]}")
    up = ks.promql(kubectl, ns, f'up{{namespace="{ns}"}}')
    say("targets: " + ", ".join(f"{s['metric'].get('pod')}:{s['metric'].get('container')} up={s['value'][1]}" for s in up))
    rules = ks.call(kubectl, ns, [{"name": "r", "url": f"{ks.PROMETHEUS_URL}/api/v1/rules"}])["r"]
    groups = ks.ok(rules, "rules")["data"]["groups"]
    say(f"rule groups loaded: {len(groups)} ({', '.join(sorted(g['name'] for g in groups))[:200]})")


def summary(kubeconfig: Path) -> None:
    say("--- timings: " + ", ".join(f"{what.split(' (')[0].split(':')[0]} {took:.0f}s" for what, took in STEPS))
    say(f"total {time.monotonic() - STARTED:.0f}s")
    say(f"explore: export KUBECONFIG={kubeconfig}; kubectl get pods -A; kubectl -n {MODELS_NAMESPACE} get pods -o wide")
    say("Prometheus: kubectl -n monitoring port-forward svc/prometheus-operated 9090  (HTTP API only, no web UI)")
    say("done with it: scripts/cluster down --provider kind")


# ------------------------------------------------------------------ kwok fallback

def kwok_demo() -> int:
    with Step("kwok cluster (scripts/cluster up --provider kwok: real control plane, fake nodes and pods)"):
        toolchain.ensure("kwok")
        kubeconfig = clusters.up("kwok", "msc-demo")
        kubectl = Kubectl(kubeconfig, scratch("kubectl-cache"))
        names = apply_crds(kubectl)
        say(f"{len(names)} CRDs established (Seldon, prometheus-operator, Karpenter, KEDA, Cluster API...)")
    helm = Helm("helm4", scratch("helm-home"), kubeconfig, timeout="180s")
    with Step("helm install ml-platform (values/ml-platform/kind.yaml) and seldon-model (values/seldon-model/transformer.yaml)"):
        say("kwok pods are simulated: the operator 'runs' but reconciles nothing and serves no webhook "
            "(webhook.failurePolicy=Ignore); the SeldonDeployment is stored, validated by its CRD schema")
        helm.upgrade(PLATFORM_RELEASE, "ml-platform", PLATFORM_NAMESPACE, install=True, wait=True,
                     values_files=[VALUES / "ml-platform" / "kind.yaml"], values={"seldon-operator": {"crd": {"install": False},   # apply_crds placed it
                                                   # fake pods: nothing serves the operator's webhook
                                                   "webhook": {"failurePolicy": "Ignore"}}},
                     extra=["--create-namespace"])
        helm.upgrade("iris", "seldon-model", MODELS_NAMESPACE, install=True,
                     values_files=[VALUES / "seldon-model" / "transformer.yaml"])
    with Step("what the API server holds (kwok pods are simulated: no predictions in this mode)"):
        for args in (["get", "nodes", "-L", POOL_LABEL],
                     ["get", "deploy,pods,svc", "-n", PLATFORM_NAMESPACE],
                     ["get", "seldondeployments,podmonitors,prometheusrules", "-A"]):
            say(f"kubectl {' '.join(args)}")
            for line in kubectl(*args, check=False).stdout.splitlines():
                say(f"  {line}")
    say(f"total {time.monotonic() - STARTED:.0f}s; done with it: scripts/cluster down --provider kwok --name msc-demo")
    return 0


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="scripts/demo", description=__doc__.split("\n\n")[0])
    parser.add_argument("--provider", choices=("auto", "kind", "kwok"), default="auto")
    parser.add_argument("--down", action="store_true", help="delete the kind cluster at the end")
    args = parser.parse_args(argv)
    provider = args.provider
    if provider in ("auto", "kind"):
        problem = docker_problem()
        if problem and provider == "kind":
            say(f"FAILED: kind needs a Docker engine, which cannot run here: {problem}")
            return 1
        if problem:
            say(f"Docker cannot run here ({problem}): falling back to the kwok tier (real API server, fake nodes; "
                "charts installed, no real pods, no predictions)")
            provider = "kwok"
        else:
            provider = "kind"
    say(f"provider {provider}")
    try:
        return kind_demo(args.down) if provider == "kind" else kwok_demo()
    except (MscError, AssertionError, TimeoutError) as err:
        say(f"FAILED: {err}")
        return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
