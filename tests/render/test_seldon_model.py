"""charts/seldon-model: every scenario's graph and pods, the cross-field rules and their messages, the
monitoring objects, the NetworkPolicy and the helm test's prediction script."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any, Iterator

import pytest
import yaml

from harness import VALUES, RenderError, assert_valid, find, find_all, render, tool, tool_env, validate_object
from harness.loopback import QuietHandler, serve_http

pytestmark = pytest.mark.render

CHART = "seldon-model"
SDEP = "test-seldon-model"  # release "test" + chart name
RESTRICTED = {"allowPrivilegeEscalation": False, "readOnlyRootFilesystem": True, "runAsNonRoot": True,
              "capabilities": {"drop": ["ALL"]}, "seccompProfile": {"type": "RuntimeDefault"}}
Obj = dict[str, Any]
ROLLOUT_TEST_KINDS = {"ServiceAccount", "Role", "RoleBinding"}   # the rollout test's own, beside its Pod


# ------------------------------------------------------------------ helpers

def objs(scenario: str | None = None, values: dict | None = None, helm: str = "helm4", **kwargs: Any) -> list[Obj]:
    files = [_scenario_file(scenario)] if scenario else []
    return render(CHART, values, values_files=files, helm=helm, **kwargs)


def _scenario_file(scenario: str) -> Path:
    if scenario.startswith("ci/"):
        return VALUES.parent / "charts" / CHART / "ci" / f"{scenario[3:]}-values.yaml"
    return VALUES / CHART / f"{scenario}.yaml"


def spec(rendered: list[Obj]) -> Obj:
    return find(rendered, "SeldonDeployment", SDEP)["spec"]


def predictor(rendered: list[Obj], name: str = "default") -> Obj:
    matches = [p for p in spec(rendered)["predictors"] if p["name"] == name]
    assert len(matches) == 1, f"predictor {name}: {[p['name'] for p in spec(rendered)['predictors']]}"
    return matches[0]


def containers(pred: Obj, pod: int = 0) -> dict[str, Obj]:
    return {c["name"]: c for c in pred["componentSpecs"][pod]["spec"]["containers"]}


def helm_test_pod(rendered: list[Obj], test: str = "test") -> Obj:
    """The helm test Pod that predicts ("test") or checks the rollout ("test-rollout")."""
    (pod,) = [o for o in find_all(rendered, "Pod") if o["metadata"]["name"].endswith(f"-seldon-model-{test}")]
    assert pod["metadata"]["annotations"]["helm.sh/hook"] == "test"
    return pod


def helm_test_env(rendered: list[Obj]) -> dict[str, str]:
    return {e["name"]: e["value"] for e in helm_test_pod(rendered)["spec"]["containers"][0]["env"]}


def model(name: str = "classifier", **node: Any) -> Obj:
    """A one-node predictor running the local iris image."""
    return {"name": "default", "graph": {"name": name, "type": "MODEL", **node},
            "components": {name: {"image": {"repository": "localhost/ml-serving-charts/iris-model", "tag": "0.1.0"}}}}


def image(name: str) -> Obj:
    return {"image": {"repository": f"ml-serving-charts/{name}", "tag": "0.1.0"}}


def render_error(values: dict, helm: str = "helm4", extra_args: tuple[str, ...] = ()) -> str:
    with pytest.raises(RenderError) as err:
        render(CHART, values, helm=helm, extra_args=extra_args)
    return " ".join(err.value.stderr.split())


def assert_restricted(container: Obj, **overrides: Any) -> None:
    assert container["securityContext"] == {**RESTRICTED, **overrides}, container["name"]


# ------------------------------------------------------------------ scenarios

def test_defaults_custom_iris_model(helm: str) -> None:
    rendered = objs(helm=helm)
    assert_valid(rendered)
    assert {o["kind"] for o in rendered} == {"SeldonDeployment", "Pod", *ROLLOUT_TEST_KINDS}
    s = spec(rendered)
    assert (s["protocol"], s["transport"]) == ("seldon", "rest") and "annotations" not in s
    p = predictor(rendered)
    assert p["graph"] == {"name": "classifier", "type": "MODEL"}
    assert len(p["componentSpecs"]) == 1
    pod = p["componentSpecs"][0]
    assert pod["metadata"]["labels"] == {"app.kubernetes.io/name": CHART, "app.kubernetes.io/instance": "test"}, \
        "pod labels must not override Seldon's app.kubernetes.io/managed-by: seldon-core"
    assert pod["spec"]["automountServiceAccountToken"] is False and "serviceAccountName" not in pod["spec"]
    assert pod["spec"]["securityContext"]["runAsNonRoot"] is True
    assert pod["spec"]["volumes"] == [{"name": "tmp", "emptyDir": {}}]
    classifier = containers(p)["classifier"]
    assert classifier["image"] == "localhost/ml-serving-charts/iris-model:0.1.0"
    assert_restricted(classifier)
    assert classifier["resources"] == {"requests": {"cpu": "100m", "memory": "256Mi"}, "limits": {"cpu": "1", "memory": "1Gi"}}
    assert classifier["volumeMounts"] == [{"name": "tmp", "mountPath": "/tmp"}]
    assert "tolerations" not in pod["spec"] and "affinity" not in pod["spec"]
    assert helm_test_env(rendered)["URL"] == f"http://{SDEP}-default.default.svc.cluster.local:8000/api/v1.0/predictions"
    assert json.loads(helm_test_env(rendered)["PAYLOAD"]) == {"data": {"ndarray": [[5.1, 3.5, 1.4, 0.2]]}}


def test_iris_prepackaged_sklearn(helm: str) -> None:
    rendered = objs("iris", helm=helm)
    assert_valid(rendered)
    graph = predictor(rendered)["graph"]
    assert graph == {"name": "classifier", "type": "MODEL", "implementation": "SKLEARN_SERVER",
                     "modelUri": "gs://seldon-models/v1.17.0-dev/sklearn/iris",
                     "parameters": [{"name": "method", "type": "STRING", "value": "predict_proba"}]}
    stub = containers(predictor(rendered))["classifier"]
    assert "image" not in stub, "the operator injects the prepackaged server image"
    assert stub["resources"]["requests"] == {"cpu": "200m", "memory": "512Mi"}
    assert_restricted(stub)


def test_transformer_pipeline(helm: str) -> None:
    rendered = objs("transformer", helm=helm)
    assert_valid(rendered)
    p = predictor(rendered)
    assert p["graph"] == {"name": "transformer", "type": "TRANSFORMER", "children": [{"name": "classifier", "type": "MODEL"}]}
    assert [c["name"] for c in p["componentSpecs"][0]["spec"]["containers"]] == ["transformer", "classifier"]
    c = containers(p)
    assert c["transformer"]["image"] == "localhost/ml-serving-charts/iris-transformer:0.1.0"
    assert c["transformer"]["resources"]["limits"] == {"cpu": "500m", "memory": "256Mi"}
    assert c["classifier"]["image"] == "localhost/ml-serving-charts/iris-model:0.1.0"


def test_ab_test_router_is_builtin(helm: str) -> None:
    rendered = objs("ab-test", helm=helm)
    assert_valid(rendered)
    graph = predictor(rendered)["graph"]
    assert graph["implementation"] == "RANDOM_ABTEST" and "type" not in graph, "with a type the executor calls a router container"
    assert graph["parameters"] == [{"name": "ratioA", "type": "FLOAT", "value": "0.5"}]
    assert [child["name"] for child in graph["children"]] == ["model-a", "model-b"]
    assert list(containers(predictor(rendered))) == ["model-a", "model-b"], "the built-in router has no container"
    assert containers(predictor(rendered))["model-b"]["env"] == [{"name": "MODEL_VARIANT", "value": "b"}]


def test_canary_traffic_split(helm: str) -> None:
    rendered = objs("canary", helm=helm)
    assert_valid(rendered)
    main, canary = predictor(rendered, "main"), predictor(rendered, "canary")
    assert (main["traffic"], canary["traffic"]) == (90, 10)
    assert (main["replicas"], canary["replicas"]) == (2, 1)
    assert main["labels"] == {"release-track": "stable"} and canary["labels"] == {"release-track": "canary"}
    assert canary["annotations"] == {"ml-serving-charts.io/change": "candidate model"}
    assert main["componentSpecs"][0]["pdbSpec"] == {"maxUnavailable": 1}
    assert "pdbSpec" not in canary["componentSpecs"][0]
    assert helm_test_env(rendered)["URL"].startswith(f"http://{SDEP}-main.default.svc")


def test_shadow_mirrors_main(helm: str) -> None:
    rendered = objs("shadow", helm=helm)
    assert_valid(rendered)
    main, shadow = predictor(rendered, "main"), predictor(rendered, "shadow")
    assert main["traffic"] == 100 and "shadow" not in main
    assert shadow["shadow"] is True and "traffic" not in shadow
    assert shadow["graph"]["logger"] == {"mode": "response"}
    assert helm_test_env(rendered)["URL"].startswith(f"http://{SDEP}-main."), "the test never calls the shadow"


def test_combiner_ensemble(helm: str) -> None:
    rendered = objs("combiner", helm=helm)
    assert_valid(rendered)
    graph = predictor(rendered)["graph"]
    assert graph["type"] == "COMBINER" and "implementation" not in graph
    assert [child["name"] for child in graph["children"]] == ["model-a", "model-b"]
    c = containers(predictor(rendered))
    assert list(c) == ["combiner", "model-a", "model-b"]
    assert c["combiner"]["image"] == "localhost/ml-serving-charts/iris-combiner:0.1.0"


def test_explainer(helm: str) -> None:
    rendered = objs("explainer", helm=helm)
    assert_valid(rendered)
    s = spec(rendered)
    assert s["annotations"] == {"seldon.io/rest-timeout": "100000"}
    explainer = predictor(rendered)["explainer"]
    assert (explainer["type"], explainer["replicas"]) == ("AnchorTabular", 1)
    assert explainer["modelUri"].endswith("/income/explainer")
    container = explainer["containerSpec"]
    assert container["name"] == "test-seldon-model-default-explainer", "upstream's CRD requires a name: the operator's own"
    assert "image" not in container, "the operator's alibi explainer image"
    assert_restricted(container, readOnlyRootFilesystem=False)
    assert container["resources"]["limits"] == {"cpu": "1", "memory": "2Gi"}
    pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "explainer"},
           "spec": {"containers": [{**container, "image": "alibi"}]}}
    assert not validate_object(pod), "containerSpec must be a valid container"
    assert json.loads(helm_test_env(rendered)["PAYLOAD"]) == {"data": {"ndarray": [[39, 7, 1, 1, 1, 1, 4, 1, 2174, 0, 40, 9]]}}


def test_gpu_llm_lands_on_its_pool(helm: str) -> None:
    rendered = objs("gpu-llm", helm=helm)
    assert_valid(rendered)
    s = spec(rendered)
    assert s["protocol"] == "v2"
    assert s["annotations"] == {"seldon.io/rest-timeout": "120000", "seldon.io/grpc-timeout": "120000"}
    p = predictor(rendered)
    assert p["graph"]["implementation"] == "HUGGINGFACE_SERVER" and "modelUri" not in p["graph"]
    pod = p["componentSpecs"][0]
    llm = containers(p)["llm"]
    assert "image" not in llm
    assert llm["resources"]["limits"]["nvidia.com/gpu"] == llm["resources"]["requests"]["nvidia.com/gpu"] == 1
    assert llm["securityContext"]["runAsUser"] == 1000 and llm["securityContext"]["readOnlyRootFilesystem"] is True
    assert pod["spec"]["tolerations"] == [{"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}]
    terms = pod["spec"]["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]["nodeSelectorTerms"]
    assert terms == [{"matchExpressions": [{"key": "ml-serving-charts.io/pool", "operator": "In", "values": ["gpu-a100"]}]}]
    assert [v["name"] for v in pod["spec"]["volumes"]] == ["tmp", "hf-cache"]
    assert {"name": "hf-cache", "mountPath": "/cache"} in llm["volumeMounts"]
    assert pod["hpaSpec"] == {"minReplicas": 1, "maxReplicas": 4, "metricsv2": [
        {"type": "Resource", "resource": {"name": "cpu", "target": {"type": "Utilization", "averageUtilization": 80}}},
        {"type": "Pods", "pods": {"metric": {"name": "seldon_api_executor_server_requests_per_second"},
                                  "target": {"type": "AverageValue", "averageValue": "5"}}}]}
    assert pod["pdbSpec"] == {"maxUnavailable": 1}
    env = helm_test_env(rendered)
    assert env["URL"] == f"http://{SDEP}-default.default.svc.cluster.local:8000/v2/models/llm/infer"
    assert json.loads(env["PAYLOAD"])["inputs"][0]["datatype"] == "BYTES"


def test_keda_scales_on_seldon_requests(helm: str) -> None:
    rendered = objs("keda", helm=helm)
    assert_valid(rendered)
    pod = predictor(rendered)["componentSpecs"][0]
    assert "hpaSpec" not in pod
    keda = pod["kedaSpec"]
    assert (keda["minReplicaCount"], keda["maxReplicaCount"], keda["pollingInterval"], keda["cooldownPeriod"]) == (1, 5, 15, 120)
    [trigger] = keda["triggers"]
    assert trigger["type"] == "prometheus"
    assert trigger["metadata"]["serverAddress"] == "http://prometheus-operated.monitoring.svc:9090"
    assert trigger["metadata"]["threshold"] == "20"
    assert trigger["metadata"]["query"] == ('sum(rate(seldon_api_executor_server_requests_seconds_count{namespace="default",'
                                            f'deployment_name="{SDEP}",predictor_name="default"}}[1m]))')
    monitor = find(rendered, "PodMonitor")
    assert monitor["spec"]["selector"] == {"matchLabels": {"seldon-deployment-id": SDEP, "app.kubernetes.io/managed-by": "seldon-core"}}


def test_v2_mlserver_custom_image(helm: str) -> None:
    rendered = objs("v2-mlserver", helm=helm)
    assert_valid(rendered)
    classifier = containers(predictor(rendered))["classifier"]
    assert classifier["image"] == "localhost/ml-serving-charts/mlserver-iris:0.1.0"
    assert {p["name"]: p["containerPort"] for p in classifier["ports"]} == {"http": 8080, "grpc": 8081, "metrics": 8082}
    assert classifier["readinessProbe"]["httpGet"] == {"path": "/v2/health/ready", "port": "http"}
    env = helm_test_env(rendered)
    assert env["PROTOCOL"] == "v2"
    assert env["URL"] == f"http://{SDEP}-default.default.svc.cluster.local:8000/v2/models/classifier/infer"


def test_ci_pipeline_splits_pods(helm: str) -> None:
    rendered = objs("ci/pipeline", helm=helm)
    assert_valid(rendered)
    p = predictor(rendered)
    assert p["graph"]["children"][0]["name"] == "combiner"
    assert [c["name"] for c in p["graph"]["children"][0]["children"]] == ["model-a", "model-b"]
    main, ensemble = p["componentSpecs"]
    assert "name" not in main["metadata"] and [c["name"] for c in main["spec"]["containers"]] == ["transformer"]
    assert ensemble["metadata"]["name"] == "ensemble" and ensemble["replicas"] == 1
    assert [c["name"] for c in ensemble["spec"]["containers"]] == ["combiner", "model-a", "model-b"]


@pytest.mark.parametrize("scenario", ["ci/default", "ci/pipeline"])
def test_ci_scenarios_use_local_images(scenario: str) -> None:
    rendered = objs(scenario)
    images = {c["image"] for pred in spec(rendered)["predictors"] for pod in pred["componentSpecs"]
              for c in pod["spec"]["containers"]} | {helm_test_pod(rendered)["spec"]["containers"][0]["image"]}
    assert images and all(i.startswith("localhost/ml-serving-charts/") for i in images), images


# ------------------------------------------------------------------ more behaviour

SCENARIOS = sorted(f.stem for f in (VALUES / CHART).glob("*.yaml")) + ["ci/default", "ci/pipeline"]


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_scaling_specs_become_valid_objects(scenario: str) -> None:
    """The operator copies hpaSpec into an autoscaling/v2 HPA, kedaSpec into a KEDA ScaledObject and pdbSpec
    into a policy/v1 PDB: build those objects the same way and validate them (strict schemas, KEDA's CRD)."""
    meta = {"name": "x", "namespace": "default"}
    target = {"apiVersion": "apps/v1", "kind": "Deployment", "name": "x"}
    for pred in spec(objs(scenario))["predictors"]:
        for pod in pred["componentSpecs"]:
            built = []
            if "hpaSpec" in pod:
                hpa = pod["hpaSpec"]
                built.append({"apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler", "metadata": meta, "spec": {
                    "scaleTargetRef": target, "minReplicas": hpa["minReplicas"], "maxReplicas": hpa["maxReplicas"],
                    "metrics": hpa.get("metricsv2", [])}})
            if "kedaSpec" in pod:
                built.append({"apiVersion": "keda.sh/v1alpha1", "kind": "ScaledObject", "metadata": meta,
                              "spec": {"scaleTargetRef": {"name": "x"}, **pod["kedaSpec"]}})
            if "pdbSpec" in pod:
                built.append({"apiVersion": "policy/v1", "kind": "PodDisruptionBudget", "metadata": meta,
                              "spec": {"selector": {"matchLabels": {"app": "x"}}, **pod["pdbSpec"]}})
            assert_valid(built)



def test_deep_graph_renders_and_validates() -> None:
    node: Obj = {"name": "n6", "type": "MODEL"}
    components = {"n6": image("iris-model")}
    for depth in range(5, -1, -1):
        node = {"name": f"n{depth}", "type": "TRANSFORMER", "children": [node]}
        components[f"n{depth}"] = image("iris-transformer")
    rendered = objs(values={"predictors": [{"name": "default", "graph": node, "components": components}]})
    assert_valid(rendered)
    assert [c["name"] for c in predictor(rendered)["componentSpecs"][0]["spec"]["containers"]] == [f"n{i}" for i in range(7)]


def test_parameters_are_typed_strings() -> None:
    params = [{"name": "n", "type": "INT", "value": 1000000}, {"name": "f", "type": "DOUBLE", "value": 0.25},
              {"name": "b", "type": "BOOL", "value": True}, {"name": "j", "type": "JSON", "value": {"a": [1, 2]}},
              {"name": "s", "type": "STRING", "value": "x"}]
    rendered = objs(values={"predictors": [model(parameters=params)]})
    assert {p["name"]: p["value"] for p in predictor(rendered)["graph"]["parameters"]} == \
        {"n": "1000000", "f": "0.25", "b": "true", "j": '{"a":[1,2]}', "s": "x"}


def test_seldon_annotations_and_predictor_annotations(helm: str) -> None:
    rendered = objs(values={
        "seldonAnnotations": {"restTimeout": 5000, "grpcTimeout": 6000, "grpcMaxMessageSize": 104857600,
                              "engineSeparatePod": True, "headlessSvc": True, "executorLoggerQueueSize": 100,
                              "executorLoggerWriteTimeoutMs": 2000},
        "annotations": {"example.com/team": "ml"},
        "predictors": [{**model(), "noEngine": True, "svcName": "iris", "annotations": {"a": "b"}}]}, helm=helm)
    assert_valid(rendered)
    assert spec(rendered)["annotations"] == {
        "seldon.io/rest-timeout": "5000", "seldon.io/grpc-timeout": "6000", "seldon.io/grpc-max-message-size": "104857600",
        "seldon.io/engine-separate-pod": "true", "seldon.io/headless-svc": "true",
        "seldon.io/executor-logger-queue-size": "100", "seldon.io/executor-logger-write-timeout-ms": "2000",
        "example.com/team": "ml"}
    assert predictor(rendered)["annotations"] == {"a": "b", "seldon.io/no-engine": "true", "seldon.io/svc-name": "iris"}
    assert helm_test_env(rendered)["URL"].startswith("http://iris.default.svc.cluster.local:8000/")


def test_prepackaged_container_can_be_left_to_the_operator() -> None:
    values = {"defaults": {"prepackagedServerContainers": False},
              "predictors": [{"name": "default", "graph": {"name": "clf", "implementation": "SKLEARN_SERVER", "modelUri": "gs://b/m"}}]}
    pod = predictor(objs(values=values))["componentSpecs"][0]
    assert pod["spec"]["containers"] == [] and "volumes" not in pod["spec"], "the webhook adds the server container here"
    values["predictors"][0]["components"] = {"clf": {"resources": {"limits": {"memory": "2Gi"}}}}
    stub = containers(predictor(objs(values=values)))["clf"]
    assert stub["resources"]["limits"] == {"cpu": "1", "memory": "2Gi"}, "component resources merge over the defaults"


def test_images_registry_digest_and_pull_secrets() -> None:
    digest = "sha256:" + "a" * 64
    rendered = objs(values={"global": {"imageRegistry": "registry.example.com", "imagePullSecrets": ["regcred"]},
                            "predictors": [{**model(), "components": {"classifier": {"image": {
                                "repository": "localhost/ml-serving-charts/iris-model", "digest": digest, "pullPolicy": "Always"}}}}]})
    classifier = containers(predictor(rendered))["classifier"]
    assert classifier["image"] == f"registry.example.com/ml-serving-charts/iris-model@{digest}"
    assert classifier["imagePullPolicy"] == "Always"
    assert predictor(rendered)["componentSpecs"][0]["spec"]["imagePullSecrets"] == [{"name": "regcred"}]
    assert helm_test_pod(rendered)["spec"]["containers"][0]["image"] == "registry.example.com/ml-serving-charts/helm-test-client:0.1.0"


def test_pod_settings_merge_defaults_predictor_and_pod(helm: str) -> None:
    spread = [{"maxSkew": 1, "topologyKey": "topology.kubernetes.io/zone", "whenUnsatisfiable": "ScheduleAnyway",
               "labelSelector": {"matchLabels": {"seldon-deployment-id": "{{ include \"ml-common.names.fullname\" . }}"}}}]
    rendered = objs(values={
        "serviceAccount": {"create": True, "annotations": {"eks.amazonaws.com/role-arn": "arn:aws:iam::1:role/models"}},
        "defaults": {"podSpec": {"nodeSelector": {"kubernetes.io/os": "linux"}, "priorityClassName": "ml-serving"}},
        "predictors": [{
            **model(), "podSpec": {"nodeSelector": {"tier": "inference"}, "topologySpreadConstraints": spread,
                                   "tolerations": [{"key": "dedicated", "operator": "Equal", "value": "ml", "effect": "NoSchedule"}],
                                   "securityContext": {"runAsUser": 1000}, "annotations": {"a": "b"}},
            "components": {"classifier": {**image("iris-model"), "pod": "side"},
                           "helper": {**image("iris-model")}},
            "graph": {"name": "helper", "type": "TRANSFORMER", "children": [{"name": "classifier", "type": "MODEL"}]},
            "pods": [{"name": "side", "replicas": 3, "podSpec": {"priorityClassName": "batch", "serviceAccountName": "other"}}]}]},
        helm=helm)
    assert_valid(rendered)
    account = find(rendered, "ServiceAccount", SDEP)
    assert account["automountServiceAccountToken"] is False
    main, side = predictor(rendered)["componentSpecs"]
    assert main["spec"]["serviceAccountName"] == SDEP and side["spec"]["serviceAccountName"] == "other"
    assert main["spec"]["nodeSelector"] == side["spec"]["nodeSelector"] == {"kubernetes.io/os": "linux", "tier": "inference"}
    assert (main["spec"]["priorityClassName"], side["spec"]["priorityClassName"]) == ("ml-serving", "batch")
    assert main["spec"]["topologySpreadConstraints"][0]["labelSelector"] == {"matchLabels": {"seldon-deployment-id": SDEP}}
    assert main["spec"]["securityContext"]["runAsUser"] == 1000 and main["spec"]["securityContext"]["runAsNonRoot"] is True
    assert main["metadata"]["annotations"] == {"a": "b"}
    assert side["replicas"] == 3 and [c["name"] for c in side["spec"]["containers"]] == ["classifier"]


def test_overrides_turn_a_default_true_off_set_zero_and_null_removes(helm: str) -> None:
    """ml-common.values.merge: a predictor's, a pod's and a component's false, 0 and "" win over the defaults'
    true, non-zero and set values, and null removes a default (Sprig's mergeOverwrite, used before, copied the
    null into the pod: `runAsUser: null`)."""
    rendered = objs(values={
        "defaults": {"podSpec": {"automountServiceAccountToken": True, "terminationGracePeriodSeconds": 30,
                                 "priorityClassName": "ml-serving"},
                     "securityContext": {"readOnlyRootFilesystem": True, "runAsUser": 1000},
                     "image": {"pullPolicy": "Always"},
                     "resources": {"requests": {"cpu": "100m", "memory": "256Mi", "nvidia.com/gpu": 1},
                                   "limits": {"cpu": "1", "memory": "1Gi"}}},
        "predictors": [{
            "name": "default",
            "graph": {"name": "helper", "type": "TRANSFORMER", "children": [{"name": "classifier", "type": "MODEL"}]},
            "podSpec": {"automountServiceAccountToken": False, "terminationGracePeriodSeconds": 0},
            "components": {
                "helper": {**image("iris-transformer"), "securityContext": {"readOnlyRootFilesystem": False, "runAsUser": None},
                           "resources": {"requests": {"nvidia.com/gpu": 0}}},
                "classifier": {**image("iris-model"), "pod": "side"}},
            "pods": [{"name": "side", "podSpec": {"automountServiceAccountToken": True, "terminationGracePeriodSeconds": None,
                                                  "priorityClassName": ""}}]}]}, helm=helm)
    main, side = predictor(rendered)["componentSpecs"]
    assert main["spec"]["automountServiceAccountToken"] is False, "a predictor turns a default true off"
    assert main["spec"]["terminationGracePeriodSeconds"] == 0, "a predictor sets 0 over a default 30"
    assert main["spec"]["priorityClassName"] == "ml-serving"
    assert side["spec"]["automountServiceAccountToken"] is True
    assert "terminationGracePeriodSeconds" not in side["spec"], "null removes the predictor's value"
    assert "priorityClassName" not in side["spec"], "an empty string replaces the default"
    helper = containers(predictor(rendered))["helper"]
    assert helper["securityContext"]["readOnlyRootFilesystem"] is False, "a component turns a default true off"
    assert "runAsUser" not in helper["securityContext"], "null removes defaults.securityContext.runAsUser"
    assert helper["resources"]["requests"]["nvidia.com/gpu"] == 0 and helper["resources"]["requests"]["cpu"] == "100m"
    assert helper["imagePullPolicy"] == "Always"
    classifier = containers(predictor(rendered), pod=1)["classifier"]
    assert classifier["securityContext"]["readOnlyRootFilesystem"] is True and classifier["securityContext"]["runAsUser"] == 1000


@pytest.mark.parametrize(("values", "message"), [
    ({"defaults": {"podSpec": {"securityContext": {"runAsNonRoot": False}}}},
     "predictors[0].podSpec.securityContext (merged over defaults.podSpec.securityContext): runAsNonRoot is false"),
    ({"predictors": [{**model(), "components": {"classifier": {**image("iris-model"), "securityContext": {"privileged": True}}}}]},
     "predictors[0].components.classifier.securityContext (merged over defaults.securityContext): privileged is true"),
    ({"predictors": [{**model(), "explainer": {"type": "AnchorTabular", "modelUri": "gs://x",
                                                "securityContext": {"allowPrivilegeEscalation": True}}}]},
     "predictors[0].explainer.securityContext (merged over defaults.securityContext): allowPrivilegeEscalation is true"),
], ids=["pod", "component", "explainer"])
def test_security_contexts_stay_restricted(values: dict, message: str) -> None:
    assert message in render_error(values)


def test_gpu_components_in_separate_pods_keep_cpu_pods_off_the_pool(helm: str) -> None:
    rendered = objs(values={"predictors": [{
        "name": "default",
        "graph": {"name": "tokenizer", "type": "TRANSFORMER", "children": [{"name": "llm", "type": "MODEL"}]},
        "components": {"tokenizer": image("iris-transformer"),
                       "llm": {**image("iris-model"), "pod": "gpu",
                               "gpu": {"count": 2, "migProfile": "1g.10gb", "pool": {"name": "gpu-h100", "taints": [
                                   {"key": "nvidia.com/gpu", "effect": "NoSchedule"}, {"key": "dedicated", "effect": "NoExecute"}]}}}},
        "pods": [{"name": "gpu", "hpa": {"minReplicas": 1, "maxReplicas": 2, "targetMemoryAverageValue": "20Gi"}}]}]}, helm=helm)
    assert_valid(rendered)
    cpu, gpu = predictor(rendered)["componentSpecs"]
    assert "tolerations" not in cpu["spec"] and "affinity" not in cpu["spec"]
    assert gpu["spec"]["tolerations"] == [{"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"},
                                          {"key": "dedicated", "operator": "Exists", "effect": "NoExecute"}]
    assert containers(predictor(rendered), 1)["llm"]["resources"]["limits"]["nvidia.com/mig-1g.10gb"] == 2
    assert gpu["hpaSpec"]["metricsv2"] == [{"type": "Resource", "resource": {"name": "memory", "target": {
        "type": "AverageValue", "averageValue": "20Gi"}}}]


def test_gpu_any_pool_tolerates_without_affinity() -> None:
    rendered = objs(values={"predictors": [{**model(), "components": {"classifier": {**image("iris-model"),
                                                                                     "gpu": {"count": 1, "anyPool": True}}}}]})
    pod = predictor(rendered)["componentSpecs"][0]["spec"]
    assert "affinity" not in pod and pod["tolerations"][0]["key"] == "nvidia.com/gpu"


# ------------------------------------------------------------------ monitoring and NetworkPolicy

def test_podmonitor_release_label_is_configurable(helm: str) -> None:
    rendered = objs(values={"monitoring": {"enabled": True, "labels": {"team": "ml"}}}, helm=helm)
    assert_valid(rendered)
    monitor = find(rendered, "PodMonitor", SDEP)
    assert monitor["metadata"]["labels"]["release"] == "kube-prometheus-stack"
    assert monitor["metadata"]["labels"]["team"] == "ml"
    assert monitor["spec"]["podMetricsEndpoints"] == [{"port": "metrics", "path": "/prometheus", "interval": "30s", "scrapeTimeout": "10s"}]
    assert not find_all(rendered, "PrometheusRule")
    unlabeled = find(objs(values={"monitoring": {"enabled": True, "release": ""}}), "PodMonitor")
    assert "release" not in unlabeled["metadata"]["labels"]


def _rules(values: dict | None = None) -> Obj:
    rendered = objs(values={"monitoring": {"enabled": True, "rules": {"enabled": True, **(values or {})}}})
    assert_valid(rendered)
    return find(rendered, "PrometheusRule", SDEP)


def test_prometheusrule_slo_alerts() -> None:
    rule = _rules()
    assert rule["metadata"]["labels"]["release"] == "kube-prometheus-stack"
    rules = rule["spec"]["groups"][0]["rules"]
    alerts = {r["alert"]: r for r in rules if "alert" in r}
    assert set(alerts) == {"SeldonDeploymentErrorBudgetBurnFast", "SeldonDeploymentErrorBudgetBurnSlow", "SeldonDeploymentHighLatency"}
    assert f'deployment_name="{SDEP}"' in alerts["SeldonDeploymentHighLatency"]["expr"]
    assert "histogram_quantile(0.99" in alerts["SeldonDeploymentHighLatency"]["expr"]
    assert alerts["SeldonDeploymentErrorBudgetBurnFast"]["labels"]["severity"] == "critical"
    assert "(14.4 * (1 - 0.99))" in alerts["SeldonDeploymentErrorBudgetBurnFast"]["expr"]


@pytest.fixture(scope="module")
def promtool() -> Path:
    path = tool("promtool")
    if not path.exists():
        pytest.skip("promtool missing: run scripts/bootstrap")
    return path


def test_prometheusrule_passes_promtool_and_fires(promtool: Path, tmp_path: Path) -> None:
    """promtool checks the rules and proves, on synthetic series, that a 50% error rate pages, a healthy
    deployment stays quiet, and a slow one raises the latency alert."""
    rule = _rules({"latency": {"quantile": 0.9, "thresholdSeconds": 0.5, "for": "5m"}})
    (tmp_path / "rules.yaml").write_text(yaml.safe_dump({"groups": rule["spec"]["groups"]}))
    check = subprocess.run([str(promtool), "check", "rules", str(tmp_path / "rules.yaml")], capture_output=True, text=True, env=tool_env())
    assert check.returncode == 0, check.stdout + check.stderr
    labels = f'namespace="default",deployment_name="{SDEP}",predictor_name="default"'
    count = "seldon_api_executor_server_requests_seconds_count"
    bucket = "seldon_api_executor_server_requests_seconds_bucket"
    firing = 'ALERTS{{alertname="{}",alertstate="firing"}}'
    tests = {"rule_files": ["rules.yaml"], "evaluation_interval": "1m", "tests": [
        {"interval": "1m",
         "input_series": [{"series": f'{count}{{{labels},code="200"}}', "values": "0+60x120"},
                          {"series": f'{count}{{{labels},code="500"}}', "values": "0+60x120"},
                          {"series": f'{bucket}{{{labels},le="0.1"}}', "values": "0+0x120"},
                          {"series": f'{bucket}{{{labels},le="1"}}', "values": "0+120x120"},
                          {"series": f'{bucket}{{{labels},le="+Inf"}}', "values": "0+120x120"}],
         "promql_expr_test": [
             {"expr": f"seldon_deployment:request_errors:ratio_rate5m{{{labels}}}", "eval_time": "70m",
              "exp_samples": [{"labels": f"seldon_deployment:request_errors:ratio_rate5m{{{labels}}}", "value": 0.5}]},
             {"expr": firing.format("SeldonDeploymentErrorBudgetBurnFast"), "eval_time": "70m",
              "exp_samples": [{"labels": f'ALERTS{{alertname="SeldonDeploymentErrorBudgetBurnFast",alertstate="firing",{labels},severity="critical"}}',
                               "value": 1}]},
             {"expr": firing.format("SeldonDeploymentHighLatency"), "eval_time": "70m",
              "exp_samples": [{"labels": f'ALERTS{{alertname="SeldonDeploymentHighLatency",alertstate="firing",{labels},severity="warning"}}',
                               "value": 1}]}]},
        {"interval": "1m",
         "input_series": [{"series": f'{count}{{{labels},code="200"}}', "values": "0+60x120"},
                          {"series": f'{bucket}{{{labels},le="0.1"}}', "values": "0+60x120"},
                          {"series": f'{bucket}{{{labels},le="+Inf"}}', "values": "0+60x120"}],
         "promql_expr_test": [{"expr": 'ALERTS{alertstate="firing"}', "eval_time": "70m", "exp_samples": []}]}]}
    (tmp_path / "tests.yaml").write_text(yaml.safe_dump(tests))
    run = subprocess.run([str(promtool), "test", "rules", str(tmp_path / "tests.yaml")], capture_output=True, text=True,
                         env=tool_env(), cwd=tmp_path)
    assert run.returncode == 0, run.stdout + run.stderr


def test_networkpolicy_admits_only_configured_peers(helm: str) -> None:
    gateway = {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "istio-system"}}}
    rendered = objs(values={"networkPolicy": {"enabled": True, "ingressFrom": [gateway]}}, helm=helm)
    assert_valid(rendered)
    policy = find(rendered, "NetworkPolicy", SDEP)["spec"]
    assert policy["podSelector"] == {"matchLabels": {"seldon-deployment-id": SDEP}}
    assert policy["policyTypes"] == ["Ingress"]
    own, callers, prometheus = policy["ingress"]
    assert own == {"from": [{"podSelector": {"matchLabels": {"seldon-deployment-id": SDEP}}}]}
    test_labels = {k: v for k, v in helm_test_pod(rendered)["metadata"]["labels"].items()
                   if k in ("app.kubernetes.io/name", "app.kubernetes.io/instance", "app.kubernetes.io/component")}
    assert callers["from"] == [gateway, {"podSelector": {"matchLabels": test_labels}}]
    assert callers["ports"] == [{"port": "http", "protocol": "TCP"}, {"port": "grpc", "protocol": "TCP"}]
    assert prometheus["ports"] == [{"port": "metrics", "protocol": "TCP"}]
    assert prometheus["from"][0]["podSelector"] == {"matchLabels": {"app.kubernetes.io/name": "prometheus"}}


