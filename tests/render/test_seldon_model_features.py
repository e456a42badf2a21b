"""seldon-model features for SeldonDeployments users bring from upstream (issue 15): escape hatches,
Kafka, pass-through Kubernetes fields typed by Kubernetes' schema, stable key errors under both Helms."""
from __future__ import annotations

from typing import Any

import pytest

from test_seldon_model import _notes

from harness import RenderError, find, render

pytestmark = pytest.mark.render

CHART = "seldon-model"
Obj = dict[str, Any]
IMAGE = {"repository": "localhost/ml-serving-charts/iris-model", "tag": "0.1.0"}


def predictor(**extra: Any) -> Obj:
    return {"name": "default", "graph": {"name": "classifier", "type": "MODEL"}, "components": {"classifier": {"image": IMAGE}}, **extra}


def sdep(values: Obj, helm: str = "helm4") -> Obj:
    return find(render(CHART, values, helm=helm), "SeldonDeployment")


def containers(values: Obj, helm: str = "helm4") -> list[Obj]:
    return [c for p in sdep(values, helm)["spec"]["predictors"] for cs in p["componentSpecs"] for c in cs["spec"]["containers"]]


def error(values: Obj, helm: str) -> str:
    with pytest.raises(RenderError) as err:
        render(CHART, values, helm=helm)
    return " ".join(err.value.stderr.split())


def test_image_pull_policy_is_left_to_kubernetes_unless_set(helm: str) -> None:
    assert "imagePullPolicy" not in containers({}, helm)[0]
    assert containers({"defaults": {"image": {"pullPolicy": "Always"}}}, helm)[0]["imagePullPolicy"] == "Always"
    values = {"predictors": [predictor(components={"classifier": {"image": {**IMAGE, "pullPolicy": "Never"}}})]}
    assert containers(values, helm)[0]["imagePullPolicy"] == "Never"


def test_default_resources_can_be_removed_with_null(helm: str) -> None:
    assert containers({}, helm)[0]["resources"]["limits"] == {"cpu": "1", "memory": "1Gi"}
    assert "resources" not in containers({"defaults": {"resources": None}}, helm)[0]
    own = {"predictors": [predictor(components={"classifier": {"image": IMAGE, "resources": {"requests": {"cpu": "2"}}}})],
           "defaults": {"resources": None}}
    assert containers(own, helm)[0]["resources"] == {"requests": {"cpu": "2"}}


def test_root_component_is_explicit_annotated_and_warned(helm: str) -> None:
    component = {"image": IMAGE, "securityProfile": "privileged", "securityProfileReason": "the vendor image runs as root",
                 "securityContext": {"runAsUser": 0, "runAsNonRoot": False}}
    values = {"predictors": [predictor(components={"classifier": component})]}
    obj = sdep(values, helm)
    assert obj["metadata"]["annotations"] == {
        "ml-serving-charts.io/pod-security": "privileged",
        "ml-serving-charts.io/pod-security-reason": "predictors[0].components.classifier: the vendor image runs as root"}
    sc = obj["spec"]["predictors"][0]["componentSpecs"][0]["spec"]["containers"][0]["securityContext"]
    assert sc["runAsUser"] == 0 and sc["runAsNonRoot"] is False and sc["seccompProfile"] == {"type": "RuntimeDefault"}
    notes = _notes(values)
    assert "WARNING: these components run outside the restricted Pod Security Standard" in notes
    assert "predictors[0].components.classifier: the vendor image runs as root" in notes
    # the same values without the escape hatch are refused, naming the value
    plain = {"predictors": [predictor(components={"classifier": {**component, "securityProfile": "restricted"}})]}
    assert "predictors[0].components.classifier.securityContext" in error(plain, helm)


def test_kafka_server_type_writes_the_executor_environment(helm: str) -> None:
    values = {"serverType": "kafka", "predictors": [predictor(kafka={
        "broker": "kafka:9092", "inputTopic": "in", "outputTopic": "out", "workers": 4, "fullGraph": True})]}
    spec = sdep(values, helm)["spec"]
    assert spec["serverType"] == "kafka"
    assert spec["predictors"][0]["svcOrchSpec"]["env"] == [
        {"name": "KAFKA_BROKER", "value": "kafka:9092"}, {"name": "KAFKA_FULL_GRAPH", "value": "true"},
        {"name": "KAFKA_INPUT_TOPIC", "value": "in"}, {"name": "KAFKA_OUTPUT_TOPIC", "value": "out"},
        {"name": "KAFKA_WORKERS", "value": "4"}]


def test_predictor_fields_without_a_value_before(helm: str) -> None:
    values = {"specName": "iris", "predictors": [predictor(progressDeadlineSeconds=1200, ssl={"certSecretName": "tls"},
                                                           svcOrch={"replicas": 2}, mainPodName="main", mainPodReplicas=3)]}
    spec = sdep(values, helm)["spec"]
    p = spec["predictors"][0]
    assert spec["name"] == "iris"
    assert (p["progressDeadlineSeconds"], p["ssl"], p["svcOrchSpec"]) == (1200, {"certSecretName": "tls"}, {"replicas": 2})
    assert p["componentSpecs"][0]["metadata"]["name"] == "main" and p["componentSpecs"][0]["replicas"] == 3


@pytest.mark.parametrize(("values", "where"), [
    ({"defaults": {"podSpec": {"topologySpreadConstraints": [{"maxSkew": 1, "topologyKey": "zone", "whenUnsatisfiable": -7}]}}},
     "defaults/podSpec/topologySpreadConstraints/0/whenUnsatisfiable"),
    ({"test": {"resources": {"limits": {"memory": ["1Gi"]}}}}, "test/resources/limits/memory"),
    ({"predictors": [predictor(podSpec={"tolerations": [{"key": "k", "tolerationSeconds": "soon"}]})]},
     "predictors/0/podSpec/tolerations/0"),
    ({"predictors": [predictor(podSpec={"affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": []}}})]},
     "predictors/0/podSpec/affinity/nodeAffinity/requiredDuringSchedulingIgnoredDuringExecution"),
    ({"predictors": [predictor(components={"classifier": {"image": IMAGE, "readinessProbe": {"periodSeconds": "10s"}}})]},
     "predictors/0/components/classifier/readinessProbe/periodSeconds"),
])
def test_pass_through_fields_are_typed_by_kubernetes_schema(values: Obj, where: str, helm: str) -> None:
    message = error(values, helm)
    spelled = "/" + where if helm == "helm4" else where.replace("/", ".")
    assert spelled in message, message


@pytest.mark.parametrize("attempt", range(3))
def test_bad_component_key_is_reported_at_the_key_under_both_helms(helm: str, attempt: int) -> None:
    values = {"predictors": [predictor(components={"classifier": {"image": IMAGE}, "half_plus_two": {"image": IMAGE}})]}
    assert 'predictors[0].components.half_plus_two: the key "half_plus_two" is not a graph node name' in error(values, helm)
