"""The Seldon operator at work on a real control plane: every seldon-model scenario installed with Helm becomes
the Deployments, Services, HPAs, ScaledObjects and PDBs the operator makes, their pods run (on kwok) in a
namespace that enforces the `restricted` Pod Security Standard, and each SeldonDeployment reports state
Available. The operator's own validating webhook, registered by the seldon-operator chart (failurePolicy Fail,
its Helm-made certificate), is called by the API server: it admits every scenario and refuses invalid specs
with the operator's own messages.

The manager is the Seldon Core 1.17.1 one built from the verified source, run as a local process for the
release's Deployment (seldon_manager.py says how, and how the API server reaches its webhook). Nothing fakes
the operator. It authenticates as the release's ServiceAccount (a TokenRequest token), so every scenario below
also proves the chart's least-privilege RBAC: nothing the manager does is forbidden (its log says so), yet it
cannot list or watch a Secret; with leader election as the chart's default, its lock rules are proved too."""
from __future__ import annotations

import copy
import json
import re
from typing import Any, Callable, Iterator

import pykube
import pytest
from pytest_helm_charts.k8s.deployment import wait_for_deployments_to_run

from harness import find, render, require_built, scenarios, validate_objects
from harness.cluster import TEST_NAMESPACE_LABEL, Helm, wait_until
from kwok_support import KwokEnv, pod_ready, pods
from msc.clusters.kwok import KwokCluster
from seldon_manager import (MANAGER, ROUTING_FLAG, SELDON_OPERATOR_MISSING, Manager, apiserver_routes_to_endpoints,
                            can_fake_pod_namespace, route_webhook, run_manager, service_account_kubeconfig)

pytestmark = pytest.mark.cluster_kwok
SCENARIOS = scenarios("seldon-model")
Obj = dict[str, Any]
WEBHOOK = "v1.vseldondeployment.kb.io"
# Leader election stays on (the chart's default) where the manager can be given its pod namespace.
LEADER_ELECTION = can_fake_pod_namespace()
OPERATOR_VALUES = {"crd": {"install": False}, "leaderElection": {"enabled": LEADER_ELECTION},
                   # KEDA's and Istio's CRDs are in the cluster (the session applies every fetched CRD): kedaSpec
                   # works, and the operator makes a VirtualService and DestinationRules for every graph
                   "keda": {"enabled": True}, "istio": {"enabled": True}}
LOCK = "a33bd623.machinelearning.seldon.io"     # upstream's leader-election id, the chart's default


@pytest.fixture(scope="module")
def operator(kwok: KwokEnv, helms: dict[str, Helm], tmp_path_factory: pytest.TempPathFactory) -> Iterator[Manager]:
    """The seldon-operator chart installed with its defaults for the webhook (failurePolicy Fail) and RBAC, and
    the real manager serving that webhook as the release's ServiceAccount, for the whole module."""
    require_built(MANAGER.exists(), SELDON_OPERATOR_MISSING)
    if not apiserver_routes_to_endpoints(KwokCluster(kwok.name)):
        pytest.fail(f"the kwok cluster's kube-apiserver runs without {ROUTING_FLAG} (a cluster kept from before "
                    f"msc.clusters.kwok set it): `scripts/cluster down --provider kwok --name {kwok.name}` and run again")
    helm = helms["helm4"]
    ns = f"seldon-system-{kwok.token}"
    pykube.Namespace(kwok.api, {"apiVersion": "v1", "kind": "Namespace",
                                "metadata": {"name": ns, "labels": {TEST_NAMESPACE_LABEL: "cluster-kwok"}}}).create()
    release = "seldon"
    helm.install(release, "seldon-operator", ns, values=OPERATOR_VALUES, wait=True)
    try:
        objs = helm.manifest(release, ns)
        webhook = find(objs, "ValidatingWebhookConfiguration")["webhooks"][0]
        assert webhook["failurePolicy"] == "Fail" and "service" in webhook["clientConfig"], webhook
        workdir = tmp_path_factory.mktemp("seldon-manager")
        account = find(objs, "ServiceAccount")["metadata"]["name"]
        kubeconfig = service_account_kubeconfig(kwok.kubectl, ns, account, workdir / "kubeconfig")
        with run_manager(kubeconfig, objs, ns, workdir, leader_election=LEADER_ELECTION) as manager:
            manager.user = f"system:serviceaccount:{ns}:{account}"
            route_webhook(kwok.kubectl, objs, manager)
            try:
                yield manager
            finally:
                # The webhook goes before its server does: nothing is refused for want of it afterwards.
                helm.uninstall(release, ns, wait=False, check=False)
    finally:
        helm.uninstall(release, ns, wait=False, check=False)
        kwok.kubectl("delete", "namespace", ns, "--wait=false", check=False)


