"""charts/kserve-controller: values.schema.json rejects bad values (naming the path, in the harness and in Helm
itself), and value combinations beyond the scenarios render objects valid for every Kubernetes minor and, for the
ClusterServingRuntimes, against upstream's v0.20.0 CRD from the verified archive."""
from __future__ import annotations

import copy
import subprocess

import pytest
import yaml

from harness import ROOT, RenderError, assert_valid, chart_path, find_all, merge_values, render, values_errors, with_value

pytestmark = pytest.mark.schema

CHART = "kserve-controller"
DEFAULTS = yaml.safe_load((chart_path(CHART) / "values.yaml").read_text())
subprocess.run([str(ROOT / "scripts" / "place-crds"), CHART], check=True, capture_output=True)


def test_defaults_pass_the_schema() -> None:
    assert values_errors(CHART, DEFAULTS) == []


BAD = {
    "replicaCount": 0,
    "image.digest": "sha256:short",
    "image.pullPolicy": "Sometimes",
    "logLevel": "TRACE",
    "webhook.failurePolicy": "Maybe",
    "webhook.port": 70000,
    "config.deploy.defaultDeploymentMode": "Knative",          # needs Knative, which this chart does not install
    "config.deploy.defaultDeploymentMode ": "Serverless",
    "config.ingress.urlScheme": "ftp",
    "config.ingress.extra": True,
    "config.router.image": {"repository": "kserve/router"},
    "config.router.cpuLimit": "lots",
    "config.storageInitializer.image.digest": "latest",
    "config.metricsAggregator.enablePrometheusScraping": True,
    "config.autoscaler.scaleDownStabilizationWindowSeconds": "5m",
    "rbac.integrations.linkerd": True,
    "runtimes.sklearnserver.protocolVersions": ["v3"],
    "runtimes.sklearnserver.supportedModelFormats": [],
    "runtimes.sklearnserver.resources": {"requests": {"cpu": "1", "memory": "1Gi"}},
    "runtimes.Bad_Name": copy.deepcopy(DEFAULTS["runtimes"]["sklearnserver"]),
    "runtimes.mlserver.port": 8080,
    "resources": {"limits": {"cpu": "1", "memory": "1Gi"}},
    "extraEnv": [{"value": "x"}],
}


@pytest.mark.parametrize("path", sorted(BAD))
def test_schema_rejects_bad_values_naming_the_path(path: str) -> None:
    errors = values_errors(CHART, with_value(DEFAULTS, path.strip(), BAD[path]))
    assert errors, f"{path}={BAD[path]!r} was accepted"
    top = path.split(".")[0]
    assert any(e.startswith(top) for e in errors), errors


GOOD = {
    "config.deploy.defaultDeploymentMode": "RawDeployment",   # Standard's old name, still accepted upstream
    "runtimes.pmmlserver": {**copy.deepcopy(DEFAULTS["runtimes"]["xgbserver"]),
                            "supportedModelFormats": [{"name": "pmml", "version": "4", "autoSelect": True, "priority": 1}]},
    "config.router.headers.propagate": ["Authorization", "X-Request-.*"],
    "logLevel": "2",
    "global.imagePullSecrets": ["a", {"name": "b"}],
}


@pytest.mark.parametrize("path", sorted(GOOD))
def test_schema_accepts_valid_variants(path: str) -> None:
    assert values_errors(CHART, with_value(DEFAULTS, path, GOOD[path])) == []


def test_helm_enforces_the_schema_too(helm: str) -> None:
    with pytest.raises(RenderError) as err:
        render(CHART, {"config": {"deploy": {"defaultDeploymentMode": "Knative"}}}, helm=helm)
    assert "defaultDeploymentMode" in err.value.stderr


COMBINATIONS = {
    "no-rbac-existing-sa": {"rbac": {"create": False}, "serviceAccount": {"create": False, "name": "ops"}},
    "every-runtime": {"runtimes": {name: {"enabled": True, "image": {"repository": f"example/{name}"}}
                                   for name in ("xgbserver", "lgbserver", "tritonserver", "tensorflow-serving")}},
    "everything-on": {"replicaCount": 3, "pdb": {"enabled": True, "minAvailable": "", "maxUnavailable": 1},
                      "rbac": {"integrations": {k: True for k in DEFAULTS["rbac"]["integrations"]}},
                      "certManager": {"enabled": True},
                      "config": {"ingress": {"enableGatewayApi": True, "disableIngressCreation": False}},
                      "metrics": {"serviceMonitor": {"enabled": True}},
                      "topologySpreadConstraints": [{"maxSkew": 1, "topologyKey": "kubernetes.io/hostname",
                                                     "whenUnsatisfiable": "DoNotSchedule"}],
                      "podAnnotations": {"team": "{{ .Release.Name }}"}, "crd": {"keep": False}},
}


@pytest.mark.parametrize("name", sorted(COMBINATIONS))
def test_combinations_render_valid_objects(name: str) -> None:
    values = COMBINATIONS[name]
    assert values_errors(CHART, merge_values(DEFAULTS, values)) == []
    rendered = render(CHART, values)
    assert find_all(rendered, "ClusterServingRuntime")
    assert_valid(rendered)
