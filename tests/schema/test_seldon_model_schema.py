"""charts/seldon-model's values.schema.json, and our hand-written SeldonDeployment CRD schema
(tests/harness/schemas/machinelearning.seldon.io_seldondeployments.yaml)."""
from __future__ import annotations

import copy
from typing import Any, Iterator

import pytest
import yaml

from harness import CHARTS, validate_object, values_errors
from harness.paths import CRDS, PINS
from harness.render import load_all

pytestmark = pytest.mark.schema

CHART = "seldon-model"
DEFAULTS = yaml.safe_load((CHARTS / CHART / "values.yaml").read_text())
CRD_FILE = CRDS / "seldon-core" / "machinelearning.seldon.io_seldondeployments.yaml"   # upstream's, built by bootstrap
Obj = dict[str, Any]


# ------------------------------------------------------------------ values.schema.json

def errors(**overrides: Any) -> list[str]:
    values = copy.deepcopy(DEFAULTS)
    values.update(overrides)
    return values_errors(CHART, values)


def with_predictor(**changes: Any) -> list[str]:
    predictor = copy.deepcopy(DEFAULTS["predictors"][0])
    predictor.update(changes)
    return errors(predictors=[predictor])


def graph(**changes: Any) -> Obj:
    return {"name": "classifier", "type": "MODEL", **changes}


def test_defaults_are_valid() -> None:
    assert errors() == []


@pytest.mark.parametrize(("values", "path"), [
    ({"protocol": "grpc"}, "protocol"),
    ({"transport": "http"}, "transport"),
    ({"predictors": []}, "predictors"),
    ({"seldonAnnotations": {"restTimeout": "10s"}}, "seldonAnnotations.restTimeout"),
    ({"seldonAnnotations": {"noEngine": True}}, "seldonAnnotations"),
    ({"defaults": {"resources": {"limits": {"cpu": "lots"}}}}, "defaults.resources.limits.cpu"),
    ({"defaults": {"podSpec": {"tolerations": [{"key": "k", "operator": "Maybe"}]}}}, "defaults.podSpec.tolerations.0.operator"),
    ({"monitoring": {"enabled": True, "rules": {"objective": 99}}}, "monitoring.rules.objective"),
    ({"monitoring": {"interval": "30 seconds"}}, "monitoring.interval"),
    ({"test": {"image": {"repository": "", "tag": "1"}}}, "test.image.repository"),
    ({"fullnameOverride": "Iris_Model"}, "fullnameOverride"),
])
def test_top_level_values_are_typed(values: Obj, path: str) -> None:
    found = errors(**values)
    assert any(e.startswith(path) for e in found), found