def test_networkpolicy_never_renders_an_open_rule() -> None:
    """A rule without `from` admits everyone: with no callers configured there must be none."""
    rendered = objs(values={"networkPolicy": {"enabled": True, "prometheusFrom": []}, "test": {"enabled": False}})
    rules = find(rendered, "NetworkPolicy")["spec"]["ingress"]
    assert len(rules) == 1 and all(rule.get("from") for rule in rules)


# ------------------------------------------------------------------ the helm test's script

class _FakeExecutor(QuietHandler):
    answers: list[tuple[int, str]] = []
    bodies: list[Obj] = []

    def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
        self.bodies.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
        status, body = self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(body.encode())


@pytest.fixture()
def executor() -> Iterator[tuple[str, type[_FakeExecutor]]]:
    handler = type("Handler", (_FakeExecutor,), {"answers": [], "bodies": []})
    with serve_http(handler) as url:
        yield url, handler


def _run_test_pod(scenario: str | None, base_url: str) -> subprocess.CompletedProcess[str]:
    container = helm_test_pod(objs(scenario))["spec"]["containers"][0]
    env = {e["name"]: e["value"] for e in container["env"]}
    path = env["URL"].split(":8000", 1)[1]
    env.update(URL=base_url + path, WAIT_SECONDS="5", TIMEOUT_SECONDS="5")
    assert container["command"][:2] == ["python3", "-c"]
    return subprocess.run([sys.executable, "-c", container["command"][2]], env=env, capture_output=True, text=True, timeout=60)


