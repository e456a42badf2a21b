"""The seldon-operator webhook certificate rotated under SeldonDeployment write load without one failed admission
(issue 18, point 5): the real 1.17.1 manager serves the webhook (seldon_manager.py) and the real API server calls
it with the caBundle of the chart's ValidatingWebhookConfiguration while server-side dry-run creates run back to
back. webhook.certificate.rotationId takes the chart through its phases, one `helm upgrade` each
(ml-common.webhook.phasedTLS): trusting (new CA beside the old in the caBundle; the old certificate still served),
switched (the Secret holds the new certificate, the caBundle both CAs; the manager's files are then replaced as
the kubelet would replace a Secret volume's, and controller-runtime's certwatcher reloads them), done (the old CA
leaves the caBundle). Then the same loop against a caBundle that does not trust the served certificate must fail:
the loop can see a failure.

Kind would need the kubelet to put the Secret into the pod; here the files are written when the test says so,
which lets it check the window the kubelet leaves (Secret switched, pod still serving the old certificate)."""
from __future__ import annotations

import base64
import json
import socket
import ssl
import threading
import time
from pathlib import Path
from typing import Any, Callable, Iterator

import pykube
import pytest

from harness import find, render, require_built, scenarios
from harness.cluster import TEST_NAMESPACE_LABEL, Helm, wait_until
from kwok_support import KwokEnv
from msc.clusters.kwok import KwokCluster
from seldon_manager import (MANAGER, ROUTING_FLAG, SELDON_OPERATOR_MISSING, Manager, apiserver_routes_to_endpoints,
                            route_webhook, run_manager, service_account_kubeconfig)

pytestmark = pytest.mark.cluster_kwok
Obj = dict[str, Any]
RELEASE = "rotate"
PHASE = "ml-serving-charts.io/rotation-phase"


class Admissions:
    """Server-side dry-run creates of a valid SeldonDeployment, one after another, in a thread."""

    def __init__(self, kwok: KwokEnv, sdep: Obj) -> None:
        self.kwok, self.body = kwok, json.dumps(sdep)
        self.results: list[str] = []     # "" admitted, else the API server's message
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            proc = self.kwok.kubectl("create", "--dry-run=server", "-f", "-", stdin=self.body, check=False)
            self.results.append("" if proc.returncode == 0 else proc.stderr.strip())
            time.sleep(0.1)

    def __enter__(self) -> "Admissions":
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(60)

    def wait_for(self, n: int) -> None:
        start = len(self.results)
        wait_until(lambda: len(self.results) >= start + n, 120, f"{n} more admissions")

    @property
    def failed(self) -> list[str]:
        return [r for r in self.results if r]


def _secret(kwok: KwokEnv, ns: str) -> Obj:
    (secret,) = [s.obj for s in pykube.Secret.objects(kwok.api, namespace=ns)
                 if s.labels.get("app.kubernetes.io/instance") == RELEASE and s.obj.get("type") == "kubernetes.io/tls"]
    return secret


def _bundle(kwok: KwokEnv) -> list[str]:
    """The PEM certificates of the release's caBundle, as the API server stores it."""
    (webhook,) = kwok.kubectl.json("get", "validatingwebhookconfigurations", "-l",
                                   f"app.kubernetes.io/instance={RELEASE}")["items"]
    pem = base64.b64decode(webhook["webhooks"][0]["clientConfig"]["caBundle"]).decode()
    return [f"-----BEGIN CERTIFICATE-----{c}" for c in pem.split("-----BEGIN CERTIFICATE-----")[1:]]


def _pem(secret: Obj, key: str) -> str:
    return base64.b64decode(secret["data"][key]).decode()


def _served(manager: Manager) -> str:
    """The certificate the manager's webhook server presents (PEM)."""
    context = ssl.create_default_context()
    context.check_hostname, context.verify_mode = False, ssl.CERT_NONE
    with socket.create_connection((manager.address, manager.webhook_port), timeout=5) as raw:
        with context.wrap_socket(raw) as tls:
            return ssl.DER_cert_to_PEM_cert(tls.getpeercert(binary_form=True))


def _same(a: str, b: str) -> bool:
    return "".join(a.split()) == "".join(b.split())


def _kubelet_sync(secret: Obj, workdir: Path) -> None:
    """What the kubelet does to a Secret volume: the pod's files become the Secret's."""
    certs = workdir / "k8s-webhook-server" / "serving-certs"
    for key in ("tls.crt", "tls.key"):
        tmp = certs / f".{key}.new"
        tmp.write_bytes(base64.b64decode(secret["data"][key]))
        tmp.replace(certs / key)


