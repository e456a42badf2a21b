"""Every chart x scenario installs into a real API server, under Helm 4 and under Helm 3, and what it
makes runs: the server keeps every object and every field it was sent, and every pod template becomes
pods that kwok starts.

Helm 4 installs into a namespace that enforces the `restricted` Pod Security Standard (a model namespace):
every pod our charts make must be admitted there, except node agents that declare themselves privileged
(ml-serving-charts.io/pod-security: privileged), which must be REJECTED there (so the check can fail).
Helm 3 installs into a namespace that enforces `privileged`, where those node agents belong and must run."""
from __future__ import annotations

import json

from pathlib import Path

import pykube
import pytest
import yaml
from pytest_helm_charts.clusters import Cluster
from pytest_helm_charts.k8s.daemon_set import wait_for_daemon_sets_to_run
from pytest_helm_charts.k8s.deployment import wait_for_deployments_to_run

from harness import CHARTS, all_scenarios, find, render
from harness.admission import NodeModel
from harness.cluster import Helm, rfc1123, wait_until
from kwok_support import (KwokEnv, assert_release_stored, contract, cluster_scoped_kinds, coexistence_values,
                          dry_run_pods, fits_some_node, is_exempt, pods, selector_of, unmanaged_pods, workloads)

pytestmark = pytest.mark.cluster_kwok

# Helm 4 installs every scenario; Helm 3 the defaults and the ci/ scenarios (what `ct install` runs). Both
# render every scenario identically (tests/render), so what differs is the client: apply, wait, storage.
CASES = [(helm, chart, name, path) for chart, name, path in all_scenarios() for helm in ("helm4", "helm3")
         if helm == "helm4" or name == "defaults" or name.startswith("ci/")]
IDS = [f"{helm}-{chart}:{name}" for helm, chart, name, _ in CASES]
PRIVILEGED = {"pod-security.kubernetes.io/enforce": "privileged"}


@pytest.fixture(scope="module")
def cluster_scoped(kwok: KwokEnv) -> set[str]:
    return cluster_scoped_kinds(kwok.kubectl)


def _pod_spec(owner: dict) -> dict:
    return owner["spec"]["template"]["spec"]


def _check_workload(kwok: KwokEnv, owner: dict, namespace: str, restricted: bool, nodes: list[NodeModel]) -> None:
    name, kind = owner["metadata"]["name"], owner["kind"]
    if restricted and is_exempt(owner):
        # A node agent that declares itself privileged: its pods are refused here (and run under Helm 3).
        pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": f"{name[:50]}-probe"}, "spec": _pod_spec(owner)}
        refused = dry_run_pods(kwok.kubectl, namespace, [pod])
        assert refused.returncode != 0 and 'violates PodSecurity "restricted:latest"' in refused.stderr, refused.stderr
        assert not pods(kwok.api, namespace, selector_of(owner))
        return
    if not fits_some_node(_pod_spec(owner), nodes):
        if kind == "DaemonSet":
            return  # no node of its kind in this cluster
        # E.g. a headroom placeholder for a pool kwok has no nodes of: admitted, and Pending.
        created = wait_until(lambda: pods(kwok.api, namespace, selector_of(owner)), 60, f"pods of {kind}/{name}")
        assert all(p.obj["status"].get("phase") == "Pending" for p in created)
        return
    if kind == "Deployment":
        wait_for_deployments_to_run(kwok.api, [name], namespace, timeout_sec=90)
    elif kind == "DaemonSet":
        (ds,) = wait_for_daemon_sets_to_run(kwok.api, [name], namespace, timeout_sec=90)
        assert ds.obj["status"]["desiredNumberScheduled"] > 0, f"DaemonSet/{name} matches no node"
    else:
        pytest.fail(f"no readiness check for {kind}")
    running = pods(kwok.api, namespace, selector_of(owner))
    assert running and all(p.obj["status"].get("phase") == "Running" for p in running), [p.name for p in running]