@pytest.mark.parametrize(("scenario", "answer", "ok"), [
    (None, {"data": {"names": ["a", "b", "c"], "ndarray": [[0.9, 0.05, 0.05]]}, "meta": {}}, True),
    (None, {"data": {"tensor": {"shape": [1, 3], "values": [0.9, 0.05, 0.05]}}}, True),
    (None, {"meta": {}, "status": {"code": 200}}, False),
    ("v2-mlserver", {"model_name": "classifier", "outputs": [{"name": "predict", "shape": [1], "datatype": "INT64", "data": [0]}]}, True),
    ("v2-mlserver", {"model_name": "classifier", "outputs": []}, False),
], ids=["seldon-ndarray", "seldon-tensor", "seldon-malformed", "v2-outputs", "v2-no-outputs"])
def test_test_script_checks_the_answer_shape(scenario: str | None, answer: Obj, ok: bool,
                                             executor: tuple[str, type[_FakeExecutor]]) -> None:
    url, handler = executor
    handler.answers.append((200, json.dumps(answer)))
    result = _run_test_pod(scenario, url)
    assert (result.returncode == 0) is ok, result.stdout + result.stderr
    expected = {None: {"data": {"ndarray": [[5.1, 3.5, 1.4, 0.2]]}}}.get(scenario)
    if expected:
        assert handler.bodies[0] == expected, "the payload from values is sent as is"
    if not ok:
        assert "FAIL: the answer has no" in result.stderr


