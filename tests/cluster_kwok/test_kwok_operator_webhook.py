"""The seldon-operator webhook certificate survives `helm upgrade` (the chart finds its Secret with
`lookup`, which only sees a real cluster; upstream regenerates it on every render, SeldonIO/seldon-core
#2101, #3366), rotates exactly once when webhook.certificate.rotationId is set to a new value, over two upgrades
(the new CA is trusted before the new certificate is served, the old CA leaves afterwards; an upgrade sooner than
rotationStepSeconds keeps the phase), and is always trusted by the caBundle the API server uses to call the
webhook. Rotation under write load with the real manager: test_kwok_webhook_rotation.py. Under Helm 4 and Helm 3. The webhook's
Deployment runs no real operator here (kwok fakes the pods): the certificate is what is tested; in
test_kwok_operator.py the API server calls the real manager's webhook with such a certificate and verifies it."""
from __future__ import annotations

import base64
import subprocess
from pathlib import Path
from typing import Callable

import pykube
import pytest

from harness import CHARTS
from harness.cluster import Helm
from kwok_support import KwokEnv

pytestmark = [pytest.mark.cluster_kwok,
              pytest.mark.skipif(not (CHARTS / "seldon-operator").exists(), reason="no seldon-operator chart")]


def _tls(kwok: KwokEnv, release: str, ns: str) -> dict[str, str]:
    """The webhook Secret's ca.crt/tls.crt/tls.key (PEM), its rotation annotation, and the webhook
    configuration's caBundle, as the server stores them."""
    (secret,) = [s for s in pykube.Secret.objects(kwok.api, namespace=ns)
                 if s.labels.get("app.kubernetes.io/instance") == release and s.obj.get("type") == "kubernetes.io/tls"]
    (webhook,) = [w for w in kwok.kubectl.json("get", "validatingwebhookconfigurations",
                                               "-l", f"app.kubernetes.io/instance={release}")["items"]
                  if w["webhooks"][0]["clientConfig"]["service"]["namespace"] == ns]
    out = {k: base64.b64decode(v).decode() for k, v in secret.obj["data"].items()}
    out["rotation"] = (secret.annotations or {}).get("ml-serving-charts.io/rotation-id", "")
    out["phase"] = (secret.annotations or {}).get("ml-serving-charts.io/rotation-phase", "")
    out["caBundle"] = base64.b64decode(webhook["webhooks"][0]["clientConfig"]["caBundle"]).decode()
    out["service"] = f"{webhook['webhooks'][0]['clientConfig']['service']['name']}.{ns}.svc"
    return out


def _assert_serves(tls: dict[str, str], tmp: Path) -> None:
    """The API server would trust the webhook: caBundle holds the Secret's CA, the serving certificate chains
    to the bundle and names the Service."""
    assert tls["ca.crt"] in tls["caBundle"]
    (tmp / "ca.pem").write_text(tls["caBundle"])
    (tmp / "tls.pem").write_text(tls["tls.crt"])
    verify = subprocess.run(["openssl", "verify", "-CAfile", str(tmp / "ca.pem"), str(tmp / "tls.pem")],
                            capture_output=True, text=True)
    assert verify.returncode == 0, verify.stdout + verify.stderr
    names = subprocess.run(["openssl", "x509", "-noout", "-ext", "subjectAltName", "-in", str(tmp / "tls.pem")],
                           capture_output=True, text=True, check=True).stdout
    assert f"DNS:{tls['service']}" in names, names


def test_webhook_certificate_survives_upgrades_and_rotates_once(kwok: KwokEnv, helm: str, helm_cli: Helm,
                                                                namespace: Callable[..., str], tmp_path: Path) -> None:
    ns = namespace(f"webhook-{helm}")
    release = f"op-{helm[-1]}"
    base = {"crd": {"install": False}}
    try:
        helm_cli.install(release, "seldon-operator", ns, values=base)
        first = _tls(kwok, release, ns)
        _assert_serves(first, tmp_path)

        helm_cli.upgrade(release, "seldon-operator", ns, values={**base, "logLevel": "DEBUG"})
        assert _tls(kwok, release, ns) == first, "an ordinary upgrade changed the webhook certificate"

        rotate = {**base, "webhook": {"certificate": {"rotationId": "2026-11-28"}}}
        helm_cli.upgrade(release, "seldon-operator", ns, values=rotate)
        trusting = _tls(kwok, release, ns)   # 1. the new CA beside the old; the old certificate still served
        assert (trusting["phase"], trusting["rotation"]) == ("trusting", "2026-11-28")
        assert trusting["tls.crt"] == first["tls.crt"] and trusting["ca.crt"] == first["ca.crt"]
        assert trusting["next-ca.crt"] != first["ca.crt"]
        assert trusting["caBundle"] == first["ca.crt"] + trusting["next-ca.crt"]
        _assert_serves(trusting, tmp_path)

        # Sooner than rotationStepSeconds (default 120 s) after the last phase: nothing moves.
        helm_cli.upgrade(release, "seldon-operator", ns, values=rotate)
        assert _tls(kwok, release, ns) == trusting, "a phase was taken before rotationStepSeconds had passed"

        step = {**base, "webhook": {"certificate": {"rotationId": "2026-11-28", "rotationStepSeconds": 0}}}
        helm_cli.upgrade(release, "seldon-operator", ns, values=step)
        switched = _tls(kwok, release, ns)   # 2. the new certificate served, both CAs still trusted
        assert switched["phase"] == "switched"
        assert switched["tls.crt"] == trusting["next-tls.crt"] and switched["ca.crt"] == trusting["next-ca.crt"]
        assert switched["previous-ca.crt"] == first["ca.crt"]
        assert switched["caBundle"] == switched["ca.crt"] + first["ca.crt"]
        _assert_serves(switched, tmp_path)

        helm_cli.upgrade(release, "seldon-operator", ns, values=step)
        rotated = _tls(kwok, release, ns)    # 3. the old CA is gone
        assert rotated["phase"] == "" and rotated["caBundle"] == rotated["ca.crt"] == switched["ca.crt"]
        assert set(rotated) == set(first), "next-* or previous-* keys left in the Secret"
        assert rotated["rotation"] == "2026-11-28"
        _assert_serves(rotated, tmp_path)

        # The same rotationId again (passed, or reused by an upgrade that passes no values): no new rotation.
        helm_cli.upgrade(release, "seldon-operator", ns, values=step)
        assert _tls(kwok, release, ns) == rotated, "the same rotationId rotated the certificate again"
        helm_cli.upgrade(release, "seldon-operator", ns)
        assert _tls(kwok, release, ns) == rotated, "an upgrade without values rotated the certificate again"
        assert [r["revision"] for r in helm_cli.history(release, ns)] == [1, 2, 3, 4, 5, 6, 7, 8]
    finally:
        helm_cli.uninstall(release, ns, wait=False, check=False)
