"""charts/seldon-operator rendered object by object: the manager and its environment, RBAC per watch scope,
the webhook and its certificate, the CRD, seldon-config, monitoring, and every `fail` rule under both Helms.

The reuse of an existing webhook Secret across `helm upgrade` needs a real API server (lookup sees nothing
under `helm template`); it belongs to the cluster-kwok tier. Here the generation path is checked: a valid
CA and serving certificate whose CA is the webhook's caBundle."""
from __future__ import annotations

import base64
import datetime
import json
import shutil
import subprocess
from pathlib import Path

import pytest

from harness import HELMS, ROOT, RenderError, chart_path, find, find_all, render, tool_env
from harness.paths import CRDS, PINS
from harness.render import load_all

pytestmark = pytest.mark.render

CHART = "seldon-operator"
NS = "seldon-system"
PLACE_CRDS = ROOT / "scripts" / "place-crds"
UPSTREAM_CRD = CRDS / "seldon-core" / "machinelearning.seldon.io_seldondeployments.yaml"   # built by scripts/bootstrap
# The chart renders its CRD from files/crds/, which scripts/place-crds fills (it is never committed).
subprocess.run([str(PLACE_CRDS), CHART], check=True, capture_output=True)


def objs(values: dict | None = None, helm: str = "helm4", **kwargs) -> list[dict]:
    return render(CHART, values or {}, helm=helm, release="so", namespace=NS, **kwargs)


def manager(rendered: list[dict]) -> dict:
    return find(rendered, "Deployment")["spec"]["template"]["spec"]["containers"][0]


def env(rendered: list[dict]) -> dict[str, str]:
    return {e["name"]: e.get("value") for e in manager(rendered)["env"]}


def render_error(values: dict, helm: str) -> str:
    with pytest.raises(RenderError) as err:
        objs(values, helm)
    return err.value.stderr


# ------------------------------------------------------------------ manager

def test_defaults_install_operator_and_executor_1_17_1(helm: str) -> None:
    rendered = objs(helm=helm)
    container = manager(rendered)
    assert container["image"] == "docker.io/seldonio/seldon-core-operator:1.17.1"
    assert container["command"] == ["/manager"]
    assert container["args"] == ["--enable-leader-election", "--webhook-port=4443", "--metrics-addr=:8080",
                                 "--create-resources=$(MANAGER_CREATE_RESOURCES)", "--log-level=INFO"]
    assert env(rendered)["EXECUTOR_CONTAINER_IMAGE_AND_VERSION"] == "docker.io/seldonio/seldon-core-executor:1.17.1"
    assert {p["name"]: p["containerPort"] for p in container["ports"]} == {"webhook-server": 4443, "metrics": 8080}


def test_manager_environment_comes_from_values() -> None:
    values = {"executor": {"enabled": False, "port": 8001, "prometheusPath": "/metrics", "user": 1000,
                           "resources": {"requests": {"cpu": "100m", "memory": "128Mi"},
                                         "limits": {"cpu": "1", "memory": "1Gi"}},
                           "requestLogger": {"defaultEndpoint": "http://broker.logs"}},
              "predictiveUnit": {"httpPort": 9100, "grpcPort": 9600, "metricsPortName": "prom"},
              "istio": {"enabled": True, "gateway": "gw/ns"}, "ambassador": {"enabled": True}, "keda": {"enabled": True},
              "controllerId": "team-a", "defaultUserId": ""}
    got = env(objs(values))
    assert got == got | {
        "USE_EXECUTOR": "false", "EXECUTOR_SERVER_PORT": "8001", "EXECUTOR_PROMETHEUS_PATH": "/metrics",
        "EXECUTOR_CONTAINER_USER": "1000", "EXECUTOR_DEFAULT_CPU_REQUEST": "100m", "EXECUTOR_DEFAULT_MEMORY_REQUEST": "128Mi",
        "EXECUTOR_DEFAULT_CPU_LIMIT": "1", "EXECUTOR_DEFAULT_MEMORY_LIMIT": "1Gi",
        "EXECUTOR_REQUEST_LOGGER_DEFAULT_ENDPOINT": "http://broker.logs", "PREDICTIVE_UNIT_HTTP_SERVICE_PORT": "9100",
        "PREDICTIVE_UNIT_GRPC_SERVICE_PORT": "9600", "PREDICTIVE_UNIT_METRICS_PORT_NAME": "prom",
        "ISTIO_ENABLED": "true", "ISTIO_GATEWAY": "gw/ns", "AMBASSADOR_ENABLED": "true", "AMBASSADOR_VERSION": "v1",
        "KEDA_ENABLED": "true",
        "CONTROLLER_ID": "team-a", "DEFAULT_USER_ID": "", "MANAGER_CREATE_RESOURCES": "false", "WATCH_NAMESPACE": ""}