def _available(kwok: KwokEnv, name: str, ns: str) -> Callable[[], Obj | None]:
    def check() -> Obj | None:
        state = kwok.kubectl.json("get", "seldondeployment", name, "-n", ns)
        return state if state.get("status", {}).get("state") == "Available" else None
    return check


def _owned_by(kwok: KwokEnv, kind: str, ns: str, uid: str) -> list[str]:
    items = kwok.kubectl.json("get", kind, "-n", ns)["items"]
    return sorted(i["metadata"]["name"] for i in items
                  if any(ref["uid"] == uid for ref in i["metadata"].get("ownerReferences", [])))


def _expected(sd: Obj) -> dict[str, int]:
    """What the operator makes for a SeldonDeployment: a Deployment per componentSpec (one for a predictor
    without any, which runs its prepackaged server) plus one per explainer, and an HPA, ScaledObject or PDB for
    each componentSpec that asks for one."""
    out = {"deployments": 0, "horizontalpodautoscalers": 0, "scaledobjects.keda.sh": 0, "poddisruptionbudgets": 0}
    for predictor in sd["spec"]["predictors"]:
        specs = predictor.get("componentSpecs") or []
        out["deployments"] += max(1, len(specs)) + (1 if (predictor.get("explainer") or {}).get("type") else 0)
        for spec in specs:
            out["horizontalpodautoscalers"] += 1 if spec.get("hpaSpec") else 0
            out["scaledobjects.keda.sh"] += 1 if spec.get("kedaSpec") else 0
            out["poddisruptionbudgets"] += 1 if spec.get("pdbSpec") else 0
    return out


@pytest.mark.parametrize("scenario", list(SCENARIOS))
def test_operator_turns_every_scenario_into_running_deployments(kwok: KwokEnv, operator: Manager,
                                                                helms: dict[str, Helm], namespace: Callable[..., str],
                                                                restricted_labels: dict[str, str],
                                                                scenario: str) -> None:
    helm = helms["helm4"]
    release = re.sub(r"[^a-z0-9-]", "-", scenario)
    ns = namespace(f"op-models-{release}", restricted_labels)
    helm.install(release, "seldon-model", ns, values_files=[SCENARIOS[scenario]])   # admitted by the webhook
    sd = find(helm.manifest(release, ns), "SeldonDeployment")
    name = sd["metadata"]["name"]
    try:
        stored = wait_until(_available(kwok, name, ns), 180, f"SeldonDeployment {name} to be Available",
                            detail=lambda: f"manager log:\n{operator.log_tail(15)}")
        status, uid = stored["status"], stored["metadata"]["uid"]
        deployments = sorted(status.get("deploymentStatus", {}))
        want = _expected(stored)
        made = {kind: _owned_by(kwok, kind, ns, uid) for kind in want}
        assert {k: len(v) for k, v in made.items()} == want, made
        assert deployments == made["deployments"], (deployments, made["deployments"])
        wait_for_deployments_to_run(kwok.api, deployments, ns, timeout_sec=60)
        services = set(_owned_by(kwok, "services", ns, uid))
        for predictor in stored["spec"]["predictors"]:
            assert f"{name}-{predictor['name']}" in services, (predictor["name"], services)
        assert set(status.get("serviceStatus", {})) <= services, (status.get("serviceStatus"), services)
        running = pods(kwok.api, ns, {"seldon-deployment-id": name})
        assert len(running) >= len(deployments) and all(pod_ready(p) for p in running), \
            [(p.name, p.obj["status"].get("phase")) for p in running]
        gpu_pods = [p for p in running if any("nvidia.com/gpu" in (c.get("resources", {}).get("limits") or {})
                                              for c in p.obj["spec"]["containers"])]
        for pod in gpu_pods:   # e.g. gpu-llm: on the pool its values name, nowhere else
            assert kwok.pool_of(pod.obj["spec"]["nodeName"]).startswith("gpu-"), (pod.name, pod.obj["spec"]["nodeName"])
    finally:
        helm.uninstall(release, ns, wait=False, check=False)


