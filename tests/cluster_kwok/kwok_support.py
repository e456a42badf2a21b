"""What the cluster_kwok tests share: the session cluster's description, the values that let several
releases of one chart live in one cluster, and checks of what a release put into the API server."""
from __future__ import annotations

import json
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import pykube
import yaml

from harness import CHARTS, find, find_all, pod_specs, render
from harness.admission import NodeModel, admission_problems
from harness.cluster import Helm, Kubectl, deployment_for, key_of, lost_fields, wait_until

from msc.clusters import contract
from msc.clusters.kwok import KwokCluster as KwokControlPlane
from msc.proc import pid_alive

Obj = dict[str, Any]
POOL_LABEL = contract.POOL_LABEL
GPU = contract.GPU_RESOURCE
WORKLOAD_KINDS = ("Deployment", "DaemonSet", "StatefulSet")
# Node agents that cannot run restricted say so on their owner (tests/render/test_render_scenarios.py).
EXEMPT_ANNOTATION = "ml-serving-charts.io/pod-security"


@dataclass
class KwokEnv:
    kubeconfig: Path
    kubectl: Kubectl
    api: pykube.HTTPClient
    crds: list[str]
    nodes: dict[str, list[str]]          # pool -> node names, as the gpu-node-pool release made them
    token: str                           # makes this session's namespace names unique
    name: str                            # the kwok cluster's name (msc.clusters.kwok)

    def exited_components(self) -> list[str]:
        """Control-plane processes that are gone (kwokctl's binary runtime restarts none of them)."""
        return [c for c, pid in KwokControlPlane(self.name).pids().items() if not pid_alive(pid)]

    def pool_of(self, node: str) -> str:
        return next((pool for pool, names in self.nodes.items() if node in names), "")

    def node_models(self) -> list[NodeModel]:
        """The cluster's nodes as harness.admission sees them (labels, taints, allocatable)."""
        return [NodeModel(n.labels.get(POOL_LABEL, ""), dict(n.labels), n.obj["spec"].get("taints") or [],
                          n.obj["status"].get("allocatable") or {}, n.name)
                for n in pykube.Node.objects(self.api)]


# ------------------------------------------------------------------ several releases of a chart in one cluster

def _chart_defaults(chart: str) -> Obj:
    return yaml.safe_load((CHARTS / chart / "values.yaml").read_text())


def _own_names(chart: str, scenario: Obj, release: str) -> Obj:
    defaults = _chart_defaults(chart)
    if chart == "gpu-node-pool":
        classes = (scenario.get("priorityClasses") or {}).get("classes", defaults["priorityClasses"]["classes"])
        headroom = ((scenario.get("headroom") or {}).get("priorityClass") or {}).get(
            "name", defaults["headroom"]["priorityClass"]["name"])
        runtime = (scenario.get("runtimeClass") or {}).get("name", defaults["runtimeClass"]["name"])
        return {"priorityClasses": {"classes": [{**c, "name": f"{release}-{c['name']}"} for c in classes]},
                "headroom": {"priorityClass": {"name": f"{release}-{headroom}"}},
                "runtimeClass": {"name": f"{release}-{runtime}"},
                "simulated": {"nodeNamePrefix": f"{release}-"}}
    if chart == "seldon-operator":
        return {"crd": {"install": False}}
    if chart == "kserve-controller":
        # the session applied KServe's CRDs and every other fetched CRD (Istio's, KEDA's: the chart refuses to leave
        # out the rules for a kind the cluster has); the runtimes are cluster-scoped kserve-<name> objects that a
        # second release could not own (test_kwok_kserve_controller installs them)
        return {"crd": {"install": False},
                "rbac": {"integrations": {k: True for k in defaults["rbac"]["integrations"]}},
                "runtimes": {name: {"enabled": False} for name in defaults["runtimes"]}}
    if chart == "ml-platform":
        out: Obj = {sub: _own_names(sub, scenario.get(sub) or {}, release) for sub in ("gpu-node-pool", "seldon-operator")}
        namespaces = scenario.get("modelNamespaces", defaults.get("modelNamespaces")) or []
        out["modelNamespaces"] = [{**ns, "name": f"{release}-{ns['name']}"} for ns in namespaces]
        return out
    return {}