def test_default_environment_matches_upstream_defaults() -> None:
    got = env(objs())
    assert got == got | {"USE_EXECUTOR": "true", "EXECUTOR_SERVER_PORT": "8000", "EXECUTOR_PROMETHEUS_PATH": "/prometheus",
                         "EXECUTOR_DEFAULT_CPU_REQUEST": "500m", "EXECUTOR_DEFAULT_MEMORY_LIMIT": "512Mi",
                         "EXECUTOR_REQUEST_LOGGER_DEFAULT_ENDPOINT": "http://default-broker",
                         "PREDICTIVE_UNIT_HTTP_SERVICE_PORT": "9000", "PREDICTIVE_UNIT_GRPC_SERVICE_PORT": "9500",
                         "PREDICTIVE_UNIT_METRICS_PORT_NAME": "metrics", "ISTIO_ENABLED": "false",
                         "AMBASSADOR_ENABLED": "false", "KEDA_ENABLED": "false", "DEFAULT_USER_ID": "8888",
                         # main.go's scheme and SetupWithManager disagree when unset (v1 and v2): upstream sets v1
                         "AMBASSADOR_VERSION": "v1"}
    pod_namespace = next(e for e in manager(objs())["env"] if e["name"] == "POD_NAMESPACE")
    assert pod_namespace["valueFrom"] == {"fieldRef": {"fieldPath": "metadata.namespace"}}


def test_images_follow_registry_digest_and_global_overrides(helm: str) -> None:
    digest = "sha256:" + "a" * 64
    rendered = objs({"global": {"imageRegistry": "mirror.local"},
                     "image": {"registry": "ignored.io", "repository": "ops/op", "digest": digest},
                     "executor": {"image": {"repository": "ops/ex", "tag": "1.17.1-fix"}}}, helm)
    assert manager(rendered)["image"] == f"mirror.local/ops/op@{digest}"
    assert env(rendered)["EXECUTOR_CONTAINER_IMAGE_AND_VERSION"] == "mirror.local/ops/ex:1.17.1-fix"


def test_a_bsl_version_is_an_allowed_override() -> None:
    rendered = objs({"image": {"tag": "1.18.2"}, "executor": {"image": {"tag": "1.18.2"}}})
    assert manager(rendered)["image"].endswith(":1.18.2")


def test_pod_is_restricted_and_only_the_manager_gets_a_token() -> None:
    rendered = objs()
    pod = find(rendered, "Deployment")["spec"]["template"]["spec"]
    assert pod["automountServiceAccountToken"] is True
    assert find(rendered, "ServiceAccount")["automountServiceAccountToken"] is False
    assert pod["securityContext"]["runAsUser"] == 8888, "upstream's manager user"
    assert pod["securityContext"]["runAsNonRoot"] is True
    sc = manager(rendered)["securityContext"]
    assert sc["readOnlyRootFilesystem"] is True and sc["allowPrivilegeEscalation"] is False
    mounts = {m["mountPath"]: m["name"] for m in manager(rendered)["volumeMounts"]}
    assert mounts == {"/tmp/k8s-webhook-server/serving-certs": "webhook-cert", "/tmp": "tmp"}


def test_probes_are_tcp_on_the_webhook_port() -> None:
    container = manager(objs({"livenessProbe": {"periodSeconds": 7}}))
    assert container["readinessProbe"]["tcpSocket"] == {"port": "webhook-server"}
    assert container["livenessProbe"]["tcpSocket"] == {"port": "webhook-server"}
    assert container["livenessProbe"]["periodSeconds"] == 7


def test_scheduling_values_reach_the_pod(helm: str) -> None:
    affinity = {"podAntiAffinity": {"preferredDuringSchedulingIgnoredDuringExecution": [
        {"weight": 100, "podAffinityTerm": {"topologyKey": "kubernetes.io/hostname",
                                            "labelSelector": {"matchLabels": {"app": "x"}}}}]}}
    tolerations = [{"key": "dedicated", "operator": "Equal", "value": "ops", "effect": "NoSchedule"}]
    pod = find(objs({"nodeSelector": {"pool": "ops"}, "tolerations": tolerations, "affinity": affinity,
                     "priorityClassName": "ops-critical", "global": {"imagePullSecrets": ["a"]},
                     "imagePullSecrets": [{"name": "b"}, "a"]}, helm), "Deployment")["spec"]["template"]["spec"]
    assert pod["nodeSelector"] == {"pool": "ops"}
    assert pod["tolerations"] == tolerations
    assert pod["affinity"] == affinity
    assert pod["priorityClassName"] == "ops-critical"
    assert pod["imagePullSecrets"] == [{"name": "a"}, {"name": "b"}]


def test_ha_scenario_spreads_two_replicas_with_a_pdb(helm: str) -> None:
    rendered = render(CHART, values_files=[chart_path(CHART) / "ci" / "ha-values.yaml"], helm=helm)
    deployment = find(rendered, "Deployment")
    selector = deployment["spec"]["selector"]["matchLabels"]
    assert deployment["spec"]["replicas"] == 2
    assert "--enable-leader-election" in manager(rendered)["args"]
    constraints = deployment["spec"]["template"]["spec"]["topologySpreadConstraints"]
    assert [c["topologyKey"] for c in constraints] == ["kubernetes.io/hostname", "topology.kubernetes.io/zone"]
    assert all(c["labelSelector"] == {"matchLabels": selector} for c in constraints)
    pdb = find(rendered, "PodDisruptionBudget")
    assert pdb["spec"] == {"minAvailable": 1, "selector": {"matchLabels": selector}}


