"""Helm and kubectl against a real cluster (the cluster tiers): install, upgrade, rollback, uninstall and
history with Helm 4 or Helm 3, each in its own isolated HELM_* home; CRDs applied first; what a release
left in the cluster; and the one small wait the pytest-helm-charts helpers do not cover (a predicate).

pytest-helm-charts has no helm install helper (it drives Flux or Giant Swarm's app platform); this is the
thin CLI wrapper it lacks (msc.kube, shared with the demo). Repositories and signing keys come from
harness.distribution."""
from __future__ import annotations

import contextlib
import fcntl
import functools
import json
import re
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Iterable, Iterator, Mapping

import pykube

from msc import crds, kube
from msc.kube import Kubectl
from msc.proc import CommandFailed as CommandError, wait_until

from .admission import quantity
from .render import load_all
from .validate import crd_files

Obj = dict[str, Any]
__all__ = ["CommandError", "Helm", "Kubectl", "wait_until"]  # re-exported for the tests

INSTANCE_LABEL = "app.kubernetes.io/instance"
# Every namespace the tests create carries this label, so a kept cluster (MSC_KEEP_CLUSTER=1) can be swept.
TEST_NAMESPACE_LABEL = "ml-serving-charts.io/test-namespace"


def apply_crds(kubectl: Kubectl, files: Iterable[Path] | None = None, timeout: float = 60) -> list[str]:
    """Every CRD the suite knows (harness.validate.crd_files()) applied and Established: msc.crds.apply_crds."""
    return crds.apply_crds(kubectl, files if files is not None else crd_files(), timeout)


@functools.cache
def _listable_resources(kubectl: Kubectl) -> tuple[tuple[str, str, bool], ...]:
    """(resource, apiVersion, namespaced) of every type that can be listed, events excluded (no release labels)."""
    rows = []
    for line in kubectl("api-resources", "--verbs=list", "-o", "wide", "--no-headers").stdout.splitlines():
        cols = line.split()   # NAME [SHORTNAMES] APIVERSION NAMESPACED KIND VERBS [CATEGORIES]
        i = next(i for i, c in enumerate(cols) if c in ("true", "false"))
        if cols[0] != "events":
            rows.append((cols[0], cols[i - 1], cols[i] == "true"))
    return tuple(rows)


@functools.cache
def _client(kubeconfig: Path) -> pykube.HTTPClient:
    return pykube.HTTPClient(pykube.KubeConfig.from_file(str(kubeconfig)))


def labelled_objects(kubectl: Kubectl, selector: str, namespace: str) -> dict[tuple[str, str, str], Obj]:
    """(kind, namespace, name) -> object, for every object matching the label selector: namespaced ones in
    `namespace` and cluster-scoped ones, over every listable type (one request per type, in parallel: kubectl
    would make them one after the other). What the release's objects made (pods, ReplicaSets, EndpointSlices)
    counts too: it carries their labels."""
    api = _client(kubectl.kubeconfig)

    def list_type(row: tuple[str, str, bool]) -> list[Obj]:
        resource, version, namespaced = row
        response = api.get(url=resource, version=version, namespace=namespace if namespaced else None,
                           params={"labelSelector": selector})
        if response.status_code == 404:   # a type that went away since discovery
            return []
        response.raise_for_status()
        body = response.json()
        kind = body["kind"].removesuffix("List")
        return [{**item, "kind": kind} for item in body["items"]]

    with ThreadPoolExecutor(max_workers=8) as pool:
        items = [item for batch in pool.map(list_type, _listable_resources(kubectl)) for item in batch]
    return {(i["kind"], i["metadata"].get("namespace", ""), i["metadata"]["name"]): i for i in items}


def release_objects(kubectl: Kubectl, release: str, namespace: str) -> dict[tuple[str, str, str], Obj]:
    """Everything in the cluster labelled as belonging to the release (app.kubernetes.io/instance)."""
    return labelled_objects(kubectl, f"{INSTANCE_LABEL}={release}", namespace)


def unaccounted(found: dict[tuple[str, str, str], Obj], manifest_keys: set[tuple[str, str, str]]) -> list[tuple[str, str, str]]:
    """Objects that are neither in the release's manifest nor owned (through ownerReferences, transitively)
    by one that is: orphans. The v1 Endpoints of a manifest Service count as its own (the endpoints
    controller copies the Service's labels and sets no owner)."""
    services = {(ns, name) for kind, ns, name in manifest_keys if kind == "Service"}
    accounted = {k for k in found if k in manifest_keys or (k[0] == "Endpoints" and (k[1], k[2]) in services)}
    uids = {found[k]["metadata"]["uid"] for k in accounted}
    changed = True
    while changed:
        changed = False
        for key, obj in found.items():
            owners = {o["uid"] for o in obj["metadata"].get("ownerReferences", [])}
            if key not in accounted and owners & uids:
                accounted.add(key)
                uids.add(obj["metadata"]["uid"])
                changed = True
    return sorted(set(found) - accounted)


