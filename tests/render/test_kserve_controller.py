"""charts/kserve-controller rendered object by object: the manager, inferenceservice-config from typed values (every
image one built here), the ClusterServingRuntimes and their opt-in rule, the webhooks and their certificate, the
CRDs from the verified archive, RBAC and its integrations, monitoring, and every `fail` rule under both Helms.

The reuse of the webhook Secret across upgrades is ml-common.webhook.tls, shared with seldon-operator; it needs a
real API server (lookup sees nothing under `helm template`). Here the generation path is checked."""
from __future__ import annotations

import base64
import functools
import json
import subprocess
from pathlib import Path

import pytest
import yaml

from harness import ROOT, RenderError, find, find_all, render
from harness.paths import CRDS, PINS

pytestmark = pytest.mark.render

CHART = "kserve-controller"
NS = "kserve"
subprocess.run([str(ROOT / "scripts" / "place-crds"), CHART], check=True, capture_output=True)
UPSTREAM_CRDS = sorted((CRDS / "kserve").glob("*.yaml"))   # taken from the verified archive by scripts/bootstrap


@functools.cache
def _rendered(values_json: str, helm: str) -> tuple[dict, ...]:
    return tuple(render(CHART, json.loads(values_json), helm=helm, release="ks", namespace=NS))


def objs(values: dict | None = None, helm: str = "helm4") -> list[dict]:
    """The chart rendered (once per values and Helm: the six CRDs make a render ~2.5 MB of YAML)."""
    return list(_rendered(json.dumps(values or {}, sort_keys=True), helm))


def manager(rendered: list[dict]) -> dict:
    return find(rendered, "Deployment")["spec"]["template"]["spec"]["containers"][0]


def config(rendered: list[dict]) -> dict[str, dict]:
    """inferenceservice-config's keys, each parsed as the controller parses it (JSON)."""
    return {k: json.loads(v) for k, v in find(rendered, "ConfigMap", "inferenceservice-config")["data"].items()}


def render_error(values: dict, helm: str) -> str:
    with pytest.raises(RenderError) as err:
        objs(values, helm)
    return err.value.stderr


# ------------------------------------------------------------------ manager