def test_topology_spread_keeps_a_given_label_selector_and_pdb_takes_max_unavailable() -> None:
    own = {"maxSkew": 2, "topologyKey": "zone", "whenUnsatisfiable": "DoNotSchedule",
           "labelSelector": {"matchLabels": {"team": "ops"}}}
    rendered = objs({"replicaCount": 3, "topologySpreadConstraints": [own],
                     "pdb": {"enabled": True, "minAvailable": "", "maxUnavailable": "34%"}})
    assert find(rendered, "Deployment")["spec"]["template"]["spec"]["topologySpreadConstraints"] == [own]
    assert find(rendered, "PodDisruptionBudget")["spec"]["maxUnavailable"] == "34%"
    assert "minAvailable" not in find(rendered, "PodDisruptionBudget")["spec"]


def test_leader_election_can_be_turned_off_for_one_replica() -> None:
    rendered = objs({"leaderElection": {"enabled": False}})
    assert not any(a.startswith("--enable-leader-election") for a in manager(rendered)["args"])
    local = find(rendered, "Role", "so-seldon-operator-manager-local")
    assert local["rules"] == [{"apiGroups": [""], "resources": ["configmaps"], "resourceNames": ["seldon-config"],
                               "verbs": ["get"]}], "no lock rules without a lock"


def test_leader_election_id_is_passed_when_set() -> None:
    assert "--leader-election-id=ops.seldon" in manager(objs({"leaderElection": {"id": "ops.seldon"}}))["args"]


# ------------------------------------------------------------------ RBAC and watch scope

def rules_by_group(role: dict) -> dict[str, set[str]]:
    out: dict[str, set[str]] = {}
    for rule in role["rules"]:
        for group in rule["apiGroups"]:
            out.setdefault(group, set()).update(rule["resources"])
    return out


def grants(role: dict) -> set[tuple[str, str, str, str]]:
    """(apiGroup, resource, resourceName or "*", verb) for every permission the role grants."""
    return {(group, resource, name, verb) for rule in role["rules"] for group in rule["apiGroups"]
            for resource in rule["resources"] for name in rule.get("resourceNames") or ["*"] for verb in rule["verbs"]}


def spread(group: str, resources: str, verbs: str, names: str = "*") -> set[tuple[str, str, str, str]]:
    return {(group, r, n, v) for r in resources.split() for n in names.split() for v in verbs.split()}


CRUD = "list watch create update delete"     # children: read through the cache, written, never patched
# Exactly the calls Seldon Core 1.17.1's manager makes (the README's "Security" section gives the reason for each).
MANAGER_GRANTS = (spread("machinelearning.seldon.io", "seldondeployments", "list watch")
                  | spread("machinelearning.seldon.io", "seldondeployments/status seldondeployments/finalizers", "update")
                  | spread("apps", "deployments", CRUD) | spread("", "services", CRUD)
                  | spread("autoscaling", "horizontalpodautoscalers", CRUD) | spread("policy", "poddisruptionbudgets", CRUD)
                  | spread("", "serviceaccounts secrets", "get") | spread("", "configmaps", "list watch")
                  | spread("", "events", "create patch"))
LOCK = "a33bd623.machinelearning.seldon.io"


def lock_grants(lock: str) -> set[tuple[str, str, str, str]]:
    return spread("coordination.k8s.io", "leases", "create") | spread("coordination.k8s.io", "leases", "get update", lock) \
        | spread("", "configmaps", "create") | spread("", "configmaps", "get update", lock)


