"""Self-healing under constant load, measured: a seldon-model release (two replicas of the iris model, one on each
worker, a PDB from the chart) answers through the executor while it is disrupted, and no request may fail (non-2xx,
gRPC error or timeout). The load comes from the loadgen image running as a Job in the cluster (msc.loadgen),
at a rate 2 cores carry; each test prints requests sent and failed and the p99 during the disruption, and the
module prints the table at the end (`-s`; scripts/bench resilience prints it too).

Faults, in order, on the same release: a replica deleted; `helm upgrade` that changes a parameter (a rolling
update through the operator); `helm rollback`; `kubectl drain` of the worker holding a replica; the operator
killed mid-load (serving untouched, an upgrade made while it is down reconciled when it returns); the webhook
certificate unchanged over three upgrades; an upgrade to a model that crashes on start (the old pods keep
serving, the failed release says why). Choose them alone with `-m faults`."""
from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass
from typing import Any, Callable, Iterator

import pytest

from msc import loadgen, stack as ks
from msc.proc import wait_until
from harness.cluster import Helm
from kind_support import GPU_POOL, KindEnv, install_model, small_graph, wait_available

pytestmark = [pytest.mark.cluster_kind, pytest.mark.faults]
Obj = dict[str, Any]

RELEASE = "resilient"
RATE = 20                 # requests per second, open loop: what the executor, two models and the rest share 2 cores at
LOAD_SECONDS = 40         # long enough to hold the disruption and the recovery after it
# Two replicas, one per worker (the GPU worker's taint tolerated: kind has one CPU worker), a PDB keeping one up.
VALUES: Obj = {
    "predictors": [{
        "name": "default", "mainPodReplicas": 2,
        "graph": {"name": "classifier", "type": "MODEL"},
        # REVISION: what an upgrade changes (any change of the pod template rolls the Deployment)
        "components": {"classifier": {"image": ks.component_image("iris-model"),
                                      "env": [{"name": "REVISION", "value": "1"}]}},
        "podSpec": {"tolerations": [{"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}],
                    "topologySpreadConstraints": [{"maxSkew": 1, "topologyKey": "kubernetes.io/hostname",
                                                   "whenUnsatisfiable": "ScheduleAnyway",
                                                   "labelSelector": {"matchLabels": {"seldon-deployment-id": f"{RELEASE}-seldon-model"}}}]},
        "pdb": {"maxUnavailable": 1}}]}


@dataclass
class Disruption:
    fault: str
    result: loadgen.LoadResult
    during: loadgen.LoadResult
    recovery_s: float

    def row(self) -> str:
        return (f"{self.fault:<44}{self.during.sent:>6}{self.during.failed:>7}{self.during.latency_ms.p99:>9.1f}"
                f"{self.recovery_s:>11.1f}")


TABLE: list[Disruption] = []


@pytest.fixture(scope="module")
def served(kind: KindEnv, helm_cli: Helm, seldon_operator: str, make_namespace: Callable[..., str]) -> Iterator[Obj]:
    kind.require("iris-model", "loadgen")
    namespace = make_namespace("kind-faults")
    sdep = install_model(kind, helm_cli, namespace, RELEASE, VALUES)
    wait_available(kind, sdep["metadata"]["name"], namespace)
    yield {"namespace": namespace, "sdep": sdep["metadata"]["name"],
           "url": f"http://{sdep['metadata']['name']}-default.{namespace}.svc.cluster.local:8000"}
    if TABLE:
        print(f"\n{'fault':<44}{'sent':>6}{'failed':>7}{'p99 ms':>9}{'recovery s':>11}")
        print("\n".join(d.row() for d in TABLE))
    helm_cli.uninstall(RELEASE, namespace, wait=False, check=False)


def model_pods(kind: KindEnv, served: Obj) -> list[Obj]:
    return [p for p in kind.kubectl.json("get", "pods", "-n", served["namespace"], "-l",
                                         f"seldon-deployment-id={served['sdep']}")["items"]
            if not p["metadata"].get("deletionTimestamp")]


def ready_replicas(kind: KindEnv, served: Obj, want: int = 2) -> list[Obj] | None:
    pods = [p for p in model_pods(kind, served)
            if p["status"].get("phase") == "Running" and all(c.get("ready") for c in p["status"].get("containerStatuses", []))]
    return pods if len(pods) >= want else None


def under_load(kind: KindEnv, served: Obj, fault: str, disrupt: Callable[[], None],
               recovered: Callable[[], Any]) -> Disruption:
    """Send RATE requests per second for LOAD_SECONDS; once they flow, disrupt(), then wait until recovered()
    returns something true. The load's result, its window from the disruption to the recovery, and the time."""
    namespace = served["namespace"]
    name = "load-" + fault.split()[0].lower()
    spec = loadgen.seldon_rest(served["url"], rate=RATE, duration=LOAD_SECONDS, timeout=5)
    loadgen.start(kind.kubectl, spec, name, namespace)
    loadgen.wait_sending(kind.kubectl, name, namespace)
    time.sleep(5)                      # requests flowing before anything breaks
    t0 = time.time()
    disrupt()
    wait_until(recovered, 240, f"recovery from: {fault}", interval=1)
    t1 = time.time()
    result = loadgen.wait(kind.kubectl, name, namespace)
    disruption = Disruption(fault, result, result.window(t0, t1), t1 - t0)
    TABLE.append(disruption)
    print(f"\n{fault}: {disruption.during.describe()}; recovered in {t1 - t0:.1f}s; whole run: {result.describe()}")
    return disruption


def assert_no_failure(d: Disruption) -> None:
    assert d.result.sent > 0 and d.during.sent > 0, d.result.describe()
    assert d.result.failed == 0, f"{d.fault}: {d.result.describe_failures()}"


def test_a_deleted_replica_loses_no_request(kind: KindEnv, served: Obj) -> None:
    victim = model_pods(kind, served)[0]["metadata"]["name"]
    d = under_load(kind, served, "delete one of two replicas",
                   lambda: kind.kubectl("delete", "pod", victim, "-n", served["namespace"], "--wait=false"),
                   lambda: (lambda pods: pods and victim not in [p["metadata"]["name"] for p in pods])(
                       ready_replicas(kind, served)))
    assert_no_failure(d)


def upgrade(kind: KindEnv, helm_cli: Helm, served: Obj, revision: str) -> None:
    values = small_graph(VALUES)
    values["predictors"][0]["components"]["classifier"]["env"][0]["value"] = revision
    helm_cli.upgrade(RELEASE, "seldon-model", served["namespace"], values=values)


def serving_revision(kind: KindEnv, served: Obj, revision: str) -> Callable[[], Any]:
    """True once two Ready replicas run the given REVISION and no other pod is left."""
    def check() -> bool:
        pods = model_pods(kind, served)
        ready = ready_replicas(kind, served) or []
        revisions = [next((e.get("value") for c in p["spec"]["containers"] for e in c.get("env", [])
                           if e["name"] == "REVISION"), None) for p in pods]
        return len(ready) == len(pods) == 2 and revisions == [revision, revision]
    return check


def test_a_rolling_update_loses_no_request(kind: KindEnv, helm_cli: Helm, served: Obj) -> None:
    d = under_load(kind, served, "helm upgrade (a parameter changes)",
                   lambda: upgrade(kind, helm_cli, served, "2"), serving_revision(kind, served, "2"))
    assert_no_failure(d)


def test_a_rollback_loses_no_request(kind: KindEnv, helm_cli: Helm, served: Obj) -> None:
    previous = max(r["revision"] for r in helm_cli.history(RELEASE, served["namespace"])) - 1
    d = under_load(kind, served, "helm rollback",
                   lambda: helm_cli.rollback(RELEASE, served["namespace"], previous),
                   serving_revision(kind, served, "1"))
    assert_no_failure(d)


def test_a_drained_worker_loses_no_request(kind: KindEnv, served: Obj) -> None:
    """kubectl drain of the worker holding a replica (the GPU worker when it holds one: nothing else of the session
    runs there), limited to the model's pods so the session's other pods stay where they are; the PDB lets one
    replica go at a time, the other worker takes the replacement."""
    pods = model_pods(kind, served)
    gpu = kind.node_of_pool(GPU_POOL)
    node = gpu if any(p["spec"].get("nodeName") == gpu for p in pods) else pods[0]["spec"]["nodeName"]

    def drain() -> None:
        kind.kubectl("drain", node, "--pod-selector", f"seldon-deployment-id={served['sdep']}", "--ignore-daemonsets",
                     "--delete-emptydir-data", "--timeout=180s", timeout=240)
    try:
        d = under_load(kind, served, f"kubectl drain {node}", drain,
                       lambda: (lambda ready: ready and all(p["spec"]["nodeName"] != node for p in ready))(
                           ready_replicas(kind, served)))
    finally:
        kind.kubectl("uncordon", node, check=False)
    assert_no_failure(d)


LEADER_LOCK = "a33bd623.machinelearning.seldon.io"   # upstream's leader-election id, the chart's default


def test_the_operator_killed_mid_load_serving_goes_on_and_an_upgrade_meanwhile_is_reconciled(
        kind: KindEnv, helm_cli: Helm, served: Obj) -> None:
    """The leader of the two operator replicas is killed (no graceful release of its lease): serving never depends
    on it, the other replica's webhook admits an upgrade made at once, and the next leader reconciles it."""
    holder = kind.kubectl.json("get", "lease", LEADER_LOCK, "-n", ks.SELDON_NAMESPACE)["spec"]["holderIdentity"]
    leader = holder.split("_")[0]

    def kill_and_upgrade() -> None:
        kind.kubectl("delete", "pod", leader, "-n", ks.SELDON_NAMESPACE, "--grace-period=0", "--force")
        upgrade(kind, helm_cli, served, "4")
    d = under_load(kind, served, "operator leader killed, upgrade meanwhile", kill_and_upgrade,
                   serving_revision(kind, served, "4"))
    assert_no_failure(d)
    after = kind.kubectl.json("get", "lease", LEADER_LOCK, "-n", ks.SELDON_NAMESPACE)["spec"]["holderIdentity"]
    assert after.split("_")[0] != leader, (holder, after)


def test_the_webhook_certificate_survives_three_operator_upgrades(kind: KindEnv, helm_cli: Helm, seldon_operator: str,
                                                                   served: Obj) -> None:
    """Three `helm upgrade --reuse-values` of the operator: the CA bundle and the serving certificate stay the same,
    and a SeldonDeployment admission tried every half second in the meantime never fails."""
    def certificate() -> tuple[str, str]:
        hooks = [w for w in kind.kubectl.json("get", "validatingwebhookconfigurations")["items"]
                 if any(h.get("clientConfig", {}).get("service", {}).get("namespace") == ks.SELDON_NAMESPACE
                        for h in w["webhooks"])]
        secrets = [x for x in kind.kubectl.json("get", "secrets", "-n", ks.SELDON_NAMESPACE)["items"]
                   if x["type"] == "kubernetes.io/tls"]
        return hooks[0]["webhooks"][0]["clientConfig"]["caBundle"], secrets[0]["data"]["tls.crt"]
    before = certificate()
    probe = kind.kubectl.json("get", "seldondeployment", served["sdep"], "-n", served["namespace"])
    probe = {"apiVersion": probe["apiVersion"], "kind": probe["kind"], "spec": probe["spec"],
             "metadata": {"name": "admission-probe", "namespace": served["namespace"]}}
    admissions: list[str] = []
    done = threading.Event()

    def admit() -> None:
        while not done.is_set():
            proc = kind.kubectl("create", "--dry-run=server", "-f", "-", stdin=json.dumps(probe), check=False)
            admissions.append("" if proc.returncode == 0 else proc.stderr.strip())
            time.sleep(0.5)
    thread = threading.Thread(target=admit, daemon=True)
    thread.start()

    def three_upgrades() -> None:
        for _ in range(3):
            helm_cli.upgrade(seldon_operator, "seldon-operator", ks.SELDON_NAMESPACE, reuse_values=True, wait=True)
    try:
        d = under_load(kind, served, "3 operator upgrades (webhook certificate)", three_upgrades, lambda: True)
    finally:
        done.set()
        thread.join(30)
    failed = [a for a in admissions if a]
    print(f"admissions during the upgrades: {len(admissions)}, refused or failed: {len(failed)}")
    assert admissions and not failed, failed[:3]
    assert certificate() == before, "the webhook's CA or serving certificate changed on upgrade"
    assert_no_failure(d)


def test_a_model_that_cannot_start_never_gets_traffic_and_the_release_says_why(kind: KindEnv, helm_cli: Helm,
                                                                               served: Obj) -> None:
    """An upgrade to an image that cannot be pulled: the new pod never becomes Ready, the old replicas keep
    serving every request, and the release's `helm test` fails naming the pod and its reason."""
    values = small_graph(VALUES)
    values["predictors"][0]["components"]["classifier"]["image"] = "localhost/ml-serving-charts/iris-model:no-such-tag"

    def bad_upgrade() -> None:
        helm_cli.upgrade(RELEASE, "seldon-model", served["namespace"], values=values)

    def stuck() -> str | None:
        for pod in kind.kubectl.json("get", "pods", "-n", served["namespace"], "-l",
                                     f"seldon-deployment-id={served['sdep']}")["items"]:
            for status in pod["status"].get("containerStatuses", []):
                reason = status.get("state", {}).get("waiting", {}).get("reason", "")
                if reason in ("ErrImagePull", "ImagePullBackOff"):
                    return f"{pod['metadata']['name']}: {reason}"
        return None
    d = under_load(kind, served, "upgrade to a model that cannot start", bad_upgrade, stuck)
    assert_no_failure(d)
    assert len(ready_replicas(kind, served) or []) == 2, "the old replicas must keep serving"
    proc = helm_cli.run("test", RELEASE, "--namespace", served["namespace"], "--timeout", "120s", "--logs", check=False)
    out = proc.stdout + proc.stderr
    print(f"helm test after the bad upgrade: exit {proc.returncode}\n{out[-1500:]}")
    assert proc.returncode != 0, out
    assert "ImagePullBackOff" in out or "ErrImagePull" in out, out[-2000:]