def coexistence_values(chart: str, values_file: Path | None, release: str) -> Obj:
    """Values (given after the scenario's) that let this release share the cluster with the session's own
    releases and with the other Helm's release of the same scenario, and change nothing else:
    - gpu-node-pool: its cluster-scoped names (PriorityClasses, RuntimeClass, fake Node names) get the
      release as a prefix; the session's `pools` release owns the plain ones.
    - seldon-operator: crd.install=false, as for a second operator release: the session applied the
      SeldonDeployment CRD first (the chart's CRD template is checked by a server-side dry run instead).
    - kserve-controller: the same for its CRDs, its RBAC for every integration, no cluster-scoped runtimes.
    - ml-platform: both of the above for its subcharts, and its model Namespaces prefixed too."""
    scenario = (yaml.safe_load(values_file.read_text()) if values_file else None) or {}
    return _own_names(chart, scenario, release)


# ------------------------------------------------------------------ what a release put into the server

def cluster_scoped_kinds(kubectl: Kubectl) -> set[str]:
    out = kubectl("api-resources", "--namespaced=false", "-o", "wide").stdout.splitlines()[1:]
    # columns: NAME SHORTNAMES APIVERSION NAMESPACED KIND VERBS ...: KIND follows "false"
    kinds = set()
    for line in out:
        cols = line.split()
        if "false" in cols:
            kinds.add(cols[cols.index("false") + 1])
    return kinds


def stored_objects(kubectl: Kubectl, objs: list[Obj], namespace: str,
                   cluster_scoped: set[str]) -> dict[tuple[str, str, str], Obj]:
    """The server's copy of each object (one `kubectl get -f -`); objects it does not have are absent."""
    sent = []
    for obj in objs:
        obj = {**obj, "metadata": dict(obj["metadata"])}
        if obj["kind"] not in cluster_scoped:
            obj["metadata"].setdefault("namespace", namespace)  # as Helm does for namespaced objects
        sent.append(obj)
    proc = kubectl("get", "-f", "-", "-o", "json", "--ignore-not-found", stdin=yaml.safe_dump_all(sent))
    text = proc.stdout.strip()
    if not text:
        return {}
    doc = json.loads(text)
    items = doc.get("items", [doc]) if doc.get("kind", "").endswith("List") else [doc]
    return {(i["kind"], i["metadata"].get("namespace", ""), i["metadata"]["name"]): i for i in items}


# Taints the node lifecycle controller adds and removes by itself (not-ready until kwok reports the node Ready).
CONTROLLER_TAINTS = ("node.kubernetes.io/", "node.cloudprovider.kubernetes.io/")


def without_controller_taints(node: Obj) -> Obj:
    taints = [t for t in (node.get("spec") or {}).get("taints") or [] if not t["key"].startswith(CONTROLLER_TAINTS)]
    return {**node, "spec": {**node.get("spec", {}), "taints": taints}}


def assert_release_stored(kubectl: Kubectl, helm: Helm, release: str, namespace: str,
                          cluster_scoped: set[str]) -> list[Obj]:
    """Every object of `helm get manifest` exists in the server with every field it was sent (a CRD schema
    silently pruning a field, or the server dropping one, fails here). Returns the manifest."""
    manifest = helm.manifest(release, namespace)
    assert manifest, f"release {release} has an empty manifest"
    stored = stored_objects(kubectl, manifest, namespace, cluster_scoped)
    missing, lost = [], []
    for obj in manifest:
        key = key_of(obj, namespace, cluster_scoped)
        if key not in stored:
            missing.append(key)
            continue
        if key[0] == "Node":
            stored[key] = without_controller_taints(stored[key])
        sent = {k: v for k, v in obj.items() if k not in ("apiVersion", "kind", "metadata", "status")}
        sent["metadata"] = {"labels": obj["metadata"].get("labels") or {}}
        lost += [f"{key[0]}/{key[2]}: {p}" for p in lost_fields(sent, stored[key])]
    assert not missing, f"{release}: objects of the manifest missing from the server: {missing}"
    assert not lost, f"{release}: the server did not keep these fields: {lost[:20]}"
    return manifest