def test_rollout_test_may_only_read_its_seldon_deployment_and_list_pods() -> None:
    """The rollout test: a ServiceAccount, Role and RoleBinding of its own (test hooks, created before the Pod), a
    Role that can get this release's SeldonDeployment and list pods and nothing else, the token mounted in that
    Pod only, restricted like every pod; test.rollout.enabled=false leaves all four out."""
    rendered = objs("iris")
    pod = helm_test_pod(rendered, "test-rollout")
    name = pod["metadata"]["name"]
    role = find(rendered, "Role", name)
    assert role["rules"] == [{"apiGroups": ["machinelearning.seldon.io"], "resources": ["seldondeployments"],
                              "resourceNames": [SDEP], "verbs": ["get"]},
                             {"apiGroups": [""], "resources": ["pods"], "verbs": ["list"]}]
    binding = find(rendered, "RoleBinding", name)
    assert binding["roleRef"]["name"] == name and binding["subjects"] == [
        {"kind": "ServiceAccount", "name": name, "namespace": "default"}]
    for obj in (role, binding, find(rendered, "ServiceAccount", name)):
        assert obj["metadata"]["annotations"]["helm.sh/hook"] == "test"
        assert int(obj["metadata"]["annotations"]["helm.sh/hook-weight"]) < 0, "before the Pod"
    assert pod["spec"]["serviceAccountName"] == name and pod["spec"]["automountServiceAccountToken"] is True
    assert helm_test_pod(rendered)["spec"]["automountServiceAccountToken"] is False, "the prediction test has no token"
    assert pod["spec"]["containers"][0]["securityContext"] == RESTRICTED
    env = {e["name"]: e["value"] for e in pod["spec"]["containers"][0]["env"]}
    assert env["SELDON_DEPLOYMENT"] == SDEP and env["STUCK_SECONDS"] == "60"
    off = objs("iris", {"test": {"rollout": {"enabled": False}}})
    assert not [o for o in off if o["metadata"]["name"] == name]
    assert {o["kind"] for o in off} == {"SeldonDeployment", "Pod"}