@pytest.mark.parametrize(("changes", "path"), [
    ({"name": "Default"}, "predictors.0.name"),
    ({"traffic": 150}, "predictors.0.traffic"),
    ({"shadow": "yes"}, "predictors.0.shadow"),
    ({"unknown": 1}, "predictors.0"),
    ({"graph": graph(name="Classifier")}, "predictors.0.graph.name"),
    ({"graph": graph(type="ENSEMBLE")}, "predictors.0.graph.type"),
    ({"graph": graph(implementation=7)}, "predictors.0.graph.implementation"),
    ({"graph": graph(parameters=[{"name": "p", "type": "LIST", "value": "x"}])}, "predictors.0.graph.parameters.0.type"),
    ({"graph": graph(parameters=[{"name": "p", "type": "INT"}])}, "predictors.0.graph.parameters.0"),
    ({"graph": graph(logger={"url": "http://logger"})}, "predictors.0.graph.logger"),
    ({"graph": graph(endpoint={"type": "HTTP"})}, "predictors.0.graph.endpoint.type"),
    ({"graph": graph(children=[{"name": "a", "children": [{"name": "b", "children": [{"name": "c", "modelURI": "x"}]}]}])},
     "predictors.0.graph.children.0.children.0.children.0"),
    ({"components": {"classifier": {"image": {"repository": "x", "tag": "1"}, "cpu": 1}}}, "predictors.0.components.classifier"),
    ({"components": {"classifier": {"lifecycle": {"preStop": {"sleep": "5s"}}}}}, "predictors.0.components.classifier.lifecycle.preStop.sleep"),
    ({"components": {"classifier": {"gpu": {"count": -1}}}}, "predictors.0.components.classifier.gpu.count"),
    ({"components": {"classifier": {"gpu": {"count": 1, "pool": {"taints": [{"key": "k", "effect": "Never"}]}}}}},
     "predictors.0.components.classifier.gpu.pool.taints.0.effect"),
    ({"components": {"classifier": {"image": {"repository": "x", "digest": "latest"}}}}, "predictors.0.components.classifier.image.digest"),
    ({"hpa": {"minReplicas": 1}}, "predictors.0.hpa"),
    ({"hpa": {"maxReplicas": 0}}, "predictors.0.hpa.maxReplicas"),
    ({"keda": {"prometheus": {"query": 1}}}, "predictors.0.keda.prometheus.query"),
    ({"pdb": {"minAvailable": "half"}}, "predictors.0.pdb.minAvailable"),
    ({"pods": [{"podSpec": {}}]}, "predictors.0.pods.0"),
    ({"explainer": {"type": "LIME"}}, "predictors.0.explainer.type"),
])
def test_predictor_values_are_typed(changes: Obj, path: str) -> None:
    found = with_predictor(**changes)
    assert any(e.startswith(path) for e in found), found


def test_schema_descriptions_everywhere() -> None:
    """Every property of the schema says what it is for."""
    import json
    schema = json.loads((CHARTS / CHART / "values.schema.json").read_text())
    schema["$defs"] = {k: v for k, v in schema["$defs"].items() if not k.startswith("io.k8s.")}   # Kubernetes' own (tests/schema/k8s_types.py)
    missing = [path for path, node in _properties(schema) if "description" not in node and "$ref" not in node]
    assert not missing, missing


def _properties(node: Any, path: str = "") -> Iterator[tuple[str, Obj]]:
    if isinstance(node, dict):
        for key, child in (node.get("properties") or {}).items():
            yield f"{path}.{key}", child
        for key, child in node.items():
            if isinstance(child, (dict, list)):
                yield from _properties(child, f"{path}.{key}" if key not in ("properties",) else path)
    elif isinstance(node, list):
        for child in node:
            yield from _properties(child, path)


# ------------------------------------------------------------------ upstream's CRD (v1.17.1)

def sdep(predictor: Obj | None = None, **spec: Any) -> Obj:
    predictor = predictor or {"name": "default", "graph": {"name": "classifier"},
                              "componentSpecs": [{"spec": {"containers": [{"name": "classifier", "image": "iris:1"}]}}]}
    return {"apiVersion": "machinelearning.seldon.io/v1", "kind": "SeldonDeployment", "metadata": {"name": "iris"},
            "spec": {"predictors": [predictor], **spec}}


def crd() -> Obj:
    (doc,) = load_all(CRD_FILE.read_text())
    return doc


def test_crd_is_upstreams() -> None:
    """The SeldonDeployment CRD is the one upstream's Helm chart ships, built from the verified v1.17.1 source."""
    doc = crd()
    assert (doc["apiVersion"], doc["kind"]) == ("apiextensions.k8s.io/v1", "CustomResourceDefinition")
    assert doc["metadata"]["name"] == "seldondeployments.machinelearning.seldon.io"
    versions = [(v["name"], v["served"], v.get("storage", False)) for v in doc["spec"]["versions"]]
    assert versions == [("v1", True, True), ("v1alpha2", True, False), ("v1alpha3", True, False)]
    assert doc["spec"]["names"]["shortNames"] == ["sdep"]
    assert CRD_FILE.stat().st_size > 1_500_000, "the nested graph levels (graph_children.yaml) are in"
    assert PINS["crds"]["seldon-core"]["source"] == "seldon-core" and PINS["sources"]["seldon-core"]["tag"] == "v1.17.1"


