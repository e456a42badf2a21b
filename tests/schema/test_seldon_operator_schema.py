"""charts/seldon-operator: values.schema.json rejects bad values (naming the path, in the harness and in
Helm itself), and the objects of value combinations beyond the scenarios are valid for every Kubernetes
minor and against the cert-manager and prometheus-operator CRDs."""
from __future__ import annotations

import subprocess

import pytest
import yaml

from harness import ROOT, RenderError, assert_valid, chart_path, merge_values, render, values_errors, with_value

pytestmark = pytest.mark.schema

CHART = "seldon-operator"
DEFAULTS = yaml.safe_load((chart_path(CHART) / "values.yaml").read_text())
subprocess.run([str(ROOT / "scripts" / "place-crds"), CHART], check=True, capture_output=True)


def test_defaults_pass_the_schema() -> None:
    assert values_errors(CHART, DEFAULTS) == []


BAD = {
    "replicaCount": 0,
    "image.digest": "sha256:short",
    "image.pullPolicy": "Sometimes",
    "image.extra": "x",
    "logLevel": "TRACE",
    "controllerId": "Team A",
    "webhook.failurePolicy": "Maybe",
    "webhook.port": 70000,
    "webhook.timeoutSeconds": 60,
    "webhook.certificate.validityDays": 0,
    "webhook.certificate.renew": True,
    "webhook.certificate.rotationId": True,
    "certManager.duration": "one year",
    "pdb.minAvailable": "half",
    "metrics.serviceMonitor.interval": "often",
    "executor.resources": {"requests": {"cpu": "1", "memory": "1Gi"}},
    "executor.resources.limits": {"cpu": "lots", "memory": "1Gi"},
    "executor.prometheusPath": "prometheus",
    "executor.requestLogger.defaultEndpoint": "default-broker",
    "istio.tlsMode": "STRICT",
    "predictorServers.ONNX_SERVER": {"protocols": {"onnx": {"image": "x", "defaultImageVersion": "1"}}},
    "predictorServers.my_server": {"protocols": {"v2": {"image": "x", "defaultImageVersion": "1"}}},
    "predictorServers.SKLEARN_SERVER.protocols.v2": {"image": "seldonio/mlserver"},
    "storageInitializer.image": "",
    "resources": {"limits": {"cpu": "1", "memory": "1Gi"}},
    "tests.resources": {},
    "extraEnv": [{"value": "x"}],
    "topologySpreadConstraints": [{"topologyKey": "zone"}],
}


@pytest.mark.parametrize("path", sorted(BAD))
def test_schema_rejects_bad_values_naming_the_path(path: str) -> None:
    errors = values_errors(CHART, with_value(DEFAULTS, path, BAD[path]))
    assert errors, f"{path}={BAD[path]!r} was accepted"
    top = path.split(".")[0]
    assert any(e.startswith(top) for e in errors), errors


GOOD = {
    "pdb.minAvailable": "50%",
    "pdb.maxUnavailable": 1,
    "defaultUserId": 1000,
    "predictorServers.MY_SERVER": {"protocols": {"v2": {"image": "me/server", "defaultImageVersion": "1.0"}}},
    "executor.resources.limits": {"cpu": 2, "memory": "2Gi", "ephemeral-storage": "1Gi"},
    "global.imagePullSecrets": ["a", {"name": "b"}],
}


@pytest.mark.parametrize("path", sorted(GOOD))
def test_schema_accepts_valid_variants(path: str) -> None:
    assert values_errors(CHART, with_value(DEFAULTS, path, GOOD[path])) == []


def test_helm_enforces_the_schema_too(helm: str) -> None:
    with pytest.raises(RenderError) as err:
        render(CHART, {"webhook": {"failurePolicy": "Maybe"}}, helm=helm)
    assert "failurePolicy" in err.value.stderr


COMBINATIONS = {
    "single-namespace-controller-id": {"singleNamespace": True, "controllerId": "team-a", "leaderElection": {"id": "team-a.seldon"}},
    "no-rbac-existing-sa": {"rbac": {"create": False}, "serviceAccount": {"create": False, "name": "ops"}},
    "everything-on": {"replicaCount": 3, "pdb": {"enabled": True, "minAvailable": "", "maxUnavailable": 1},
                      "istio": {"enabled": True}, "keda": {"enabled": True}, "certManager": {"enabled": True},
                      "metrics": {"serviceMonitor": {"enabled": True, "relabelings": [{"action": "labeldrop", "regex": "pod"}]}},
                      "topologySpreadConstraints": [{"maxSkew": 1, "topologyKey": "kubernetes.io/hostname",
                                                     "whenUnsatisfiable": "DoNotSchedule"}],
                      "extraEnv": [{"name": "RELATED_IMAGE_EXECUTOR", "value": "x"}],
                      "podAnnotations": {"team": "{{ .Release.Name }}"}, "crd": {"keep": False}},
}


@pytest.mark.parametrize("name", sorted(COMBINATIONS))
def test_combinations_render_valid_objects(name: str) -> None:
    values = COMBINATIONS[name]
    assert values_errors(CHART, merge_values(DEFAULTS, values)) == []
    assert_valid(render(CHART, values))