def test_test_script_fails_on_non_2xx_and_retries_while_unavailable(executor: tuple[str, type[_FakeExecutor]]) -> None:
    url, handler = executor
    handler.answers.extend([(503, "{}"), (400, '{"status": {"info": "bad input"}}')])
    result = _run_test_pod(None, url)
    assert result.returncode != 0 and "HTTP 400" in result.stderr and "bad input" in result.stderr
    assert len(handler.bodies) == 2, "a 503 is retried, a 400 is not"


# ------------------------------------------------------------------ cross-field rules

def _two(first: Obj, second: Obj) -> list[Obj]:
    return [{**model(), **first}, {**model(), **second}]


ROUTER_ONE_CHILD = {"name": "default", "graph": {"name": "router", "type": "ROUTER", "children": [{"name": "a", "type": "MODEL"}]},
                    "components": {"router": image("iris-model"), "a": image("iris-model")}}
COMBINER_ONE_CHILD = {"name": "default", "graph": {"name": "avg", "implementation": "AVERAGE_COMBINER", "children": [
    {"name": "a", "type": "MODEL"}]}, "components": {"a": image("iris-model")}}
AB_THREE = {"name": "default", "graph": {"name": "ab", "implementation": "RANDOM_ABTEST", "children": [
    {"name": n, "type": "MODEL"} for n in "abc"]}, "components": {n: image("iris-model") for n in "abc"}}