@pytest.mark.parametrize(("helm", "chart", "scenario", "values_file"), CASES, ids=IDS)
def test_scenario_installs_and_runs(kwok: KwokEnv, helm: str, helm_cli: Helm, namespace, ensure_namespace,
                                    restricted_labels: dict,
                                    cluster_scoped: set[str], chart: str, scenario: str, values_file: Path) -> None:
    restricted = helm == "helm4"
    ns = namespace(rfc1123(f"{'r4' if restricted else 'p3'}-{chart}-{scenario}", 50),
                   restricted_labels if restricted else PRIVILEGED)
    release = rfc1123(f"{scenario}-{helm[-1]}", 30)  # cluster-scoped names differ between the two Helms
    values = coexistence_values(chart, values_file, release)
    planned = helm_cli.template(release, chart, ns, values=values, values_files=[values_file])
    runnable = [w for w in workloads(planned) if not (restricted and is_exempt(w))]
    # --wait where everything can become ready: no refused node agent, every pod fits an empty node.
    nodes = kwok.node_models()
    wait = len(runnable) == len(workloads(planned)) and all(fits_some_node(_pod_spec(w), nodes) for w in runnable)
    made_here = {o["metadata"]["name"] for o in planned if o["kind"] == "Namespace"}
    for other in sorted({o["metadata"].get("namespace", ns) for o in planned} - {ns} - made_here):
        ensure_namespace(other)  # it exists where the chart is used, e.g. the Cluster API cluster's (capi.namespace)
    unmanaged = unmanaged_pods(planned)
    if restricted and unmanaged:
        # Pods nothing creates on kwok (componentSpecs without the operator, helm-test Pods): a dry run. The
        # ServiceAccounts of helm-test hooks (installed only by `helm test`) are made first, for the admission.
        hook_accounts = [o for o in planned if o["kind"] == "ServiceAccount"
                         and "helm.sh/hook" in (o["metadata"].get("annotations") or {})]
        if hook_accounts:
            kwok.kubectl("apply", "-n", ns, "-f", "-", stdin=json.dumps({"apiVersion": "v1", "kind": "List",
                                                                           "items": hook_accounts}))
        admitted = dry_run_pods(kwok.kubectl, ns, unmanaged)
        assert admitted.returncode == 0, admitted.stderr
        assert "Warning" not in admitted.stderr, admitted.stderr     # warn=restricted: not even a warning
        assert len(admitted.stdout.split()) == len(unmanaged)
    try:
        helm_cli.install(release, chart, ns, values=values, values_files=[values_file], wait=wait)
        manifest = assert_release_stored(kwok.kubectl, helm_cli, release, ns, cluster_scoped)
        for owner in workloads(manifest):
            _check_workload(kwok, owner, ns, restricted, nodes)
    finally:
        helm_cli.uninstall(release, ns, wait=False, check=False)  # also after a failed install


def test_crds_accepted_by_the_server(kwok: KwokEnv, kube_cluster: Cluster) -> None:
    """The session applied every CRD of harness.validate.crd_files() as fetched (upstream) or written (ours);
    each is Established and served.
    (Through pytest-helm-charts' kube_cluster, which the kube_config override points at the kwok cluster.)"""
    crds = {c.name: c for c in pykube.CustomResourceDefinition.objects(kube_cluster.kube_client)}
    for name in kwok.crds:
        assert name in crds, f"CRD {name} missing"
        conditions = {c["type"]: c["status"] for c in crds[name].obj["status"]["conditions"]}
        assert conditions.get("Established") == "True" and conditions.get("NamesAccepted") == "True", (name, conditions)
    served = kwok.kubectl("api-resources", "-o", "name").stdout.split()
    assert set(kwok.crds) <= set(served)


def test_operator_crd_template_accepted(kwok: KwokEnv) -> None:
    """seldon-operator's own CRD template (crd.install=true, off in the installs above because the session
    applied the CRD) is accepted by the server: a server-side dry run over the applied one."""
    if not (CHARTS / "seldon-operator").exists():
        pytest.skip("no seldon-operator chart")
    crd = find(render("seldon-operator"), "CustomResourceDefinition")
    proc = kwok.kubectl("apply", "--server-side", "--dry-run=server", "--force-conflicts", "--field-manager=msc-dry-run",
                        "-f", "-", "-o", "yaml", stdin=yaml.safe_dump(crd))
    assert yaml.safe_load(proc.stdout)["spec"]["names"]["kind"] == "SeldonDeployment"


def test_nodes_from_the_chart_match_the_script_pools(kwok: KwokEnv, kube_cluster: Cluster) -> None:
    """The fake nodes the gpu-node-pool release made agree with msc.clusters.contract's pools (the one pool
    contract on the Python side): names, pool label, GPU labels, capacity and the GPU taint."""
    expected = {n["metadata"]["name"]: n for n in contract.default_nodes()}
    actual = {n.name: n.obj for n in pykube.Node.objects(kube_cluster.kube_client) if n.name in expected}
    assert set(actual) == set(expected)
    for name, want in expected.items():
        got = actual[name]
        for key, value in want["metadata"]["labels"].items():
            assert got["metadata"]["labels"].get(key) == value, (name, key)
        assert got["spec"].get("taints", []) == want["spec"].get("taints", []), name
        for resource, amount in want["status"]["capacity"].items():
            assert str(got["status"]["capacity"][resource]) == str(amount), (name, resource)
    assert set(kwok.nodes) == {p.name for p in contract.DEFAULT_POOLS}