def test_defaults_run_the_controller_built_here_in_standard_mode(helm: str) -> None:
    rendered = objs(helm=helm)
    container = manager(rendered)
    assert container["image"] == "docker.io/kserve/kserve-controller:v0.20.0"
    assert container["command"] == ["/manager"]
    assert container["args"] == ["--leader-elect", "--webhook-port=9443", "--metrics-addr=:8080",
                                 "--health-probe-addr=:8081", "--zap-log-level=info"]
    assert {e["name"] for e in container["env"]} == {"POD_NAMESPACE", "SECRET_NAME"}
    assert container["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "probes"}
    cfg = config(rendered)
    assert cfg["deploy"] == {"defaultDeploymentMode": "Standard"}
    assert cfg["ingress"]["disableIngressCreation"] is True
    # read in every mode: without ingressGateway v0.20.0's controller exits at start (found on kwok)
    assert cfg["ingress"]["ingressGateway"] and cfg["ingress"]["disableIstioVirtualHost"] is True


def test_every_default_image_is_one_built_here(helm: str) -> None:
    """The controller, router, storage initializer and both runtimes' servers are what `scripts/images` builds."""
    from msc.images.apps import APP_IMAGES
    from msc.images.kserve import KSERVE_IMAGES
    built = {f"docker.io/{ref}" if ref.count("/") == 1 else ref for ref in APP_IMAGES.values()} | \
        {ref for _, _, ref in KSERVE_IMAGES.values()}
    rendered = objs(helm=helm)
    cfg = config(rendered)
    images = {manager(rendered)["image"], cfg["router"]["image"], cfg["storageInitializer"]["image"],
              *(c["image"] for r in find_all(rendered, "ClusterServingRuntime") for c in r["spec"]["containers"])}
    assert images <= built, f"not built here: {images - built}"
    assert len(images) == 5


def test_config_keys_are_those_the_controller_reads(helm: str) -> None:
    cfg = config(objs(helm=helm))
    assert set(cfg) == {"deploy", "ingress", "storageInitializer", "credentials", "router", "agent", "logger",
                        "batcher", "explainers", "security", "metricsAggregator", "inferenceService", "autoscaler",
                        "localModel"}
    assert cfg["security"] == {"autoMountServiceAccountToken": False}
    assert cfg["credentials"]["s3"]["s3AccessKeyIDName"] == "AWS_ACCESS_KEY_ID"
    assert cfg["agent"]["image"] == cfg["logger"]["image"] == cfg["batcher"]["image"] == ""   # not built here
    assert cfg["explainers"] == {}


def test_images_follow_global_registry_and_digest(helm: str) -> None:
    rendered = objs({"global": {"imageRegistry": "mirror.example.com/m"},
                     "image": {"digest": "sha256:" + "a" * 64}}, helm)
    cfg = config(rendered)
    assert manager(rendered)["image"] == "mirror.example.com/m/kserve/kserve-controller@sha256:" + "a" * 64
    assert cfg["router"]["image"] == "mirror.example.com/m/kserve/router:v0.20.0"
    assert cfg["storageInitializer"]["image"] == "mirror.example.com/m/kserve/storage-initializer:v0.20.0"
    assert {c["image"] for r in find_all(rendered, "ClusterServingRuntime") for c in r["spec"]["containers"]} == {
        "mirror.example.com/m/kserve/sklearnserver:v0.20.0", "mirror.example.com/m/seldonio/mlserver:1.7.1-sklearn"}


def test_pod_is_restricted_and_scheduling_values_reach_it(helm: str) -> None:
    rendered = objs({"nodeSelector": {"pool": "system"}, "tolerations": [{"key": "system", "operator": "Exists"}],
                     "priorityClassName": "system-cluster-critical"}, helm)
    pod = find(rendered, "Deployment")["spec"]["template"]["spec"]
    assert pod["securityContext"]["runAsNonRoot"] is True and pod["automountServiceAccountToken"] is True
    sc = pod["containers"][0]["securityContext"]
    assert sc["readOnlyRootFilesystem"] is True and sc["capabilities"] == {"drop": ["ALL"]}
    assert pod["nodeSelector"] == {"pool": "system"} and pod["priorityClassName"] == "system-cluster-critical"
    assert find(rendered, "ServiceAccount")["automountServiceAccountToken"] is False


def test_a_config_change_restarts_the_controller() -> None:
    def checksum(values: dict) -> str:
        return find(objs(values), "Deployment")["spec"]["template"]["metadata"]["annotations"]["checksum/config"]
    assert checksum({}) != checksum({"config": {"router": {"cpuLimit": "2"}}})


# ------------------------------------------------------------------ runtimes

def test_default_runtimes_are_the_servers_built_here(helm: str) -> None:
    runtimes = {r["metadata"]["name"]: r for r in find_all(objs(helm=helm), "ClusterServingRuntime")}
    assert set(runtimes) == {"kserve-sklearnserver", "kserve-mlserver"}
    sk = runtimes["kserve-sklearnserver"]["spec"]
    assert sk["protocolVersions"] == ["v1", "v2"]
    assert sk["containers"][0]["args"] == ["--model_name={{.Name}}", "--model_dir=/mnt/models", "--http_port=8080"]
    ml = runtimes["kserve-mlserver"]["spec"]
    assert {f["name"] for f in ml["supportedModelFormats"]} == {"sklearn"}   # the image built here has sklearn only
    assert {e["name"]: e["value"] for e in ml["containers"][0]["env"]}["MLSERVER_MODEL_IMPLEMENTATION"] == \
        "{{.Labels.modelClass}}"
    for runtime in runtimes.values():
        assert runtime["metadata"]["annotations"]["helm.sh/hook"] == "post-install,post-upgrade"
        sc = runtime["spec"]["containers"][0]["securityContext"]
        assert sc["runAsNonRoot"] is True and sc["allowPrivilegeEscalation"] is False


def test_an_opt_in_runtime_needs_its_image(helm: str) -> None:
    err = render_error({"runtimes": {"xgbserver": {"enabled": True}}}, helm)
    assert "runtimes.xgbserver.enabled is true but runtimes.xgbserver.image.repository is empty" in err
    assert "set runtimes.xgbserver.image.repository" in err
    rendered = objs({"runtimes": {"xgbserver": {"enabled": True, "image": {"repository": "kserve/xgbserver"}}}}, helm)
    xgb = find(rendered, "ClusterServingRuntime", "kserve-xgbserver")
    assert xgb["spec"]["containers"][0]["image"] == "docker.io/kserve/xgbserver:v0.20.0"


# ------------------------------------------------------------------ webhooks and certificate

def test_webhooks_are_upstreams_and_point_at_the_service(helm: str) -> None:
    rendered = objs(helm=helm)
    mutating = find(rendered, "MutatingWebhookConfiguration")["webhooks"]
    validating = find(rendered, "ValidatingWebhookConfiguration")["webhooks"]
    assert {w["clientConfig"]["service"]["path"] for w in mutating} == {
        "/mutate-serving-kserve-io-v1beta1-inferenceservice", "/mutate-pods"}
    assert {w["rules"][0]["resources"][0] for w in validating} == {
        "inferenceservices", "trainedmodels", "inferencegraphs", "clusterservingruntimes", "servingruntimes"}
    service = find(rendered, "Service", "ks-kserve-controller-webhook")
    for hook in mutating + validating:
        assert hook["clientConfig"]["service"]["name"] == service["metadata"]["name"]
        assert hook["failurePolicy"] == "Fail"
    pods = next(w for w in mutating if w["name"].endswith("pod-mutator"))
    assert pods["objectSelector"]["matchExpressions"] == [{"key": "serving.kserve.io/inferenceservice",
                                                           "operator": "Exists"}]
    csr = next(w for w in validating if w["name"].startswith("clusterservingruntime"))
    assert csr["objectSelector"]["matchExpressions"] == [{"key": "app.kubernetes.io/instance", "operator": "NotIn",
                                                          "values": ["ks"]}]


def test_generated_certificate_covers_the_service_and_is_the_ca_bundle(helm: str, tmp_path: Path) -> None:
    rendered = objs(helm=helm)
    secret = find(rendered, "Secret")
    ca = base64.b64decode(secret["data"]["ca.crt"])
    for config_kind in ("MutatingWebhookConfiguration", "ValidatingWebhookConfiguration"):
        for hook in find(rendered, config_kind)["webhooks"]:
            assert base64.b64decode(hook["clientConfig"]["caBundle"]) == ca
    (tmp_path / "ca.pem").write_bytes(ca)
    (tmp_path / "tls.pem").write_bytes(base64.b64decode(secret["data"]["tls.crt"]))
    out = subprocess.run(["openssl", "verify", "-CAfile", str(tmp_path / "ca.pem"), str(tmp_path / "tls.pem")],
                         capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    text = subprocess.run(["openssl", "x509", "-noout", "-ext", "subjectAltName", "-in", str(tmp_path / "tls.pem")],
                          capture_output=True, text=True).stdout
    assert "DNS:ks-kserve-controller-webhook.kserve.svc" in text


def test_cert_manager_issues_the_certificate_and_injects_both_configurations(helm: str) -> None:
    rendered = objs({"certManager": {"enabled": True}}, helm)
    assert not find_all(rendered, "Secret")
    assert find(rendered, "Certificate")["spec"]["secretName"] == "ks-kserve-controller-webhook-cert-manager-tls"
    for config_kind in ("MutatingWebhookConfiguration", "ValidatingWebhookConfiguration"):
        conf = find(rendered, config_kind)
        assert conf["metadata"]["annotations"]["cert-manager.io/inject-ca-from"] == "kserve/ks-kserve-controller-webhook"
        assert all("caBundle" not in w["clientConfig"] for w in conf["webhooks"])


# ------------------------------------------------------------------ CRDs

def test_crds_are_upstreams_full_ones_and_kept(helm: str) -> None:
    crds = {c["metadata"]["name"]: c for c in find_all(objs(helm=helm), "CustomResourceDefinition")}
    assert set(crds) == {c["name"] for c in PINS["chart_crds"][CHART]}
    for path in UPSTREAM_CRDS:
        upstream = yaml.safe_load(path.read_text().lstrip("-\n"))
        ours = crds[upstream["metadata"]["name"]]
        assert ours["spec"] == upstream["spec"], path.name
        assert ours["metadata"]["annotations"]["helm.sh/resource-policy"] == "keep"
        assert ours["metadata"]["annotations"]["ml-serving-charts.io/crd-source"].startswith(
            "upstream: github.com/kserve/kserve v0.20.0")


def test_crd_install_false_renders_none() -> None:
    assert not find_all(objs({"crd": {"install": False}}), "CustomResourceDefinition")


# ------------------------------------------------------------------ RBAC

def grants(rendered: list[dict], kind: str) -> set[tuple[str, str, str]]:
    return {(g, r, v) for rule in find(rendered, kind)["rules"] for g in rule["apiGroups"]
            for r in rule["resources"] for v in rule["verbs"]}


def test_rbac_has_no_webhook_configuration_or_integration_rules_by_default(helm: str) -> None:
    rules = grants(objs(helm=helm), "ClusterRole")
    groups = {g for g, _, _ in rules}
    assert groups == {"serving.kserve.io", "apps", "", "autoscaling", "networking.k8s.io"}
    assert not {(g, r, v) for g, r, v in rules if r == "secrets" and v != "get"}
    assert ("serving.kserve.io", "inferenceservices", "create") not in rules
    assert all("*" not in (g, r, v) for g, r, v in rules)


def test_each_integration_adds_exactly_its_group() -> None:
    base = grants(objs(), "ClusterRole")
    for key, group in {"keda": "keda.sh", "gatewayApi": "gateway.networking.k8s.io", "istio": "networking.istio.io",
                       "knative": "serving.knative.dev", "openTelemetry": "opentelemetry.io"}.items():
        more = grants(objs({"rbac": {"integrations": {key: True}}}), "ClusterRole") - base
        assert more and {g for g, _, _ in more} == {group}, key


def test_leader_election_is_a_lease_by_name() -> None:
    role = find(objs(), "Role")
    named = [r for r in role["rules"] if r.get("resourceNames")]
    assert {(r["resources"][0], tuple(r["resourceNames"])) for r in named} == {
        ("leases", ("kserve-controller-manager-leader-lock",)), ("configmaps", ("inferenceservice-config",))}


# ------------------------------------------------------------------ monitoring and helm test

def test_service_monitor_scrapes_the_metrics_service(helm: str) -> None:
    rendered = objs({"metrics": {"serviceMonitor": {"enabled": True}}}, helm)
    monitor = find(rendered, "ServiceMonitor")
    service = find(rendered, "Service", "ks-kserve-controller-metrics")
    assert monitor["spec"]["selector"]["matchLabels"].items() <= service["metadata"]["labels"].items()
    assert monitor["spec"]["endpoints"][0]["port"] == "metrics"


def test_helm_test_pod_checks_metrics_and_webhook() -> None:
    pod = find(objs(), "Pod")
    script = pod["spec"]["containers"][0]["args"][0]
    assert "ks-kserve-controller-metrics:8080/metrics" in script and "ks-kserve-controller-webhook" in script


# ------------------------------------------------------------------ fail rules

@pytest.mark.parametrize(("values", "message"), [
    ({"replicaCount": 2, "leaderElection": {"enabled": False}},
     "replicaCount is 2 but leaderElection.enabled is false"),
    ({"pdb": {"enabled": True, "minAvailable": 1}}, "pdb.minAvailable is 1 with replicaCount 1"),
    ({"certManager": {"enabled": True}, "webhook": {"certificate": {"rotationId": "2026"}}},
     "webhook.certificate.rotationId is \"2026\" but certManager.enabled is true"),
    ({"config": {"ingress": {"enableGatewayApi": True}}},
     "config.ingress.enableGatewayApi is true but rbac.integrations.gatewayApi is false"),
    ({"extraEnv": [{"name": "POD_NAMESPACE", "value": "x"}]}, "extraEnv sets POD_NAMESPACE"),
])
def test_fail_rules_name_the_value_and_the_fix(values: dict, message: str, helm: str) -> None:
    assert message in render_error(values, helm)