SPLIT_PODS = {**model(), "components": {"classifier": {**image("iris-model"), "pod": "side"}}, "pods": [{"name": "side"}]}

RULES: dict[str, tuple[dict, str]] = {
    "traffic-sum": ({"predictors": _two({"name": "main", "traffic": 80}, {"name": "canary", "traffic": 10})},
                    "predictors[].traffic of the predictors that are not shadows sums to 90 (main=80, canary=10): it must be 100"),
    "single-partial-traffic": ({"predictors": [{**model(), "traffic": 50}]},
                               "predictors[0].traffic is 50 but a single predictor receives all traffic: remove predictors[0].traffic or set it to 100"),
    "two-shadows": ({"predictors": [{**model(), "name": "main"}, {**model(), "name": "s1", "shadow": True},
                                    {**model(), "name": "s2", "shadow": True}]},
                    "predictors: 2 predictors are shadows (s1, s2) but Seldon allows at most one: set shadow: false on all but one"),
    "shadow-alone": ({"predictors": [{**model(), "shadow": True}]},
                     "predictors[0] (default) is a shadow but the only predictor: a shadow mirrors the traffic of another predictor"),
    "duplicate-predictor": ({"predictors": _two({"traffic": 50}, {"traffic": 50})},
                            'predictors[1].name "default" is used by another predictor: predictor names must be unique'),
    "router-without-children": ({"predictors": [{"name": "default", "graph": {"name": "router", "type": "ROUTER"},
                                                 "components": {"router": image("iris-model")}}]},
                                "predictors[0].graph (router) is a ROUTER without children: a ROUTER sends each request to its children"),
    "unknown-type-without-methods": ({"predictors": [model(type="UNKNOWN_TYPE")]},
                                     "predictors[0].graph (classifier) has type UNKNOWN_TYPE but no methods"),
    "undeclared-implementation": ({"predictors": [{"name": "default", "graph": {"name": "m", "implementation": "LIGHTGBM_SERVER", "modelUri": "s3://b/m"}}]},
                                  'predictors[0].graph.implementation "LIGHTGBM_SERVER" is unknown: use a prepackaged server'),
    "implementation-key": ({"implementations": {"lightgbm": {"protocols": ["seldon"]}}},
                           "implementations.lightgbm: the key must be an implementation name in upper case"),
    "declared-implementation-protocol": ({"implementations": {"LIGHTGBM_SERVER": {"protocols": ["v2"]}},
                                          "predictors": [{"name": "default", "graph": {"name": "m", "implementation": "LIGHTGBM_SERVER", "modelUri": "s3://b/m"}}]},
                                         'predictors[0].graph.implementation LIGHTGBM_SERVER does not serve protocol "seldon": set protocol to one of v2'),
    "component-key-pattern": ({"predictors": [{**model(), "components": {"classifier": image("iris-model"), "half_plus_two": image("iris-model")}}]},
                              'predictors[0].components.half_plus_two: the key "half_plus_two" is not a graph node name'),
    "kafka-without-topics": ({"serverType": "kafka", "predictors": [{**model(), "kafka": {"broker": "kafka:9092"}}]},
                             "predictors[0].kafka: serverType is kafka but KAFKA_INPUT_TOPIC is not set"),
    "privileged-without-reason": ({"predictors": [{**model(), "components": {"classifier": {**image("iris-model"), "securityProfile": "privileged"}}}]},
                                  "predictors[0].components.classifier.securityProfile is privileged but predictors[0].components.classifier.securityProfileReason is empty"),
    "version-in-unknown-pod": ({"predictors": [{**model(), "components": {"classifier": {**image("iris-model"), "versions": [{"pod": "v2"}]}}}]},
                               'predictors[0].components.classifier.versions[0].pod is "v2" but predictors[0].pods has no pod of that name'),
    "endpoint-transport": ({"predictors": [model(endpoint={"type": "GRPC"})]},
                           "predictors[0].graph.endpoint.type is GRPC but transport is rest"),
    "host-network": ({"predictors": [{**model(), "podSpec": {"hostNetwork": True}}]},
                     "predictors[0].podSpec.hostNetwork is true, which the restricted Pod Security Standard forbids"),
    "bool-parameter": ({"predictors": [model(parameters=[{"name": "b", "type": "BOOL", "value": "maybe"}])]},
                       'predictors[0].graph.parameters[0] (b) has type BOOL but value "maybe"'),
    "abtest-three-children": ({"predictors": [AB_THREE]}, "predictors[0].graph (ab) uses RANDOM_ABTEST with 3 children"),
    "custom-node-without-image": (
        {"predictors": [{"name": "default", "graph": {"name": "t", "type": "TRANSFORMER", "children": [{"name": "m", "type": "MODEL"}]},
                         "components": {"t": image("iris-transformer")}}]},
        "predictors[0].graph.children[0] (m) has no implementation, so it runs your own image, but "
        "predictors[0].components.m.image.repository is not set"),
    "component-for-builtin": ({"predictors": [{**AB_THREE, "graph": {**AB_THREE["graph"], "children": AB_THREE["graph"]["children"][:2]},
                                               "components": {"ab": image("iris-model"), "a": image("iris-model"), "b": image("iris-model")}}]},
                              "predictors[0].components.ab is set but node ab uses the built-in RANDOM_ABTEST, which runs inside the executor"),
    "component-not-in-graph": ({"predictors": [{**model(), "components": {"classifier": image("iris-model"), "clasifier": {}}}]},
                               'predictors[0].components.clasifier: there is no graph node named "clasifier" in predictors[0].graph (nodes: classifier)'),
    "duplicate-node": ({"predictors": [{"name": "default", "graph": {"name": "m", "type": "TRANSFORMER", "children": [{"name": "m"}]},
                                        "components": {"m": image("iris-model")}}]},
                       'predictors[0].graph.children[0].name "m" is used by another node of predictors[0].graph'),
    "gpu-without-pool": ({"predictors": [{**model(), "components": {"classifier": {**image("iris-model"), "gpu": {"count": 1}}}}]},
                         "predictors[0].components.classifier.gpu.count is 1 but predictors[0].components.classifier.gpu.pool.name is empty"),
    "gpu-pools-differ": ({"predictors": [{"name": "default", "graph": {"name": "a", "type": "TRANSFORMER", "children": [{"name": "b"}]},
                                          "components": {"a": {**image("iris-model"), "gpu": {"count": 1, "pool": {"name": "l4"}}},
                                                         "b": {**image("iris-model"), "gpu": {"count": 1, "pool": {"name": "a100"}}}}}]},
                         "predictors[0]: the GPU components of one pod ask for different pools (ml-serving-charts.io/pool=l4, ml-serving-charts.io/pool=a100)"),
    "prepackaged-without-uri": ({"predictors": [{"name": "default", "graph": {"name": "m", "implementation": "XGBOOST_SERVER"}}]},
                                "predictors[0].graph.modelUri is empty but XGBOOST_SERVER downloads its model from it"),
    "prepackaged-protocol": ({"predictors": [{"name": "default", "graph": {"name": "m", "implementation": "TRITON_SERVER", "modelUri": "s3://b/m"}}]},
                             'predictors[0].graph.implementation TRITON_SERVER does not serve protocol "seldon": set protocol to one of v2, kfserving'),
    "builtin-type": ({"predictors": [{**AB_THREE, "graph": {**AB_THREE["graph"], "type": "COMBINER", "children": AB_THREE["graph"]["children"][:2]},
                                      "components": {"a": image("iris-model"), "b": image("iris-model")}}]},
                     "predictors[0].graph.type is COMBINER but the built-in RANDOM_ABTEST is a ROUTER"),
    # found on kind: with type ROUTER the 1.17.1 executor calls the (absent) router's endpoint and panics
    "abtest-with-type": ({"predictors": [{**AB_THREE, "graph": {**AB_THREE["graph"], "type": "ROUTER", "children": AB_THREE["graph"]["children"][:2]},
                                          "components": {"a": image("iris-model"), "b": image("iris-model")}}]},
                         "predictors[0].graph (ab) sets type ROUTER with implementation RANDOM_ABTEST: the 1.17.1 executor then calls a router container"),
    "parameter-type": ({"predictors": [model(parameters=[{"name": "k", "type": "INT", "value": 2.5}])]},
                       'predictors[0].graph.parameters[0] (k) has type INT but value "2.5": give a whole number'),
    "no-engine-graph": ({"predictors": [{**model(), "noEngine": True, "graph": {"name": "classifier", "type": "TRANSFORMER", "children": [
        {"name": "x", "implementation": "SIMPLE_MODEL"}]}}]},
                        "predictors[0].noEngine is true but its graph has 2 nodes"),
    "hpa-min-max": ({"predictors": [{**model(), "hpa": {"minReplicas": 5, "maxReplicas": 2}}]},
                    "predictors[0].hpa.minReplicas (5) is greater than predictors[0].hpa.maxReplicas (2)"),
    "replicas-outside-hpa": ({"predictors": [{**model(), "replicas": 6, "hpa": {"minReplicas": 2, "maxReplicas": 4}}]},
                             "predictors[0].replicas is 6 but predictors[0].hpa allows 2 to 4 replicas"),
    "spec-replicas-outside-keda": ({"replicas": 9, "predictors": [{**model(), "keda": {"minReplicaCount": 1, "maxReplicaCount": 3,
                                                                                   "prometheus": {"serverAddress": "http://p:9090", "threshold": 5}}}]},
                                   "replicas is 9 but predictors[0].keda allows 1 to 3 replicas"),
    "keda-zero-on-own-rate": ({"predictors": [{**model(), "keda": {"maxReplicaCount": 3, "prometheus": {"serverAddress": "http://p:9090", "threshold": 5}}}]},
                              "predictors[0].keda.minReplicaCount is 0 (KEDA's default when unset) with the trigger on the executor's request rate"),
    "hpa-and-keda": ({"predictors": [{**model(), "hpa": {"maxReplicas": 2}, "keda": {"maxReplicaCount": 2}}]},
                     "predictors[0] sets both hpa and keda"),
    "keda-min-max": ({"predictors": [{**model(), "keda": {"minReplicaCount": 4, "maxReplicaCount": 2}}]},
                     "predictors[0].keda.minReplicaCount (4) is greater than predictors[0].keda.maxReplicaCount (2)"),
    "keda-prometheus": ({"predictors": [{**model(), "keda": {"maxReplicaCount": 2}}]},
                        "predictors[0].keda.prometheus needs serverAddress and threshold"),
    "pdb-both": ({"predictors": [{**model(), "pdb": {"minAvailable": 1, "maxUnavailable": 1}}]},
                 "predictors[0].pdb must set exactly one of minAvailable and maxUnavailable"),
    "pdb-blocks-drains": ({"predictors": [{**model(), "replicas": 2, "pdb": {"minAvailable": 2}}]},
                          "predictors[0].pdb.minAvailable (2) is not below the pod's minimum replica count (2)"),
    "pdb-zero-unavailable": ({"predictors": [{**model(), "pdb": {"maxUnavailable": 0}}]},
                             "predictors[0].pdb.maxUnavailable is 0, so no pod could ever be evicted"),
    "unknown-pod": ({"predictors": [{**model(), "components": {"classifier": {**image("iris-model"), "pod": "gpu"}}}]},
                    'predictors[0].components.classifier.pod is "gpu" but predictors[0].pods has no pod of that name'),
    "executor-without-pod": ({"predictors": [SPLIT_PODS]},
                             "predictors[0]: every node with a container is placed in an extra pod, so the executor has no pod to run in"),
    "missing-volume": ({"predictors": [{**model(), "components": {"classifier": {**image("iris-model"), "volumeMounts": [
        {"name": "models", "mountPath": "/models"}]}}}]},
                       'predictors[0].components.classifier.volumeMounts[0] mounts volume "models" but its pod has no such volume'),
    "tmp-volume-clash": ({"predictors": [{**model(), "podSpec": {"volumes": [{"name": "tmp", "emptyDir": {}}]}}]},
                         'predictors[0]: the pod has two volumes named "tmp" (the chart mounts an emptyDir "tmp" at /tmp'),
    "image-without-tag": ({"predictors": [{**model(), "components": {"classifier": {"image": {"repository": "localhost/ml-serving-charts/iris-model"}}}}]},
                          "predictors[0].components.classifier.image.tag is empty"),
    "explainer-without-type": ({"predictors": [{**model(), "explainer": {"modelUri": "s3://b/e"}}]},
                               "predictors[0].explainer.type is empty"),
    "long-service-name": ({"fullnameOverride": "a" * 50, "predictors": [{**model(), "name": "b" * 20}]},
                          "is longer than 63 characters and the operator would hash it"),
    "duplicate-service-name": ({"predictors": _two({"name": "a", "traffic": 50, "svcName": "iris"}, {"name": "b", "traffic": 50, "svcName": "iris"})},
                               'predictors[1].svcName "iris" is already the Service of another predictor'),
    "unknown-test-predictor": ({"test": {"predictor": "nope"}},
                               'test.predictor is "nope" but there is no predictor of that name (predictors: default)'),
}