def _walk(node: Any, path: str = "") -> Iterator[tuple[str, Obj]]:
    if isinstance(node, dict):
        yield path, node
        for key in ("properties",):
            for name, child in (node.get(key) or {}).items():
                yield from _walk(child, f"{path}.{name}")
        if isinstance(node.get("items"), dict):
            yield from _walk(node["items"], f"{path}[]")
        if isinstance(node.get("additionalProperties"), dict):
            yield from _walk(node["additionalProperties"], f"{path}{{}}")


def test_crd_schema_is_structural_and_closed() -> None:
    """Every node has a type; no object is open (no x-kubernetes-preserve-unknown-fields anywhere), so a
    misspelt field is refused, also in the embedded PodSpecs, which upstream types in full."""
    schema = crd()["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    open_nodes = []
    for path, node in _walk(schema):
        if node.get("x-kubernetes-int-or-string"):
            continue
        assert "type" in node, f"{path} has no type"
        assert not node.get("x-kubernetes-preserve-unknown-fields"), path
        if node["type"] == "object" and "properties" not in node and "additionalProperties" not in node:
            open_nodes.append(path)
    assert sorted(open_nodes) == [".metadata", ".spec.predictors[].componentSpecs[].spec.volumes[].ephemeral"
                                               ".volumeClaimTemplate.metadata"]


def test_crd_accepts_a_full_seldondeployment() -> None:
    predictor = {
        "name": "default", "traffic": 100, "replicas": 2, "labels": {"a": "b"}, "annotations": {"seldon.io/no-engine": "false"},
        "graph": {"name": "t", "type": "TRANSFORMER", "endpoint": {"type": "REST", "httpPort": 9000},
                  "logger": {"mode": "all", "url": "http://broker"},
                  "children": [{"name": "m", "implementation": "SKLEARN_SERVER", "modelUri": "gs://b/m", "envSecretRefName": "s",
                                "parameters": [{"name": "method", "type": "STRING", "value": "predict"},
                                               {"name": "cfg", "type": "JSON", "value": "{}"}]}]},
        "componentSpecs": [{"metadata": {"name": "main", "labels": {"x": "y"}, "creationTimestamp": None},
                            "spec": {"containers": [{"name": "t", "image": "t:1"}]},
                            "hpaSpec": {"minReplicas": 1, "maxReplicas": 3,
                                        "metrics": [{"type": "Resource", "resource": {"name": "cpu", "targetAverageUtilization": 70}}],
                                        "metricsv2": [{"type": "Pods", "pods": {"metric": {"name": "rps"},
                                                                                "target": {"type": "AverageValue", "averageValue": "10"}}}]},
                            "pdbSpec": {"maxUnavailable": "25%"}},
                           {"spec": {"containers": [{"name": "m"}]},
                            "kedaSpec": {"minReplicaCount": 0, "maxReplicaCount": 4, "triggers": [
                                {"type": "prometheus", "metadata": {"serverAddress": "http://p", "query": "up", "threshold": "1"}}],
                                "advanced": {"horizontalPodAutoscalerConfig": {"behavior": {"scaleDown": {
                                    "stabilizationWindowSeconds": 60, "policies": [{"type": "Pods", "value": 1, "periodSeconds": 60}]}}}}}}],
        "svcOrchSpec": {"resources": {"limits": {"cpu": 1, "memory": "1Gi"}}, "env": [{"name": "LOG_LEVEL", "value": "DEBUG"}]},
        "explainer": {"type": "AnchorTabular", "modelUri": "gs://b/e", "config": {"threshold": "0.9"},
                      "containerSpec": {"name": "explainer", "resources": {"requests": {"cpu": "100m"}},
                                        "securityContext": {"runAsNonRoot": True}}},
        "ssl": {"certSecretName": "tls"},
    }
    obj = sdep(predictor, protocol="v2", transport="rest", replicas=1, serverType="rpc", annotations={"seldon.io/rest-timeout": "1000"})
    assert validate_object(obj) == []


@pytest.mark.parametrize(("mutate", "where"), [
    (lambda s: s["spec"].pop("predictors"), "spec"),
    (lambda s: s["spec"]["predictors"][0].update(trafic=100), "spec.predictors.0"),
    (lambda s: s["spec"]["predictors"][0]["graph"].update(parameters=[{"name": "x", "value": 1, "type": "INT"}]),
     "spec.predictors.0.graph.parameters.0.value"),
    (lambda s: s["spec"]["predictors"][0]["graph"].update(children=[{"name": "a", "children": [{"name": "b", "modelURI": "x"}]}]),
     "spec.predictors.0.graph.children.0.children.0"),
    (lambda s: s["spec"]["predictors"][0]["componentSpecs"][0].update(hpaSpec={"minReplicas": 1}), "spec.predictors.0.componentSpecs.0.hpaSpec"),
    (lambda s: s["spec"]["predictors"][0]["componentSpecs"][0].update(kedaSpec={"maxReplicaCount": 2}),
     "spec.predictors.0.componentSpecs.0.kedaSpec"),
    (lambda s: s["spec"]["predictors"][0]["componentSpecs"][0].update(pdbSpec={"minAvailable": 1.5}),
     "spec.predictors.0.componentSpecs.0.pdbSpec.minAvailable"),
    (lambda s: s["spec"]["predictors"][0].update(svcOrchSpec={"env": [{"value": "x"}]}), "spec.predictors.0.svcOrchSpec.env.0"),
])
def test_crd_rejects_what_the_go_types_do_not_have(mutate: Any, where: str) -> None:
    obj = sdep()
    mutate(obj)
    problems = validate_object(obj)
    assert any(f"SeldonDeployment/iris: {where}:" in p for p in problems), problems


@pytest.mark.parametrize("mutate", [
    lambda s: s["spec"].update(protocol="http"),
    lambda s: s["spec"]["predictors"][0]["graph"].update(implementation="PYTORCH_SERVER"),
    lambda s: s["spec"]["predictors"][0]["graph"].update(logger={"mode": "everything"}),
    lambda s: s["spec"]["predictors"][0].update(explainer={"type": "Lime"}),
], ids=["protocol", "implementation", "logger-mode", "explainer-type"])
def test_crd_leaves_enumerations_to_the_webhook(mutate: Any) -> None:
    """Upstream's CRD types these as plain strings: the operator's webhook (and the chart's values schema)
    refuse unknown values, not the API server's schema. Pinned here so a change of upstream's CRD shows."""
    obj = sdep()
    mutate(obj)
    assert validate_object(obj) == []


def test_graph_is_typed_ten_levels_deep_and_no_deeper() -> None:
    """graph_children.yaml nests `children` ten levels below the graph; an eleventh is not in the schema (the
    API server would drop it silently, strict validation refuses it)."""
    def chain(levels: int) -> Obj:
        node: Obj = {"name": f"n{levels}"}
        for depth in range(levels - 1, -1, -1):
            node = {"name": f"n{depth}", "children": [node]}
        return node
    assert validate_object(sdep({"name": "p", "graph": chain(10)})) == []
    deeper = validate_object(sdep({"name": "p", "graph": chain(11)}))
    assert deeper and "'children' was unexpected" in deeper[0], deeper


def test_embedded_podspec_is_checked_as_a_pod() -> None:
    obj = sdep({"name": "p", "graph": {"name": "m"}, "componentSpecs": [{"spec": {"containers": [{"name": "m", "imagee": "x"}]}}]})
    problems = validate_object(obj)
    assert any("predictors.0.componentSpecs.0.spec as a Pod" in p and "'imagee'" in p for p in problems), problems
