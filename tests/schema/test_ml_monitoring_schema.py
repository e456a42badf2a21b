"""ml-monitoring's values.schema.json rejects bad values and names the path; Helm applies it (both Helms);
objects rendered from non-default values are still valid against the pinned prometheus-operator CRDs."""
from __future__ import annotations

from typing import Any

import pytest
import yaml

from harness import CHARTS, RenderError, assert_valid, render, values_errors, with_value

pytestmark = pytest.mark.schema

CHART = "ml-monitoring"
DEFAULTS: dict[str, Any] = yaml.safe_load((CHARTS / CHART / "values.yaml").read_text())


def test_defaults_are_valid() -> None:
    assert values_errors(CHART, DEFAULTS) == []


BAD = [
    ("prometheus.release", "Kps Stack", "prometheus.release"),
    ("prometheus.surprise", True, "prometheus"),
    ("monitors.seldon.enabled", "yes", "monitors.seldon.enabled"),
    ("monitors.seldon.path", "prometheus", "monitors.seldon.path"),
    ("monitors.seldon.interval", "30 seconds", "monitors.seldon.interval"),
    ("monitors.seldon.namespaceSelector", {"all": True}, "monitors.seldon.namespaceSelector"),
    ("monitors.seldon.selector", {"matchLabels": {"a": 1}}, "monitors.seldon.selector.matchLabels.a"),
    ("monitors.operator.portNumber", 70000, "monitors.operator.portNumber"),
    ("monitors.operator.port", "Metrics_Port", "monitors.operator.port"),
    ("monitors.dcgm.honorLabels", "true", "monitors.dcgm.honorLabels"),
    ("rules.runbookBaseUrl", "runbooks.example.com", "rules.runbookBaseUrl"),
    ("rules.alertLabels", {"team-name": "ml"}, "rules.alertLabels"),
    ("rules.selectors.seldon", '{service="predictions"}', "rules.selectors.seldon"),
    ("rules.slo.windows", [], "rules.slo.windows"),
    ("rules.slo.windows.0.longWindow", "1 hour", "rules.slo.windows.0.longWindow"),
    ("rules.slo.windows.0.burnRate", 0, "rules.slo.windows.0.burnRate"),
    ("rules.slo.windows.0.severity", "page", "rules.slo.windows.0.severity"),
    ("rules.slo.windows.0.budget", 2, "rules.slo.windows.0"),
    ("rules.slo.availability.objective", 100, "rules.slo.availability.objective"),
    ("rules.slo.availability.objective", 0.999, None),  # a ratio is a valid (if odd) percent: no error
    ("rules.slo.latency.thresholdSeconds", 0.3, "rules.slo.latency.thresholdSeconds"),
    ("rules.gpu.saturation.threshold", 120, "rules.gpu.saturation.threshold"),
    ("rules.gpu.memory.for", "", "rules.gpu.memory.for"),
    ("rules.servingHealth.modelPods.metric", "kube-pod-info", "rules.servingHealth.modelPods.metric"),
    ("rules.servingHealth.podRestarts.threshold", -1, "rules.servingHealth.podRestarts.threshold"),
    ("dashboards.label", "", "dashboards.label"),
    ("dashboards.labelValue", 1, "dashboards.labelValue"),
    ("dashboards.gpu.folder", "x", "dashboards.gpu"),
    ("tests.prometheusUrl", "prometheus:9090", "tests.prometheusUrl"),
    ("tests.timeoutSeconds", 1.5, "tests.timeoutSeconds"),
    ("tests.image.pullPolicy", "Sometimes", "tests.image.pullPolicy"),
    ("tests.image.digest", "latest", "tests.image.digest"),
    ("tests.resources", {"requests": {"cpu": "10m"}}, "tests.resources"),
]


@pytest.mark.parametrize(("path", "value", "where"), BAD, ids=[f"{p}={v!r}" for p, v, _ in BAD])
def test_schema_rejects_bad_values_naming_the_path(path: str, value: Any, where: str | None) -> None:
    errors = values_errors(CHART, with_value(DEFAULTS, path, value))
    if where is None:
        assert errors == []
    else:
        assert errors, f"{path}={value!r} was accepted"
        assert any(e.split(":")[0] == where for e in errors), errors


def test_helm_applies_the_schema(helm: str) -> None:
    with pytest.raises(RenderError) as err:
        render(CHART, {"rules": {"slo": {"latency": {"thresholdSeconds": 0.3}}}}, helm=helm)
    assert "thresholdSeconds" in err.value.stderr


def test_non_default_objects_validate_against_the_pinned_crds() -> None:
    """Every optional field the templates can set, rendered and checked against the CRDs and Kubernetes."""
    monitors = {name: {"interval": "15s", "scrapeTimeout": "10s",
                       "relabelings": [{"sourceLabels": ["__meta_kubernetes_pod_node_name"], "targetLabel": "node"}],
                       "metricRelabelings": [{"sourceLabels": ["__name__"], "regex": "go_.*", "action": "drop"}],
                       "namespaceSelector": {"any": None, "matchNames": ["models", "gpu-operator"]}}
                for name in ("seldon", "operator", "dcgm")}
    monitors["operator"]["port"] = "metrics"
    objs = render(CHART, {
        "commonLabels": {"team": "ml"},
        "prometheus": {"release": "kps"},
        "monitors": monitors,
        "rules": {"interval": "30s", "alertLabels": {"team": "ml"}},
        "dashboards": {"folder": "ML", "annotations": {"owner": "ml"}},
        "tests": {"nodeSelector": {"kubernetes.io/os": "linux"},
                  "tolerations": [{"key": "dedicated", "operator": "Exists", "effect": "NoSchedule"}],
                  "imagePullSecrets": [{"name": "regcred"}]},
    })
    assert len(objs) == 12
    assert_valid(objs)
