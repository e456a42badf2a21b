"""Upgrade (new image tag, new replicas, an object switched off), rollback and uninstall, under Helm 4 and
Helm 3, leave no orphans: after each step every object labelled with the release's instance is either in
its manifest or owned (ownerReferences) by one that is, and after uninstall nothing labelled remains."""
from __future__ import annotations

import copy
from typing import Any, Callable

import pytest
import yaml
from pytest_helm_charts.k8s.deployment import wait_for_deployments_to_run

from harness import CHARTS
from harness.cluster import Helm, key_of, release_objects, unaccounted
from kwok_support import KwokEnv, cluster_scoped_kinds, pod_ready, pods, selector_of, wait_gone

pytestmark = pytest.mark.cluster_kwok

Obj = dict[str, Any]


def _model_values(tag: str, **extra: Any) -> Obj:
    predictors = copy.deepcopy(yaml.safe_load((CHARTS / "seldon-model" / "values.yaml").read_text())["predictors"])
    predictors[0]["components"]["classifier"]["image"]["tag"] = tag
    return {"predictors": predictors, **extra}


# chart -> (values of revision 1, values of revision 2, kind of the object revision 2 switches off)
SUBJECTS: dict[str, tuple[Obj, Obj, str]] = {
    "seldon-operator": ({"crd": {"install": False}, "replicaCount": 2, "pdb": {"enabled": True}},
                        {"crd": {"install": False}, "replicaCount": 3, "pdb": {"enabled": False},
                         "image": {"tag": "1.17.1-upgraded"}},
                        "PodDisruptionBudget"),
    "seldon-model": (_model_values("0.1.0", replicas=1, monitoring={"enabled": True, "rules": {"enabled": True}}),
                     _model_values("0.2.0", replicas=3, monitoring={"enabled": False}),
                     "PodMonitor"),
}


def _state(kwok: KwokEnv, helm: Helm, release: str, ns: str, scoped: set[str]) -> tuple[list[Obj], dict]:
    """The manifest and everything labelled with the release; fails on orphans."""
    manifest = helm.manifest(release, ns)
    found = release_objects(kwok.kubectl, release, ns)
    keys = {key_of(o, ns, scoped) for o in manifest}
    assert keys <= set(found), f"manifest objects missing: {sorted(keys - set(found))}"
    orphans = unaccounted(found, keys)
    assert not orphans, f"objects labelled {release} that nothing owns: {orphans}"
    return manifest, found


def _check_revision(kwok: KwokEnv, chart: str, manifest: list[Obj], ns: str, values: Obj) -> None:
    """The workload looks like `values` asked (and, for the operator, its pods run the new image)."""
    if chart == "seldon-operator":
        (deployment,) = [o for o in manifest if o["kind"] == "Deployment"]
        name = deployment["metadata"]["name"]
        (stored,) = wait_for_deployments_to_run(kwok.api, [name], ns, timeout_sec=60)
        assert stored.obj["spec"]["replicas"] == values["replicaCount"]
        image = stored.obj["spec"]["template"]["spec"]["containers"][0]["image"]
        assert image.endswith(f":{values.get('image', {}).get('tag') or '1.17.1'}"), image
        running = [p for p in pods(kwok.api, ns, selector_of(deployment)) if pod_ready(p)
                   and p.obj["spec"]["containers"][0]["image"] == image]
        assert len(running) >= values["replicaCount"]
    else:
        sd = kwok.kubectl.json("get", "seldondeployment", "-n", ns, "-l", "app.kubernetes.io/name=seldon-model")["items"][0]
        assert sd["spec"]["replicas"] == values["replicas"]
        tag = values["predictors"][0]["components"]["classifier"]["image"]["tag"]
        assert sd["spec"]["predictors"][0]["componentSpecs"][0]["spec"]["containers"][0]["image"].endswith(f":{tag}")


@pytest.mark.parametrize("chart", sorted(c for c in SUBJECTS if (CHARTS / c).exists()))
def test_upgrade_rollback_uninstall_leave_no_orphans(kwok: KwokEnv, helm: str, helm_cli: Helm,
                                                     namespace: Callable[..., str], restricted_labels: dict[str, str],
                                                     chart: str) -> None:
    first, second, switched_off = SUBJECTS[chart]
    wait = chart == "seldon-operator"   # the only subject with pods; its new pods must run
    ns = namespace(f"life-{chart}-{helm}", restricted_labels)
    release = f"life-{helm[-1]}"
    scoped = cluster_scoped_kinds(kwok.kubectl)
    try:
        helm_cli.install(release, chart, ns, values=first, wait=wait)
        manifest, _ = _state(kwok, helm_cli, release, ns, scoped)
        assert any(o["kind"] == switched_off for o in manifest)
        _check_revision(kwok, chart, manifest, ns, first)

        helm_cli.upgrade(release, chart, ns, values=second, wait=wait)
        manifest, found = _state(kwok, helm_cli, release, ns, scoped)
        assert not any(k[0] == switched_off for k in found), f"{switched_off} left behind by the upgrade"
        _check_revision(kwok, chart, manifest, ns, second)
        assert [(r["revision"], r["status"]) for r in helm_cli.history(release, ns)] == [(1, "superseded"), (2, "deployed")]

        helm_cli.rollback(release, ns, 1, wait=wait)
        manifest, found = _state(kwok, helm_cli, release, ns, scoped)
        assert any(k[0] == switched_off for k in found), f"{switched_off} not restored by the rollback"
        _check_revision(kwok, chart, manifest, ns, first)
        history = helm_cli.history(release, ns)
        assert (history[-1]["revision"], history[-1]["status"]) == (3, "deployed")
        assert "Rollback to 1" in history[-1]["description"]
    finally:
        helm_cli.uninstall(release, ns, wait=True, check=False)
    wait_gone(lambda: release_objects(kwok.kubectl, release, ns), f"every object labelled {release} to be deleted")