# ------------------------------------------------------------------ pods

def workloads(objs: list[Obj]) -> list[Obj]:
    return [o for kind in WORKLOAD_KINDS for o in find_all(objs, kind)]


def is_exempt(owner: Obj) -> bool:
    return (owner["metadata"].get("annotations") or {}).get(EXEMPT_ANNOTATION) == "privileged"


def fits_some_node(spec: Obj, nodes: list[NodeModel]) -> bool:
    """The scheduler could place the pod on an empty node of the cluster (selectors, affinity, taints, size)."""
    return any(not admission_problems(spec, node) for node in nodes)


def selector_of(owner: Obj) -> dict[str, str]:
    return owner["spec"]["selector"]["matchLabels"]


def pods(api: pykube.HTTPClient, namespace: str, selector: dict[str, str]) -> list[pykube.Pod]:
    return list(pykube.Pod.objects(api).filter(namespace=namespace, selector=selector))


def pod_ready(pod: pykube.Pod) -> bool:
    return pod.obj.get("status", {}).get("phase") == "Running" and any(
        c["type"] == "Ready" and c["status"] == "True" for c in pod.obj["status"].get("conditions", []))


def events(api: pykube.HTTPClient, namespace: str, involved: str | None = None,
           reason: str | None = None) -> list[pykube.Event]:
    found = pykube.Event.objects(api).filter(namespace=namespace)
    return [e for e in found if (involved is None or e.obj["involvedObject"]["name"] == involved)
            and (reason is None or e.obj.get("reason") == reason)]


def wait_gone(check: Callable[[], Any], what: str, timeout: float = 60) -> None:
    """Wait until check() returns something empty (objects deleted, garbage collected)."""
    remaining: list[Any] = []

    def done() -> bool:
        remaining[:] = [check()]
        return not remaining[0]
    try:
        wait_until(done, timeout, what)
    except TimeoutError as err:
        raise AssertionError(f"{err}; still there: {remaining[0]}") from err


def model_deployment(values: Obj, name: str, namespace: str, replicas: int) -> Obj:
    """The first componentSpec of the seldon-model chart rendered with `values`, run as a Deployment (without the
    Seldon operator nothing turns it into pods): the model's pod exactly as the chart places it."""
    sd = find(render("seldon-model", values=values, release=name, namespace=namespace), "SeldonDeployment")
    component = sd["spec"]["predictors"][0]["componentSpecs"][0]
    return deployment_for(name, namespace, component["spec"], replicas, component["metadata"]["labels"])


PLACEHOLDER_IMAGE = "registry.invalid/filled-in-by-the-seldon-operator:0"


def unmanaged_pods(objs: list[Obj]) -> list[Obj]:
    """A Pod for each SeldonDeployment componentSpec and each bare Pod (helm tests) of a render: the pods no
    controller of ours creates on kwok (nothing turns componentSpecs into pods without the Seldon operator)."""
    out = []
    for owner, spec in pod_specs(objs):
        if owner["kind"] not in ("SeldonDeployment", "Pod"):
            continue
        spec = json.loads(json.dumps(spec))
        for container in spec.get("containers", []) + spec.get("initContainers", []):
            container.setdefault("image", PLACEHOLDER_IMAGE)  # a prepackaged server: the operator sets it
        name = f"{owner['metadata']['name'][:50]}-{len(out)}"
        out.append({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name}, "spec": spec})
    return out


def dry_run_pods(kubectl: Kubectl, namespace: str, pods: list[Obj]) -> subprocess.CompletedProcess[str]:
    """`kubectl create --dry-run=server`: the real admission chain (PodSecurity, ServiceAccount, Priority...)
    judges each pod; nothing is stored."""
    return kubectl("create", "--dry-run=server", "-n", namespace, "-f", "-", "-o", "name",
                   stdin=yaml.safe_dump_all(pods), check=False)