# ------------------------------------------------------------------ refusals, in the operator's own words

def _base(scenario: str, ns: str) -> Obj:
    sd = find(render("seldon-model", values_files=[SCENARIOS[scenario]], release="refused", namespace=ns),
              "SeldonDeployment")
    return {"apiVersion": sd["apiVersion"], "kind": sd["kind"],
            "metadata": {"name": "refused", "namespace": ns}, "spec": copy.deepcopy(sd["spec"])}


def _duplicate_predictor(ns: str) -> Obj:
    sd = _base("canary", ns)
    sd["spec"]["predictors"][1]["name"] = sd["spec"]["predictors"][0]["name"]
    return sd


def _no_predictors(ns: str) -> Obj:
    sd = _base("iris", ns)
    sd["spec"]["predictors"] = []
    return sd


def _node_without_container(ns: str) -> Obj:
    sd = _base("transformer", ns)     # custom images: the node's container is found by its name
    sd["spec"]["predictors"][0]["graph"]["children"][0]["name"] = "ghost"
    return sd


def _node_without_methods(ns: str) -> Obj:
    sd = _base("transformer", ns)
    sd["spec"]["predictors"][0]["graph"]["type"] = "UNKNOWN_TYPE"
    return sd


def _traffic_not_100(ns: str) -> Obj:
    sd = _base("canary", ns)
    sd["spec"]["predictors"][1]["traffic"] = 20     # 90 + 20
    return sd


def _create(kwok: KwokEnv, sd: Obj) -> tuple[int, Obj]:
    """POST the SeldonDeployment; the HTTP code and the API server's Status (its message is what kubectl
    rewords for Invalid answers)."""
    response = kwok.api.post(url="seldondeployments", version="machinelearning.seldon.io/v1",
                             namespace=sd["metadata"]["namespace"], data=json.dumps(sd))
    return response.status_code, response.json()


REFUSALS = {
    "duplicate-predictor-names": (_duplicate_predictor, 'spec.predictors[1]: Invalid value: "main": Duplicate predictor name'),
    "no-predictors": (_no_predictors, 'spec: Invalid value: "rest": Graph contains no predictors'),
    "graph-node-without-container": (_node_without_container,
                                     'spec.predictors[0].graph[0]: Invalid value: "ghost": Can\'t find container for Predictive Unit'),
    "graph-node-without-implementation": (_node_without_methods,
                                          'Predictive Unit has no implementation methods defined. Change to a known type '
                                          'or add what methods it defines'),
    "traffic-not-summing-to-100": (_traffic_not_100, 'spec: Invalid value: "main": Traffic must sum to 100 for multiple predictors'),
}