@pytest.mark.parametrize("rule", sorted(RULES))
def test_rule_fails_with_value_problem_and_fix(rule: str, helm: str) -> None:
    values, message = RULES[rule]
    assert message in render_error(values, helm)


def test_unknown_implementation_is_rejected_by_render(helm: str) -> None:
    """Implementation names are free in the schema (the operator's predictor_servers config may define more);
    the render refuses one that is neither upstream's, a built-in nor declared under implementations."""
    values = {"predictors": [model(implementation="PYTORCH_SERVER")]}
    assert ('predictors[0].graph.implementation "PYTORCH_SERVER" is unknown: use a prepackaged server (SKLEARN_SERVER'
            in render_error(values, helm))


def test_average_combiner_warning_in_notes() -> None:
    values = {"predictors": [{**COMBINER_ONE_CHILD, "graph": {**COMBINER_ONE_CHILD["graph"], "children": [
        {"name": "a", "type": "MODEL"}, {"name": "b", "type": "MODEL"}]}, "components": {"a": image("iris-model"), "b": image("iris-model")}}]}
    notes = _notes(values)
    assert "WARNING: predictors[0].graph (avg) uses AVERAGE_COMBINER" in notes
    assert "Use a custom COMBINER image" in notes


def _notes(values: dict | None = None, scenario: str | None = None) -> str:
    files = ["--values", str(_scenario_file(scenario))] if scenario else []
    proc = subprocess.run([str(tool("helm")), "install", "test", str(VALUES.parent / "charts" / CHART), "--dry-run=client",
                           "--values", "-", *files], input=json.dumps(values or {}), capture_output=True, text=True, env=tool_env())
    assert proc.returncode == 0, proc.stderr
    return proc.stdout.split("NOTES:", 1)[1]


