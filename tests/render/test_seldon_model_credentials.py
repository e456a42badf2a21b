"""charts/seldon-model refuses credentials written as plain values (issue 18): an env entry named like a
credential (*_SECRET*, *_TOKEN, *PASSWORD*, *_KEY, any case) with a literal `value` under any container the
chart renders (graph components and their versions, sidecars, init containers, the explainer) or under a
predictor's svcOrch.env fails the render, naming the value and showing the Secret-based forms. Those forms,
and names that only look alike, render untouched. The schema tier checks that the values schema leaves the
refusal to the template (one message under Helm 3 and 4) and that no scenario of any chart renders a literal
credential anywhere."""
from __future__ import annotations

import copy
from fnmatch import fnmatchcase
from pathlib import Path
from typing import Any, Iterator

import pytest
import yaml

from harness import CHARTS, VALUES, RenderError, all_scenarios, find, render, values_errors

CHART = "seldon-model"
Obj = dict[str, Any]
IRIS = {"image": {"repository": "localhost/ml-serving-charts/iris-model", "tag": "0.1.0"}}
SECRET_REF = {"secretKeyRef": {"name": "model-store", "key": "secret"}}


def predictor(**extra: Any) -> Obj:
    return {"name": "default", "graph": {"name": "classifier", "type": "MODEL"},
            "components": {"classifier": copy.deepcopy(IRIS)}, **extra}


def with_env(where: str, env: list[Obj]) -> tuple[dict, str]:
    """Values putting `env` at `where`, and the value path the chart names for it."""
    p = predictor()
    if where == "component":
        p["components"]["classifier"]["env"] = env
        return {"predictors": [p]}, "predictors[0].components.classifier.env"
    if where == "version":
        p["pods"] = [{"name": "v2"}]
        p["components"]["classifier"]["versions"] = [{"pod": "v2", "env": env}]
        return {"predictors": [p]}, "predictors[0].components.classifier.versions[0].env"
    if where == "sidecar":
        p["podSpec"] = {"containers": [{"name": "proxy", "image": "registry.example.com/proxy:1", "env": env}]}
        return {"predictors": [p]}, "predictors[0].podSpec.containers[0].env"
    if where == "initContainer":
        p["podSpec"] = {"initContainers": [{"name": "fetch", "image": "registry.example.com/fetch:1", "env": env}]}
        return {"predictors": [p]}, "predictors[0].podSpec.initContainers[0].env"
    if where == "explainer":
        p["explainer"] = {"type": "AnchorTabular", "modelUri": "s3://models/explainer", "env": env}
        return {"predictors": [p]}, "predictors[0].explainer.env"
    if where == "svcOrch":
        p["svcOrch"] = {"env": env}
        return {"predictors": [p]}, "predictors[0].svcOrch.env"
    raise ValueError(where)


WHERE = ["component", "version", "sidecar", "initContainer", "explainer", "svcOrch"]


def render_error(values: dict, helm: str) -> str:
    with pytest.raises(RenderError) as err:
        render(CHART, values, helm=helm)
    return " ".join(err.value.stderr.split())


@pytest.mark.render
@pytest.mark.parametrize("where", WHERE)
def test_literal_credential_is_refused_naming_the_value_and_the_fix(where: str, helm: str) -> None:
    values, path = with_env(where, [{"name": "LOG_LEVEL", "value": "info"},
                                    {"name": "AWS_SECRET_ACCESS_KEY", "value": "wJalrXUtnFEMI"}])
    message = render_error(values, helm)
    assert f"{path}[1] sets AWS_SECRET_ACCESS_KEY to a literal value" in message, message
    assert "{name: AWS_SECRET_ACCESS_KEY, valueFrom: {secretKeyRef: {name: <secret>, key: <key>}}}" in message
    assert "envSecretRefName" in message and "values/seldon-model/s3-secret.yaml" in message
    assert "wJalrXUtnFEMI" not in message, "the refusal must not echo the credential"


@pytest.mark.render
@pytest.mark.parametrize("name", ["AWS_SECRET_ACCESS_KEY", "CLIENT_SECRET", "aws_secret_access_key", "HF_TOKEN",
                                  "AWS_SESSION_TOKEN", "DB_PASSWORD", "PASSWORD", "MLFLOW_TRACKING_PASSWORD",
                                  "OPENAI_API_KEY", "AZURE_STORAGE_ACCESS_KEY", "RCLONE_CONFIG_S3_SECRET_ACCESS_KEY"])
def test_every_credential_name_shape_is_caught(name: str) -> None:
    values, _ = with_env("component", [{"name": name, "value": "x"}])
    assert f"sets {name} to a literal value" in render_error(values, "helm4")