@pytest.mark.parametrize("case", list(REFUSALS))
def test_webhook_refuses_invalid_specs_with_the_operators_message(kwok: KwokEnv, operator: Manager,
                                                                  namespace: Callable[..., str], case: str) -> None:
    make, message = REFUSALS[case]
    ns = namespace(f"op-refused-{case}")
    sd = make(ns)
    code, status = _create(kwok, sd)
    assert code == 422, f"{case}: the API server answered {code} {status}"
    assert status["reason"] == "Invalid", status
    # The API server's wording around the operator's own (machinelearing: sic, upstream; the name is spec.name's)
    assert status["message"].startswith(f'admission webhook "{WEBHOOK}" denied the request: '
                                        'SeldonDeployment.machinelearing.seldon.io "" is invalid: '), status["message"]
    assert message in status["message"], status["message"]
    print(f"{case}: {status['message']}")    # shown with -rP
    assert not kwok.kubectl.json("get", "seldondeployments", "-n", ns)["items"]


def test_predictor_without_graph_is_refused_by_the_crd_before_the_webhook(kwok: KwokEnv, operator: Manager,
                                                                          namespace: Callable[..., str]) -> None:
    """A predictor with no graph never reaches the webhook: the CRD's schema requires `graph` (and the API
    server validates the schema before it calls validating webhooks). The operator's check for it is the one
    above, "Graph contains no predictors"."""
    ns = namespace("op-refused-no-graph")
    sd = _base("iris", ns)
    del sd["spec"]["predictors"][0]["graph"]
    code, status = _create(kwok, sd)
    assert code == 422 and "spec.predictors[0].graph: Required value" in status["message"], status
    assert "admission webhook" not in status["message"], status


def test_webhook_admits_an_update_and_refuses_a_bad_one(kwok: KwokEnv, operator: Manager,
                                                        namespace: Callable[..., str]) -> None:
    """UPDATE goes through the webhook too: a good change is stored, a change that breaks the traffic split is
    refused and leaves the stored object as it was."""
    ns = namespace("op-update")
    sd = _base("canary", ns)
    kwok.kubectl("create", "-f", "-", stdin=json.dumps(sd))
    sd["spec"]["predictors"][0]["traffic"], sd["spec"]["predictors"][1]["traffic"] = 80, 20
    kwok.kubectl("apply", "--server-side", "--force-conflicts", "--field-manager=msc-tests", "-f", "-", stdin=json.dumps(sd))
    sd["spec"]["predictors"][1]["traffic"] = 30
    proc = kwok.kubectl("apply", "--server-side", "--force-conflicts", "--field-manager=msc-tests", "-f", "-",
                        stdin=json.dumps(sd), check=False)
    assert proc.returncode != 0 and "Traffic must sum to 100 for multiple predictors" in proc.stderr, proc.stderr
    stored = kwok.kubectl.json("get", "seldondeployment", "refused", "-n", ns)
    assert [p["traffic"] for p in stored["spec"]["predictors"]] == [80, 20]
    kwok.kubectl("delete", "seldondeployment", "refused", "-n", ns, "--wait=false")


# ------------------------------------------------------------------ least privilege, enforced by the API server

def _can(kwok: KwokEnv, operator: Manager, verb: str, resource: str, *where: str) -> bool:
    """`kubectl auth can-i` as the manager's ServiceAccount (the API server's own authorizer answers)."""
    proc = kwok.kubectl("auth", "can-i", verb, resource, *where, "--as", operator.user, check=False)
    assert proc.stdout.strip() in ("yes", "no"), proc.stdout + proc.stderr
    return proc.stdout.strip() == "yes"