@pytest.mark.parametrize(("scenario", "expected"), [
    (None, ["in-cluster URL: http://test-seldon-model-default.default.svc.cluster.local:8000",
            "curl -s -X POST http://test-seldon-model-default.default.svc.cluster.local:8000/api/v1.0/predictions",
            "seldon.protos.Seldon/Predict", "helm test test -n default"]),
    ("v2-mlserver", ["curl -s -X POST http://test-seldon-model-default.default.svc.cluster.local:8000/v2/models/classifier/infer",
                     '"datatype":"FP32"']),
    ("canary", ["predictor main (90% of the traffic)", "predictor canary (10% of the traffic)"]),
    ("shadow", ["predictor shadow (shadow: mirrored traffic"]),
])
def test_notes_give_urls_and_commands(scenario: str | None, expected: list[str]) -> None:
    notes = _notes(scenario=scenario)
    for text in expected:
        assert text in notes, f"{text!r} not in NOTES:\n{notes}"


# ------------------------------------------------------------------ README

def test_readme_has_a_worked_example_per_scenario() -> None:
    """Each scenario file appears verbatim in the README (so the examples cannot drift from what is tested)."""
    readme = (VALUES.parent / "charts" / CHART / "README.md").read_text()
    blocks = readme.split("```yaml\n")
    for scenario in sorted((VALUES / CHART).glob("*.yaml")):
        heading = f"(`values/seldon-model/{scenario.name}`)"
        assert heading in readme, f"README has no example for {scenario.name}"
        assert any(block.startswith(scenario.read_text()) for block in blocks), f"README example of {scenario.name} is stale"