@pytest.mark.render
@pytest.mark.parametrize("where", WHERE)
def test_secret_references_and_look_alikes_render_untouched(where: str) -> None:
    env = [{"name": "AWS_SECRET_ACCESS_KEY", "valueFrom": SECRET_REF},
           {"name": "HF_TOKEN", "valueFrom": {"secretKeyRef": {"name": "hf", "key": "token"}}},
           {"name": "DB_PASSWORD", "value": ""},                        # empty: nothing to leak
           {"name": "KEYCLOAK_URL", "value": "https://id.example.com"},  # names that only look alike
           {"name": "TOKENIZER", "value": "bert"}, {"name": "KEY_FIELD", "value": "id"},
           {"name": "SECRETS_DIR", "value": "/var/run/secrets"}]
    values, _ = with_env(where, env)
    sd = find(render(CHART, values), "SeldonDeployment")
    p = sd["spec"]["predictors"][0]
    if where == "svcOrch":
        rendered = p["svcOrchSpec"]["env"]
    elif where == "explainer":
        rendered = p["explainer"]["containerSpec"]["env"]
    else:
        pods = [c["spec"] for c in p["componentSpecs"]]
        found = [c for spec in pods for c in spec.get("containers", []) + spec.get("initContainers", []) if c.get("env")]
        assert len(found) == 1, found
        rendered = found[0]["env"]
    assert rendered == env


@pytest.mark.render
def test_model_storage_secret_is_named_not_copied() -> None:
    """values/seldon-model/s3-secret.yaml: the documented way to give model storage credentials."""
    sd = find(render(CHART, values_files=[VALUES / CHART / "s3-secret.yaml"]), "SeldonDeployment")
    graph = sd["spec"]["predictors"][0]["graph"]
    assert graph["envSecretRefName"] == "iris-s3" and graph["modelUri"] == "s3://models/iris"


# ------------------------------------------------------------------ schema tier

CREDENTIAL_GLOBS = ("*_SECRET*", "*_TOKEN", "*PASSWORD*", "*_KEY")     # the issue's words, matched independently
DEFAULTS = yaml.safe_load((CHARTS / CHART / "values.yaml").read_text())


def _is_credential(name: str) -> bool:
    return any(fnmatchcase(name.upper(), glob) for glob in CREDENTIAL_GLOBS)


@pytest.mark.schema
@pytest.mark.parametrize("where", WHERE)
def test_values_schema_accepts_secret_references_and_leaves_literals_to_the_template(where: str) -> None:
    """Both forms pass the values schema, so the refusal above is the template's, worded the same under Helm 3
    and Helm 4 (their schema errors differ and cannot name the fix)."""
    for env in ([{"name": "AWS_SECRET_ACCESS_KEY", "valueFrom": SECRET_REF}],
                [{"name": "AWS_SECRET_ACCESS_KEY", "value": "literal"}]):
        values, _ = with_env(where, env)
        assert values_errors(CHART, {**copy.deepcopy(DEFAULTS), **values}) == [], (where, env)


@pytest.mark.schema
def test_envsecretrefname_is_typed_on_graph_nodes_and_explainers() -> None:
    p = predictor()
    p["graph"]["envSecretRefName"] = "iris-s3"
    p["explainer"] = {"type": "AnchorTabular", "envSecretRefName": "iris-s3"}
    assert values_errors(CHART, {**copy.deepcopy(DEFAULTS), "predictors": [p]}) == []
    p["graph"]["envSecretRefName"] = {"name": "iris-s3"}
    assert any("envSecretRefName" in e for e in values_errors(CHART, {**copy.deepcopy(DEFAULTS), "predictors": [p]}))


def _literal_credentials(node: Any, path: str = "") -> Iterator[str]:
    """Every env entry (anywhere in a rendered object) named like a credential with a non-empty literal value."""
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "env" and isinstance(value, list):
                for i, var in enumerate(value):
                    if isinstance(var, dict) and _is_credential(str(var.get("name", ""))) and var.get("value"):
                        yield f"{path}.env[{i}] ({var['name']})"
            yield from _literal_credentials(value, f"{path}.{key}")
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from _literal_credentials(value, f"{path}[{i}]")


@pytest.mark.schema
@pytest.mark.parametrize(("chart", "name", "path"), all_scenarios(), ids=lambda v: str(v).rsplit("/", 1)[-1])
def test_no_scenario_renders_a_literal_credential(chart: str, name: str, path: Path | None) -> None:
    """Every rendered object of every scenario: SeldonDeployment pod specs, svcOrchSpec and explainer, the
    operator's environment, helm tests, node agents."""
    found = [f"{o['kind']}/{o['metadata']['name']}{where}" for o in render(chart, values_files=[path] if path else [])
             for where in _literal_credentials(o)]
    assert not found, found