def test_operator_cannot_enumerate_secrets(kwok: KwokEnv, operator: Manager, namespace: Callable[..., str]) -> None:
    """The identity that reconciled every scenario above reads a Secret only by the name a model's ServiceAccount
    lists: it can neither list nor watch Secrets, anywhere, nor do what 1.17.1 never does."""
    ns = namespace("op-rbac")
    for where in (["--all-namespaces"], ["-n", ns], ["-n", operator.namespace]):
        assert not _can(kwok, operator, "list", "secrets", *where), where
        assert not _can(kwok, operator, "watch", "secrets", *where), where
    assert _can(kwok, operator, "get", "secrets", "-n", ns), "the storage initializer's ServiceAccount credentials"
    denied = [("create", "secrets"), ("delete", "secrets"), ("create", "pods"), ("get", "configmaps"),
              ("patch", "deployments.apps"), ("get", "deployments.apps"), ("update", "seldondeployments"),
              ("delete", "seldondeployments"), ("list", "serviceaccounts"), ("update", "namespaces")]
    allowed = [(verb, resource) for verb, resource in denied if _can(kwok, operator, verb, resource, "-n", ns)]
    assert not allowed, f"{operator.user} may {allowed}"
    listed = kwok.kubectl("auth", "can-i", "--list", "-n", ns, "--as", operator.user).stdout
    print(f"{operator.user} in a model namespace:\n{listed}")    # shown with -rP


def test_storage_credentials_from_the_model_service_account(kwok: KwokEnv, operator: Manager,
                                                             namespace: Callable[..., str]) -> None:
    """What `get` on serviceaccounts and secrets is for: the operator reads the model pod's ServiceAccount and
    the Secrets it lists, by name, and hands an S3 one to the storage initializer as secretKeyRef variables."""
    ns = namespace("op-sa-credentials")
    kwok.kubectl.apply([
        {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s3-reader", "namespace": ns},
         "stringData": {"awsAccessKeyID": "id", "awsSecretAccessKey": "not-a-real-key"}},
        {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "model-reader", "namespace": ns},
         "secrets": [{"name": "s3-reader"}]}])
    sd = _base("iris", ns)
    sd["spec"]["predictors"][0]["graph"]["serviceAccountName"] = "model-reader"
    kwok.kubectl("create", "-f", "-", stdin=json.dumps(sd))
    wait_until(_available(kwok, "refused", ns), 180, "SeldonDeployment refused to be Available",
               detail=lambda: f"manager log:\n{operator.log_tail(15)}")
    [deployment] = kwok.kubectl.json("get", "deployments", "-n", ns)["items"]
    [initializer] = deployment["spec"]["template"]["spec"]["initContainers"]
    refs = {e["name"]: e.get("valueFrom", {}).get("secretKeyRef") for e in initializer.get("env", [])}
    assert refs.get("AWS_SECRET_ACCESS_KEY") == {"name": "s3-reader", "key": "awsSecretAccessKey"}, initializer
    assert refs.get("AWS_ACCESS_KEY_ID") == {"name": "s3-reader", "key": "awsAccessKeyID"}, initializer


def _virtual_service(kwok: KwokEnv, operator: Manager, helm: Helm, ns: str, scenario: str) -> tuple[Obj, list[Obj]]:
    """Install the scenario; once its SeldonDeployment is Available, the VirtualService and DestinationRules the
    operator made for it (as the API server stored them, after its CRD's schema validation)."""
    helm.install(scenario, "seldon-model", ns, values_files=[SCENARIOS[scenario]])
    name = find(helm.manifest(scenario, ns), "SeldonDeployment")["metadata"]["name"]
    stored = wait_until(_available(kwok, name, ns), 180, f"SeldonDeployment {name} to be Available",
                        detail=lambda: f"manager log:\n{operator.log_tail(15)}")
    uid = stored["metadata"]["uid"]
    owned = [o for kind in ("virtualservices.networking.istio.io", "destinationrules.networking.istio.io")
             for o in kwok.kubectl.json("get", kind, "-n", ns)["items"]
             if any(r["uid"] == uid for r in o["metadata"].get("ownerReferences", []))]
    (vs,) = [o for o in owned if o["kind"] == "VirtualService"]
    return vs, [o for o in owned if o["kind"] == "DestinationRule"]