# ------------------------------------------------------------------ comparing what was sent with what is stored

def _same_scalar(sent: Any, stored: Any) -> bool:
    if sent == stored or str(sent) == str(stored) or json.dumps(sent) == json.dumps(stored):
        return True
    try:  # quantities are canonicalised by the server ("0.5" -> "500m", 1 -> "1")
        return quantity(sent) == quantity(stored)
    except (AssertionError, ValueError, ZeroDivisionError):
        return False


def lost_fields(sent: Any, stored: Any, path: str = "") -> list[str]:
    """Paths of values the server did not keep as sent (a CRD schema pruning an unknown field, a field
    dropped or changed). Defaults the server adds are fine; empty maps and lists (omitempty) are skipped."""
    if sent is None or sent == {} or sent == []:
        return []
    if isinstance(sent, dict):
        if not isinstance(stored, dict):
            return [f"{path or '.'}: sent a map, stored {stored!r:.80}"]
        out = []
        for key, value in sent.items():
            if key not in stored:
                if value not in (None, {}, [], "", False, 0):  # Go zero values vanish (omitempty)
                    out.append(f"{path}.{key}")
                continue
            out += lost_fields(value, stored[key], f"{path}.{key}")
        return out
    if isinstance(sent, list):
        if not isinstance(stored, list) or len(stored) != len(sent):
            return [f"{path}: sent {len(sent)} items, stored {stored!r:.120}"]
        return [p for i, (a, b) in enumerate(zip(sent, stored)) for p in lost_fields(a, b, f"{path}[{i}]")]
    return [] if _same_scalar(sent, stored) else [f"{path}: sent {sent!r:.80}, stored {stored!r:.80}"]


def key_of(obj: Obj, default_namespace: str, cluster_scoped: set[str]) -> tuple[str, str, str]:
    ns = "" if obj["kind"] in cluster_scoped else obj["metadata"].get("namespace", default_namespace)
    return (obj["kind"], ns, obj["metadata"]["name"])


# ------------------------------------------------------------------ helm

class Helm(kube.Helm):
    """msc.kube.Helm, with the release's objects parsed (template, manifest)."""

    def template(self, release: str, chart: str | Path, namespace: str, *, values: Mapping[str, Any] | None = None,
                 values_files: Iterable[str | Path] = ()) -> list[Obj]:
        """What install would send, with the same values precedence (harness.render puts its dict first)."""
        text = self.template_text(release, chart, namespace, values=values, values_files=values_files)
        return load_all(text)

    def manifest(self, release: str, namespace: str) -> list[Obj]:
        return load_all(self.manifest_text(release, namespace))


# ------------------------------------------------------------------ workloads

def deployment_for(name: str, namespace: str, spec: Obj, replicas: int, labels: dict[str, str],
                   image: str = "registry.invalid/model-server:0") -> Obj:
    """A Deployment running a chart's pod spec (a SeldonDeployment componentSpec: nothing turns it into pods
    without the operator). Image-less containers (prepackaged servers the operator completes) get `image`."""
    spec = json.loads(json.dumps(spec))
    for container in spec.get("containers", []) + spec.get("initContainers", []):
        container.setdefault("image", image)
    selector = {"app.kubernetes.io/name": name}
    return {"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": name, "namespace": namespace, "labels": {**labels, **selector}},
            "spec": {"replicas": replicas, "selector": {"matchLabels": selector},
                     "template": {"metadata": {"labels": {**labels, **selector}}, "spec": spec}}}


# ------------------------------------------------------------------ clusters

@contextlib.contextmanager
def one_cluster_creation_at_a_time() -> Iterator[None]:
    """kwokctl picks free ports when it creates a cluster: two creations at once (two xdist workers, the
    bench next to the tier) can pick the same ones. Serialise them: a cluster that is up holds its ports,
    and the next creation picks others."""
    with open(Path(tempfile.gettempdir()) / "msc-kwok-create.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def sweep_test_namespaces(kubectl: Kubectl, helm: Helm, mark: str, timeout: int = 180) -> None:
    """A kept or reused cluster: uninstall the releases an earlier session left in its test namespaces
    (TEST_NAMESPACE_LABEL=mark; their cluster-scoped objects would block this session's installs), then
    delete those namespaces."""
    namespaces = kubectl("get", "namespaces", "-l", f"{TEST_NAMESPACE_LABEL}={mark}", "-o", "name").stdout.split()
    names = {n.split("/", 1)[1] for n in namespaces}
    for release in helm.releases():
        if release["namespace"] in names:
            helm.uninstall(release["name"], release["namespace"], wait=False, check=False)
    if namespaces:
        kubectl("delete", *namespaces, "--wait=true", f"--timeout={timeout}s", timeout=timeout + 20)


def rfc1123(text: str, limit: int = 53) -> str:
    """A string made into a release/namespace name (lower case, digits, '-'; Helm's 53-character limit)."""
    name = re.sub(r"[^a-z0-9-]+", "-", text.lower()).strip("-")
    return name[:limit].rstrip("-")