def test_cluster_wide_rbac_is_exactly_what_the_manager_calls(helm: str) -> None:
    rendered = objs(helm=helm)
    role = find(rendered, "ClusterRole")
    assert role["metadata"]["name"] == f"so-seldon-operator-{NS}-manager", "cluster-scoped names carry the namespace"
    assert grants(role) == MANAGER_GRANTS | spread("", "namespaces", "list watch")
    binding = find(rendered, "ClusterRoleBinding")
    assert binding["roleRef"] == {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": role["metadata"]["name"]}
    assert binding["subjects"] == [{"kind": "ServiceAccount", "name": "so-seldon-operator", "namespace": NS}]
    local = find(rendered, "Role", "so-seldon-operator-manager-local")
    assert grants(local) == spread("", "configmaps", "get", "seldon-config") | lock_grants(LOCK)
    assert find(rendered, "RoleBinding")["subjects"] == binding["subjects"]


def test_no_rule_lets_the_operator_enumerate_secrets_or_use_wildcards(helm: str) -> None:
    for values in ({}, {"singleNamespace": True}, {"istio": {"enabled": True}, "keda": {"enabled": True}}):
        for role in find_all(objs(values, helm), "ClusterRole") + find_all(objs(values, helm), "Role"):
            granted = grants(role)
            assert not {g for g in granted if g[1] == "secrets" and g[3] != "get"}, (values, role["metadata"]["name"])
            assert not {g for g in granted if "*" in (g[0], g[1], g[3])}, (values, role["metadata"]["name"])


def test_leader_election_lock_rules_follow_its_id_and_go_with_it() -> None:
    local = find(objs({"leaderElection": {"id": "ops.seldon"}}), "Role", "so-seldon-operator-manager-local")
    assert grants(local) == spread("", "configmaps", "get", "seldon-config") | lock_grants("ops.seldon")


def test_istio_and_keda_add_exactly_their_rules() -> None:
    granted = grants(find(objs({"istio": {"enabled": True}, "keda": {"enabled": True}}), "ClusterRole"))
    assert granted - grants(find(objs(), "ClusterRole")) == (
        spread("keda.sh", "scaledobjects", CRUD) | spread("networking.istio.io", "virtualservices", CRUD)
        | spread("networking.istio.io", "destinationrules", "list watch create update"))


def test_single_namespace_uses_roles_and_scopes_the_webhook(helm: str) -> None:
    rendered = objs({"singleNamespace": True}, helm)
    assert not find_all(rendered, "ClusterRole") and not find_all(rendered, "ClusterRoleBinding")
    role = find(rendered, "Role", "so-seldon-operator-manager")
    assert role["metadata"]["namespace"] == NS
    assert grants(role) == MANAGER_GRANTS, "the same rules, in the release namespace; no cluster-scoped reads"
    binding = find(rendered, "RoleBinding", "so-seldon-operator-manager")
    assert binding["roleRef"]["kind"] == "Role"
    assert env(rendered)["WATCH_NAMESPACE"] == NS
    webhook = find(rendered, "ValidatingWebhookConfiguration")["webhooks"][0]
    assert webhook["namespaceSelector"] == {"matchLabels": {"kubernetes.io/metadata.name": NS}}


def test_cluster_wide_webhook_skips_other_operators_namespaces_and_objects() -> None:
    webhook = find(objs(), "ValidatingWebhookConfiguration")["webhooks"][0]
    not_labelled = {"matchExpressions": [{"key": "seldon.io/controller-id", "operator": "DoesNotExist"}]}
    assert webhook["namespaceSelector"] == not_labelled
    assert webhook["objectSelector"] == not_labelled
    labelled = find(objs({"controllerId": "team-a"}), "ValidatingWebhookConfiguration")["webhooks"][0]
    assert labelled["objectSelector"] == {"matchLabels": {"seldon.io/controller-id": "team-a"}}


def test_two_releases_of_the_same_name_in_two_namespaces_do_not_collide() -> None:
    def cluster_names(namespace: str) -> set[str]:
        rendered = render(CHART, {"crd": {"install": False}}, release="so", namespace=namespace)
        return {o["metadata"]["name"] for o in rendered if "namespace" not in o["metadata"]}
    assert cluster_names("team-a").isdisjoint(cluster_names("team-b"))


def test_existing_service_account_and_no_rbac() -> None:
    rendered = objs({"serviceAccount": {"create": False, "name": "ops-sa"}})
    assert not find_all(rendered, "ServiceAccount")
    assert find(rendered, "Deployment")["spec"]["template"]["spec"]["serviceAccountName"] == "ops-sa"
    assert find(rendered, "ClusterRoleBinding")["subjects"][0]["name"] == "ops-sa"
    bare = objs({"rbac": {"create": False}})
    assert not [o for o in bare if o["kind"] in {"Role", "RoleBinding", "ClusterRole", "ClusterRoleBinding"}]


# ------------------------------------------------------------------ webhook and certificate

def pem(b64: str) -> bytes:
    return base64.b64decode(b64)


def openssl(*args: str, stdin: bytes = b"") -> str:
    if not shutil.which("openssl"):
        pytest.skip("openssl not installed")
    proc = subprocess.run(["openssl", *args], input=stdin, capture_output=True)
    assert proc.returncode == 0, proc.stderr.decode()
    return proc.stdout.decode()


def test_webhook_service_targets_the_manager(helm: str) -> None:
    rendered = objs(helm=helm)
    service = find(rendered, "Service", "so-seldon-operator-webhook")
    assert service["spec"]["ports"] == [{"name": "https", "port": 443, "targetPort": "webhook-server", "protocol": "TCP"}]
    assert service["spec"]["selector"] == find(rendered, "Deployment")["spec"]["selector"]["matchLabels"]
    webhook = find(rendered, "ValidatingWebhookConfiguration")["webhooks"]
    assert [w["name"] for w in webhook] == ["v1.vseldondeployment.kb.io"]
    assert webhook[0]["clientConfig"]["service"] == {"name": "so-seldon-operator-webhook", "namespace": NS,
                                                     "path": "/validate-machinelearning-seldon-io-v1-seldondeployment", "port": 443}
    assert webhook[0]["failurePolicy"] == "Fail" and webhook[0]["sideEffects"] == "None"
    assert webhook[0]["rules"][0]["operations"] == ["CREATE", "UPDATE"]


def test_failure_policy_is_configurable() -> None:
    webhook = find(objs({"webhook": {"failurePolicy": "Ignore", "timeoutSeconds": 3}}), "ValidatingWebhookConfiguration")
    assert webhook["webhooks"][0]["failurePolicy"] == "Ignore" and webhook["webhooks"][0]["timeoutSeconds"] == 3


def test_generated_certificate_is_valid_for_the_service_and_is_the_ca_bundle(helm: str, tmp_path: Path) -> None:
    rendered = objs(helm=helm)
    secret = find(rendered, "Secret", "so-seldon-operator-webhook-tls")
    assert secret["type"] == "kubernetes.io/tls" and set(secret["data"]) == {"ca.crt", "tls.crt", "tls.key"}
    webhook = find(rendered, "ValidatingWebhookConfiguration")["webhooks"][0]
    assert webhook["clientConfig"]["caBundle"] == secret["data"]["ca.crt"], "the API server must trust exactly this CA"
    volume = next(v for v in find(rendered, "Deployment")["spec"]["template"]["spec"]["volumes"] if v["name"] == "webhook-cert")
    assert volume["secret"]["secretName"] == secret["metadata"]["name"]
    (tmp_path / "ca.crt").write_bytes(pem(secret["data"]["ca.crt"]))
    (tmp_path / "tls.crt").write_bytes(pem(secret["data"]["tls.crt"]))
    assert "tls.crt: OK" in openssl("verify", "-CAfile", str(tmp_path / "ca.crt"), str(tmp_path / "tls.crt"))
    sans = openssl("x509", "-noout", "-ext", "subjectAltName", "-in", str(tmp_path / "tls.crt")).split("\n", 1)[1]
    assert [s.strip() for s in sans.split(",")] == [
        "DNS:so-seldon-operator-webhook", f"DNS:so-seldon-operator-webhook.{NS}", f"DNS:so-seldon-operator-webhook.{NS}.svc",
        f"DNS:so-seldon-operator-webhook.{NS}.svc.cluster.local"]
    cert_key = openssl("x509", "-noout", "-pubkey", "-in", str(tmp_path / "tls.crt"))
    assert cert_key == openssl("pkey", "-pubout", stdin=pem(secret["data"]["tls.key"])), "tls.key belongs to tls.crt"


def test_recorded_expiry_is_the_certificates_and_reaches_prometheus(tmp_path: Path) -> None:
    """The Secret's ml-serving-charts.io/not-after is the served certificate's notAfter, and metrics.certificateRule
    records it as seldon_operator_webhook_certificate_expiry_timestamp_seconds (ml-monitoring alerts on it)."""
    rendered = objs({"metrics": {"certificateRule": {"enabled": True}}, "webhook": {"certificate": {"validityDays": 30}}})
    secret = find(rendered, "Secret", "so-seldon-operator-webhook-tls")
    not_after = int(secret["metadata"]["annotations"]["ml-serving-charts.io/not-after"])
    (tmp_path / "tls.crt").write_bytes(pem(secret["data"]["tls.crt"]))
    end = openssl("x509", "-noout", "-enddate", "-dateopt", "iso_8601", "-in", str(tmp_path / "tls.crt")).split("=", 1)[1]
    actual = datetime.datetime.fromisoformat(end.strip().replace("Z", "+00:00")).timestamp()
    assert abs(actual - not_after) <= 60, (end, not_after)
    (group,) = find(rendered, "PrometheusRule")["spec"]["groups"]
    assert group["rules"] == [{"record": "seldon_operator_webhook_certificate_expiry_timestamp_seconds",
                               "expr": f"vector({not_after})",
                               "labels": {"namespace": NS, "service": "so-seldon-operator-webhook"}}]
    managed = find(objs({"certManager": {"enabled": True}, "metrics": {"certificateRule": {"enabled": True}}}),
                   "PrometheusRule")["spec"]["groups"][0]["rules"][0]
    assert managed["expr"] == ("max by (namespace) (certmanager_certificate_expiration_timestamp_seconds"
                               f'{{namespace="{NS}", name="so-seldon-operator-webhook"}})')
    assert not find_all(objs(), "PrometheusRule"), "off by default (it needs the prometheus-operator CRDs)"


def test_certificate_validity_follows_values(tmp_path: Path) -> None:
    secret = find(objs({"webhook": {"certificate": {"validityDays": 30}}}), "Secret")
    (tmp_path / "tls.crt").write_bytes(pem(secret["data"]["tls.crt"]))
    assert openssl("x509", "-noout", "-checkend", str(29 * 86400), "-in", str(tmp_path / "tls.crt"))
    if shutil.which("openssl"):
        expired_soon = subprocess.run(["openssl", "x509", "-noout", "-checkend", str(31 * 86400), "-in", str(tmp_path / "tls.crt")],
                                      capture_output=True)
        assert expired_soon.returncode == 1, "a 30-day certificate must not last 31 days"


def test_rotation_id_is_remembered_on_the_secret() -> None:
    # Without a cluster every render generates; what is checked here is that a rotation id renders a
    # consistent Secret/caBundle pair and lands on the Secret, where the next upgrade's lookup finds it
    # (the reuse-versus-rotate choice itself is exercised against a real API server in the kwok tier).
    rendered = objs({"webhook": {"certificate": {"rotationId": 20261128}}})
    secret = find(rendered, "Secret")
    annotations = secret["metadata"]["annotations"]
    assert annotations["ml-serving-charts.io/rotation-id"] == "20261128"
    assert set(annotations) == {"ml-serving-charts.io/rotation-id", "ml-serving-charts.io/not-after"}, \
        "a first render starts no rotation phase"
    assert find(rendered, "ValidatingWebhookConfiguration")["webhooks"][0]["clientConfig"]["caBundle"] == secret["data"]["ca.crt"]
    assert find(objs(), "Secret")["metadata"]["annotations"]["ml-serving-charts.io/rotation-id"] == "", "no id, none remembered"


def test_cert_manager_issues_the_certificate(helm: str) -> None:
    rendered = render(CHART, values_files=[ROOT / "values" / CHART / "cert-manager.yaml"], helm=helm,
                      release="so", namespace=NS)
    assert not find_all(rendered, "Secret"), "cert-manager owns the Secret"
    issuer = find(rendered, "Issuer")
    assert issuer["spec"] == {"selfSigned": {}}
    certificate = find(rendered, "Certificate")
    assert certificate["spec"]["issuerRef"] == {"kind": "Issuer", "name": issuer["metadata"]["name"]}
    assert certificate["spec"]["dnsNames"] == ["so-seldon-operator-webhook", f"so-seldon-operator-webhook.{NS}",
                                              f"so-seldon-operator-webhook.{NS}.svc", f"so-seldon-operator-webhook.{NS}.svc.cluster.local"]
    assert certificate["spec"]["duration"] == "2160h" and certificate["spec"]["renewBefore"] == "360h"
    volume = next(v for v in find(rendered, "Deployment")["spec"]["template"]["spec"]["volumes"] if v["name"] == "webhook-cert")
    assert volume["secret"]["secretName"] == certificate["spec"]["secretName"] == "so-seldon-operator-webhook-cert-manager-tls"
    vwc = find(rendered, "ValidatingWebhookConfiguration")
    assert vwc["metadata"]["annotations"]["cert-manager.io/inject-ca-from"] == f"{NS}/{certificate['metadata']['name']}"
    assert "caBundle" not in vwc["webhooks"][0]["clientConfig"], "cainjector fills it"


# ------------------------------------------------------------------ CRD

def test_crd_is_rendered_from_the_placed_file_and_kept_on_uninstall(helm: str) -> None:
    crd = find(objs(helm=helm), "CustomResourceDefinition")
    (source,) = load_all(UPSTREAM_CRD.read_text())
    assert crd["metadata"]["name"] == "seldondeployments.machinelearning.seldon.io"
    assert crd["spec"] == source["spec"], "the CRD's spec is the placed file's, unchanged"
    annotations = crd["metadata"]["annotations"]
    assert annotations["helm.sh/resource-policy"] == "keep"
    assert annotations["ml-serving-charts.io/crd-source"] == f"upstream: {PINS['chart_crds'][CHART][0]['upstream']}"
    assert "v1.17.1" in annotations["ml-serving-charts.io/crd-source"]
    assert [v["name"] for v in crd["spec"]["versions"]] == ["v1", "v1alpha2", "v1alpha3"]
    assert crd["metadata"]["labels"]["app.kubernetes.io/component"] == "crd"


def test_crd_install_false_skips_it_and_keep_false_drops_the_policy() -> None:
    assert not find_all(objs({"crd": {"install": False}}), "CustomResourceDefinition")
    crd = find(objs({"crd": {"keep": False, "annotations": {"team": "ml"}}}), "CustomResourceDefinition")
    assert "helm.sh/resource-policy" not in crd["metadata"]["annotations"]
    assert crd["metadata"]["annotations"]["team"] == "ml"


@pytest.fixture(scope="module")
def chart_without_crd(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of the chart (and ml-common beside it) whose files/crds/ was never filled."""
    charts = tmp_path_factory.mktemp("charts")
    for name in (CHART, "ml-common"):
        shutil.copytree(chart_path(name), charts / name, ignore=shutil.ignore_patterns("crds", "charts", "Chart.lock"))
    return charts / CHART


def test_missing_crd_fails_with_the_fix(chart_without_crd: Path, helm: str) -> None:
    with pytest.raises(RenderError) as err:
        render(chart_without_crd, {}, helm=helm)
    assert "crd.install is true but the chart has no CRD in files/crds/: run scripts/place-crds seldon-operator" in err.value.stderr
    assert find_all(render(chart_without_crd, {"crd": {"install": False}}, helm=helm), "Deployment")


# ------------------------------------------------------------------ seldon-config and monitoring

def test_seldon_config_carries_the_prepackaged_servers(helm: str) -> None:
    data = find(objs(helm=helm), "ConfigMap", "seldon-config")["data"]
    servers = json.loads(data["predictor_servers"])
    assert set(servers) == {"SKLEARN_SERVER", "XGBOOST_SERVER", "MLFLOW_SERVER", "TENSORFLOW_SERVER", "TRITON_SERVER",
                            "HUGGINGFACE_SERVER", "TEMPO_SERVER"}
    assert servers["SKLEARN_SERVER"]["protocols"]["seldon"] == {"image": "docker.io/seldonio/sklearnserver", "defaultImageVersion": "1.17.1"}
    assert servers["SKLEARN_SERVER"]["protocols"]["v2"] == {"image": "docker.io/seldonio/mlserver", "defaultImageVersion": "1.7.1-sklearn"}
    assert servers["XGBOOST_SERVER"]["protocols"] == {
        "seldon": {"image": "docker.io/seldonio/xgboostserver", "defaultImageVersion": "1.17.1"},
        "v2": {"image": "docker.io/seldonio/mlserver", "defaultImageVersion": "1.7.1-xgboost"}}, "the images scripts/images builds"
    assert servers["TENSORFLOW_SERVER"]["protocols"]["tensorflow"]["image"] == "docker.io/tensorflow/serving"
    assert set(servers["TRITON_SERVER"]["protocols"]) == {"v2"}
    # Written out with docker.io, where the values name no registry (ml-common.images.qualify).
    assert servers["TRITON_SERVER"]["protocols"]["v2"]["image"] == "nvcr.io/nvidia/tritonserver"
    assert json.loads(data["storageInitializer"])["image"] == "docker.io/seldonio/rclone-storage-initializer:1.17.1"
    assert json.loads(data["explainer"]) == {"image": "docker.io/seldonio/alibiexplainer:1.17.1",
                                             "image_v2": "docker.io/seldonio/mlserver:1.3.5-alibi-explain"}
    assert json.loads(data["credentials"])["s3"]["s3AccessKeyIDName"] == "awsAccessKeyID"


def test_custom_images_scenario_points_every_image_at_the_mirror(helm: str) -> None:
    rendered = render(CHART, values_files=[ROOT / "values" / CHART / "custom-images.yaml"], helm=helm)
    mirror = "registry.example.com/mirror/"
    servers = json.loads(find(rendered, "ConfigMap", "seldon-config")["data"]["predictor_servers"])
    images = [p["image"] for s in servers.values() for p in s["protocols"].values()]
    config = find(rendered, "ConfigMap", "seldon-config")["data"]
    images += [json.loads(config["storageInitializer"])["image"], *json.loads(config["explainer"]).values()]
    images += [c["image"] for o in rendered if o["kind"] in {"Deployment", "Pod"}
               for c in (o["spec"].get("template", {}).get("spec") or o["spec"])["containers"]]
    images.append(env(rendered)["EXECUTOR_CONTAINER_IMAGE_AND_VERSION"])
    assert images and all(i.startswith(mirror) for i in images), [i for i in images if not i.startswith(mirror)]
    assert f"{mirror}nvidia/tritonserver" in images and f"{mirror}seldonio/rclone-storage-initializer:1.17.1" in images
    assert find(rendered, "Deployment")["spec"]["template"]["spec"]["imagePullSecrets"] == [{"name": "mirror-pull"}, {"name": "operator-pull"}]


def test_service_monitor_scrapes_the_metrics_service(helm: str) -> None:
    rendered = objs({"metrics": {"serviceMonitor": {"enabled": True, "labels": {"release": "prom", "app.kubernetes.io/name": "x"},
                                                    "interval": "15s"}}}, helm)
    service = find(rendered, "Service", "so-seldon-operator-metrics")
    monitor = find(rendered, "ServiceMonitor")
    assert monitor["spec"]["selector"]["matchLabels"].items() <= service["metadata"]["labels"].items()
    assert monitor["spec"]["namespaceSelector"] == {"matchNames": [NS]}
    assert monitor["spec"]["endpoints"] == [{"port": "metrics", "path": "/metrics", "interval": "15s", "scrapeTimeout": "10s"}]
    assert monitor["metadata"]["labels"]["release"] == "prom"
    assert monitor["metadata"]["labels"]["app.kubernetes.io/name"] == "seldon-operator", "the chart's labels win"
    assert service["spec"]["ports"][0]["targetPort"] == "metrics"
    assert not find_all(objs(), "ServiceMonitor"), "off by default"


def test_helm_test_pod_checks_metrics_and_webhook() -> None:
    pod = find(objs(), "Pod")
    assert pod["metadata"]["annotations"]["helm.sh/hook"] == "test"
    assert pod["spec"]["automountServiceAccountToken"] is False
    script = pod["spec"]["containers"][0]["args"][0]
    assert "http://so-seldon-operator-metrics:8080/metrics" in script
    assert "webhook=so-seldon-operator-webhook" in script
    assert 'nc -z -w 10 "$webhook" 443' in script, "busybox images probe the webhook port"
    assert 'curl -sk -m 10 -o /dev/null "https://$webhook:443/"' in script, "Debian images have curl, not nc"


# ------------------------------------------------------------------ NOTES (Helm 4 renders them offline)

def notes(values: dict) -> str:
    proc = subprocess.run([str(HELMS["helm4"]), "install", "so", str(chart_path(CHART)), "--dry-run=client", "-n", NS,
                           "--values", "-"], input=json.dumps(values), capture_output=True, text=True, env=tool_env())
    assert proc.returncode == 0, proc.stderr
    return proc.stdout.split("NOTES:", 1)[1]


def test_notes_warn_about_the_business_source_license_only_for_1_18_and_later() -> None:
    assert "Business Source License" not in notes({})
    text = notes({"executor": {"image": {"tag": "1.18.2"}}})
    assert "WARNING: the Seldon Core executor 1.18.2 is licensed under the Business Source License 1.1" in text
    assert "operator 1.17.1" not in text.split("WARNING")[1]


def test_notes_say_how_to_rotate_the_certificate() -> None:
    assert "--set webhook.certificate.rotationId=$(date +%F)" in notes({})
    assert "issued by cert-manager" in notes({"certManager": {"enabled": True}})


# ------------------------------------------------------------------ fail rules (both Helms)

@pytest.mark.parametrize(("values", "message"), [
    ({"replicaCount": 2, "leaderElection": {"enabled": False}},
     "replicaCount is 2 but leaderElection.enabled is false: every replica would reconcile the same SeldonDeployments"),
    ({"pdb": {"enabled": True, "minAvailable": 1, "maxUnavailable": 1}, "replicaCount": 2},
     "pdb sets minAvailable (\"1\") and maxUnavailable (\"1\"): a PodDisruptionBudget takes exactly one"),
    ({"pdb": {"enabled": True, "minAvailable": "", "maxUnavailable": ""}},
     "pdb sets minAvailable (\"\") and maxUnavailable (\"\"): a PodDisruptionBudget takes exactly one"),
    ({"pdb": {"enabled": True, "minAvailable": 1}},
     "pdb.minAvailable is 1 with replicaCount 1: no operator pod could ever be evicted, so node drains would hang"),
    ({"certManager": {"enabled": True}, "webhook": {"certificate": {"rotationId": "2026-11-28"}}},
     "webhook.certificate.rotationId is \"2026-11-28\" but certManager.enabled is true: cert-manager renews its certificate itself"),
    ({"extraEnv": [{"name": "ISTIO_ENABLED", "value": "true"}]},
     "extraEnv sets ISTIO_ENABLED, which the chart already sets from its values"),
    ({"extraEnv": [{"name": "LEADER_ELECTION_ID", "value": "mine"}]},
     "extraEnv sets LEADER_ELECTION_ID: the chart's Role grants the leader-election lock by its name; set leaderElection.id"),
], ids=["replicas-without-leader-election", "pdb-both", "pdb-neither", "pdb-blocks-drains", "rotation-id-with-cert-manager",
        "extra-env-duplicate", "extra-env-lock-id"])
def test_fail_rules_name_the_value_and_the_fix(values: dict, message: str, helm: str) -> None:
    assert message in render_error(values, helm)


def test_extra_env_with_new_names_is_appended() -> None:
    got = env(objs({"extraEnv": [{"name": "RELATED_IMAGE_EXECUTOR", "value": "x"}]}))
    assert got["RELATED_IMAGE_EXECUTOR"] == "x"


# ------------------------------------------------------------------ scripts/place-crds

def place_crds(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(PLACE_CRDS), *args], capture_output=True, text=True)


def test_place_crds_places_the_upstream_crd_and_a_release_takes_nothing_else(tmp_path: Path) -> None:
    release = place_crds("--require-upstream", CHART)
    assert release.returncode == 0, release.stderr
    checked = place_crds("--check", CHART)
    assert checked.returncode == 0 and "upstream: github.com/SeldonIO/seldon-core v1.17.1" in checked.stdout
    (tmp_path / UPSTREAM_CRD.name).write_text(UPSTREAM_CRD.read_text())
    given = place_crds("--require-upstream", "--source", str(tmp_path), CHART)
    assert given.returncode == 1 and "a release takes only the pinned upstream CRD" in given.stderr


def test_place_crds_rejects_a_file_that_is_not_the_crd(tmp_path: Path) -> None:
    (tmp_path / UPSTREAM_CRD.name).write_text("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: x\n")
    proc = place_crds("--source", str(tmp_path), CHART)
    assert proc.returncode == 1 and "not a CustomResourceDefinition" in proc.stderr
    assert place_crds("--check", CHART).returncode == 0, "a rejected source leaves the placed CRD alone"