def _routes(vs: Obj) -> list[tuple[str, int]]:
    return [(r["destination"]["host"], r.get("weight", 0)) for r in vs["spec"]["http"][0]["route"]]


def test_istio_virtual_service_carries_the_canary_weights_and_the_shadow_mirror(
        kwok: KwokEnv, operator: Manager, helms: dict[str, Helm], namespace: Callable[..., str]) -> None:
    """With the chart's Istio mode on, the operator's VirtualService for values/seldon-model/canary.yaml routes
    90/10 to the two predictors' Services and the one for shadow.yaml mirrors to the shadow; both, and their
    DestinationRules, are accepted by Istio's own CRDs (istio.io/api, networking.istio.io/v1alpha3, strict
    schema validation by the API server, and by the harness against the same schema). No Istio data plane runs
    here: what is proved is what the operator writes, not what Envoy does with it."""
    helm = helms["helm4"]
    ns = namespace("op-istio")
    canary, canary_rules = _virtual_service(kwok, operator, helm, ns, "canary")
    fqdn = "{}-{}.%s.svc.cluster.local" % ns
    name = canary["metadata"]["name"]
    assert sorted(_routes(canary)) == sorted([(fqdn.format(name, "main"), 90), (fqdn.format(name, "canary"), 10)])
    assert canary["spec"]["gateways"] == ["istio-system/seldon-gateway"], canary["spec"]
    assert canary["spec"]["http"][0]["match"][0]["uri"] == {"prefix": f"/seldon/{ns}/{name}/"}
    assert {r["spec"]["host"] for r in canary_rules} == {fqdn.format(name, p) for p in ("main", "canary")}
    shadow, shadow_rules = _virtual_service(kwok, operator, helm, ns, "shadow")
    name = shadow["metadata"]["name"]
    assert _routes(shadow) == [(fqdn.format(name, "main"), 100)]
    assert shadow["spec"]["http"][0]["mirror"]["host"] == fqdn.format(name, "shadow"), shadow["spec"]["http"][0]
    assert len(shadow_rules) == 2, "the mirror needs a DestinationRule too"
    problems = validate_objects([canary, shadow, *canary_rules, *shadow_rules])
    assert not problems, problems
    print(f"VirtualService {canary['metadata']['name']}: {_routes(canary)}; {name}: mirror "
          f"{shadow['spec']['http'][0]['mirror']['host']}")


def test_manager_holds_its_leader_lock(kwok: KwokEnv, operator: Manager) -> None:
    """controller-runtime 0.11's "configmapsleases" lock, a ConfigMap and a Lease named by the leader-election
    id, taken with the rules the chart limits to that name (create, then get/update)."""
    if not LEADER_ELECTION:
        pytest.skip("`unshare --mount` is not allowed here: the manager ran without leader election")
    lease = kwok.kubectl.json("get", "lease", LOCK, "-n", operator.namespace)
    assert lease["spec"].get("holderIdentity"), lease
    config_map = kwok.kubectl.json("get", "configmap", LOCK, "-n", operator.namespace)
    assert "control-plane.alpha.kubernetes.io/leader" in config_map["metadata"].get("annotations", {}), config_map


def test_manager_kept_running(operator: Manager) -> None:
    """The manager did not crash or restart under the scenarios above (its log says why if it did), and the API
    server refused it nothing: the chart's rules cover every call it made."""
    assert operator.alive(), operator.log_tail()
    assert operator.reconciles().get("success", 0) > 0, operator.log_tail()
    # RBAC's refusals only ("is forbidden: User ... cannot <verb> resource ..."), not the namespace lifecycle's
    # ("forbidden: unable to create new content in namespace ... because it is being terminated").
    denied = [line for line in operator.log.read_text(errors="replace").splitlines()
              if re.search(r'forbidden: User \\?"[^"\\]+\\?" cannot ', line)]
    assert not denied, "\n".join(denied[:10])