@pytest.fixture(scope="module")
def rotating(kwok: KwokEnv, helms: dict[str, Helm], tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Manager, str, Path, Helm]]:
    """The chart installed in its own namespace with its own controller id (other releases' webhooks skip its
    objects, it skips theirs) and the real manager serving its webhook; rotationStepSeconds 0, so each upgrade
    takes the next phase at once."""
    require_built(MANAGER.exists(), SELDON_OPERATOR_MISSING)
    if not apiserver_routes_to_endpoints(KwokCluster(kwok.name)):
        pytest.fail(f"the kwok cluster's kube-apiserver runs without {ROUTING_FLAG}: "
                    f"`scripts/cluster down --provider kwok --name {kwok.name}` and run again")
    helm = helms["helm4"]
    ns = f"rotation-{kwok.token}"
    pykube.Namespace(kwok.api, {"apiVersion": "v1", "kind": "Namespace",
                                "metadata": {"name": ns, "labels": {TEST_NAMESPACE_LABEL: "cluster-kwok"}}}).create()
    # No node matches the Deployment's pods: kwok would otherwise run them after every upgrade (helm restores
    # the replicas route_webhook took away) and the API server would send some calls to their fake addresses.
    values = {"crd": {"install": False}, "leaderElection": {"enabled": False}, "controllerId": f"rotation-{kwok.token}",
              "webhook": {"certificate": {"rotationStepSeconds": 0}},
              "nodeSelector": {"ml-serving-charts.io/no-such-pool": "the-manager-runs-on-the-host"}}
    helm.install(RELEASE, "seldon-operator", ns, values=values)
    try:
        objs = helm.manifest(RELEASE, ns)
        workdir = tmp_path_factory.mktemp("rotation-manager")
        account = find(objs, "ServiceAccount")["metadata"]["name"]
        kubeconfig = service_account_kubeconfig(kwok.kubectl, ns, account, workdir / "kubeconfig")
        with run_manager(kubeconfig, objs, ns, workdir) as manager:
            route_webhook(kwok.kubectl, objs, manager)
            try:
                yield manager, ns, workdir, helm
            finally:
                helm.uninstall(RELEASE, ns, wait=False, check=False)
    finally:
        helm.uninstall(RELEASE, ns, wait=False, check=False)
        kwok.kubectl("delete", "namespace", ns, "--wait=false", check=False)


def _valid_sdep(ns: str, controller_id: str) -> Obj:
    sd = find(render("seldon-model", values_files=[scenarios("seldon-model")["iris"]], release="probe", namespace=ns),
              "SeldonDeployment")
    return {"apiVersion": sd["apiVersion"], "kind": sd["kind"], "spec": sd["spec"],
            "metadata": {"name": "rotation-probe", "namespace": ns, "labels": {"seldon.io/controller-id": controller_id}}}


def test_rotation_under_write_load_fails_no_admission(kwok: KwokEnv, rotating: tuple[Manager, str, Path, Helm]) -> None:
    manager, ns, workdir, helm = rotating
    upgrade: Callable[[], Any] = lambda: helm.upgrade(RELEASE, "seldon-operator", ns, reuse_values=True,
                                                      extra=["--set", "webhook.certificate.rotationId=2026-12-05"])
    before = _secret(kwok, ns)
    old_ca, old_cert = _pem(before, "ca.crt"), _pem(before, "tls.crt")
    assert _same(_served(manager), old_cert)
    with Admissions(kwok, _valid_sdep(ns, f"rotation-{kwok.token}")) as load:
        load.wait_for(10)

        upgrade()   # 1. trusting: both CAs trusted, the old certificate still served
        trusting = _secret(kwok, ns)
        assert trusting["metadata"]["annotations"][PHASE] == "trusting"
        new_ca = _pem(trusting, "next-ca.crt")
        assert _same(_pem(trusting, "tls.crt"), old_cert) and not _same(new_ca, old_ca)
        assert [_same(c, x) for c, x in zip(_bundle(kwok), (old_ca, new_ca))] == [True, True]
        load.wait_for(10)

        upgrade()   # 2. switched: the Secret holds the new certificate; the pod still serves the old one
        switched = _secret(kwok, ns)
        assert switched["metadata"]["annotations"][PHASE] == "switched"
        new_cert = _pem(switched, "tls.crt")
        assert _same(_pem(switched, "ca.crt"), new_ca) and _same(_pem(switched, "previous-ca.crt"), old_ca)
        assert _same(_served(manager), old_cert)
        load.wait_for(10)                     # the kubelet's delay: old certificate, both CAs trusted
        _kubelet_sync(switched, workdir)
        wait_until(lambda: _same(_served(manager), new_cert), 60, "the manager to serve the new certificate")
        load.wait_for(10)

        upgrade()   # 3. done: the old CA leaves the bundle
        done = _secret(kwok, ns)
        assert PHASE not in done["metadata"]["annotations"] and "previous-ca.crt" not in done["data"]
        assert [_same(c, new_ca) for c in _bundle(kwok)] == [True]
        load.wait_for(10)
    print(f"admissions during the rotation: {len(load.results)}, failed: {len(load.failed)}")
    assert not load.failed, load.failed[:3]
    assert len(load.results) >= 50

    # The same upgrade once more: the rotation happened once.
    upgrade()
    assert _secret(kwok, ns)["data"] == done["data"]


def test_the_load_sees_a_distrusted_certificate(kwok: KwokEnv, rotating: tuple[Manager, str, Path, Helm]) -> None:
    """The check can fail: a caBundle without the served certificate's CA (what swapping CA and certificate in
    one step leaves until the pod has the new files) fails admissions."""
    manager, ns, workdir, helm = rotating
    (webhook,) = kwok.kubectl.json("get", "validatingwebhookconfigurations", "-l",
                                   f"app.kubernetes.io/instance={RELEASE}")["items"]
    stranger = find(render("seldon-operator", {"crd": {"install": False}}, release="stranger", namespace=ns), "Secret")
    def ca_bundle(value: str) -> None:
        patch = [{"op": "replace", "path": "/webhooks/0/clientConfig/caBundle", "value": value}]
        kwok.kubectl("patch", "validatingwebhookconfiguration", webhook["metadata"]["name"], "--type=json",
                     "-p", json.dumps(patch))
    ca_bundle(stranger["data"]["ca.crt"])
    try:
        with Admissions(kwok, _valid_sdep(ns, f"rotation-{kwok.token}")) as load:
            wait_until(lambda: bool(load.failed), 60, "an admission to fail against a CA that did not sign the certificate")
        assert "x509" in load.failed[0] and "unknown authority" in load.failed[0], load.failed[0]
    finally:
        ca_bundle(webhook["webhooks"][0]["clientConfig"]["caBundle"])
