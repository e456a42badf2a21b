"""Validate rendered objects: Kubernetes kinds against kubernetes-validate's strict schemas for every
supported minor, custom resources against their CRD's openAPIV3Schema. Each schema compiles once, with
jsonschema-rs (a compiled validator: microseconds per object where the pure-Python one takes ~1 ms)."""
from __future__ import annotations

import copy
import functools
import json
from pathlib import Path
from typing import Any, Iterable

import jsonschema_rs
import kubernetes_validate
from msc.crds import known_crd_files

from .paths import KUBERNETES_MINORS
from .render import load_all

Obj = dict[str, Any]
SCHEMA_ROOT = Path(kubernetes_validate.__file__).parent / "kubernetes-json-schema"


# ------------------------------------------------------------------ Kubernetes built-in kinds

@functools.cache
def _kube_registry(minor: str) -> jsonschema_rs.Registry:
    defs = json.loads((SCHEMA_ROOT / f"v{minor}.0-local-strict" / "_definitions.json").read_text())
    return jsonschema_rs.Registry([(defs["$id"], defs)])


@functools.cache
def _kube_validator(minor: str, api_version: str, kind: str) -> jsonschema_rs.Validator | None:
    group_version = api_version.split("/")
    short = f"{group_version[0].split('.')[0]}-{group_version[1]}" if len(group_version) == 2 else group_version[0]
    path = SCHEMA_ROOT / f"v{minor}.0-local-strict" / f"{kind.lower()}-{short}.json"
    if not path.exists():
        return None
    return jsonschema_rs.validator_for(json.loads(path.read_text()), registry=_kube_registry(minor))


# ------------------------------------------------------------------ custom resources

def _structural_to_jsonschema(node: Any) -> Any:
    """openAPIV3Schema -> JSON Schema, strict like the API server with fieldValidation=Strict:
    objects with properties reject unknown fields unless x-kubernetes-preserve-unknown-fields."""
    if isinstance(node, list):
        return [_structural_to_jsonschema(n) for n in node]
    if not isinstance(node, dict):
        return node
    out = {k: _structural_to_jsonschema(v) for k, v in node.items() if not k.startswith("x-kubernetes-")}
    if node.get("x-kubernetes-int-or-string"):
        out.pop("type", None)
        out["anyOf"] = [{"type": "integer"}, {"type": "string"}]
    if node.get("nullable") and "type" in out:
        out["type"] = [out["type"], "null"]
    out.pop("nullable", None)
    if node.get("type") == "object" and "properties" in node and "additionalProperties" not in node \
            and not node.get("x-kubernetes-preserve-unknown-fields"):
        out["additionalProperties"] = False
    return out


def crd_files() -> list[Path]:
    """Every CRD the suite knows: fetched upstream ones and the few we write ourselves (tests/harness/schemas)."""
    return known_crd_files()


@functools.cache
def _crd_validators() -> dict[tuple[str, str], jsonschema_rs.Validator]:
    validators: dict[tuple[str, str], jsonschema_rs.Validator] = {}
    for path in crd_files():
        for crd in load_all(path.read_text()):
            if not crd or crd.get("kind") != "CustomResourceDefinition":
                continue
            group, kind = crd["spec"]["group"], crd["spec"]["names"]["kind"]
            for version in crd["spec"]["versions"]:
                schema = _structural_to_jsonschema(copy.deepcopy(version["schema"]["openAPIV3Schema"]))
                # what every object has, whether or not a CRD's schema lists it (Istio's do not)
                schema.setdefault("properties", {}).update({"metadata": {"type": "object"},
                                                            "apiVersion": {"type": "string"}, "kind": {"type": "string"}})
                validators[(f"{group}/{version['name']}", kind)] = jsonschema_rs.Draft202012Validator(schema)
    return validators


def known_custom_kinds() -> set[tuple[str, str]]:
    return set(_crd_validators())


# ------------------------------------------------------------------ entry points

def _describe(error: jsonschema_rs.ValidationError) -> str:
    path = ".".join(str(p) for p in error.instance_path) or "(root)"
    return f"{path}: {error.message[:300]}"


def validate_object(obj: Obj, minors: Iterable[str] = KUBERNETES_MINORS) -> list[str]:
    """Problems with one object ([] when valid), each prefixed with kind/name and where it applies."""
    api_version, kind = obj.get("apiVersion", ""), obj.get("kind", "")
    label = f"{kind}/{(obj.get('metadata') or {}).get('name', '?')}"
    crd = _crd_validators().get((api_version, kind))
    if crd is not None:
        problems = [f"{label}: {_describe(e)}" for e in crd.iter_errors(obj)]
        return problems + [f"{label} {p}" for p in _embedded_pod_problems(obj, list(minors))]
    problems: list[str] = []
    for minor in minors:
        validator = _kube_validator(minor, api_version, kind)
        if validator is None:
            problems.append(f"{label}: no schema for {api_version} {kind} in Kubernetes {minor} "
                            f"(removed or never served there, or a custom kind without a known CRD)")
            continue
        problems += [f"{label} (k8s {minor}): {_describe(e)}" for e in validator.iter_errors(obj)]
    return problems


def _embedded_pod_problems(obj: Obj, minors: list[str]) -> list[str]:
    """Custom resources that embed PodSpecs (SeldonDeployment componentSpecs) get each PodSpec checked
    as a Pod against the strict Kubernetes schemas, which CRD schemas often leave open."""
    if obj.get("kind") != "SeldonDeployment":
        return []
    problems: list[str] = []
    for p, predictor in enumerate((obj.get("spec") or {}).get("predictors") or []):
        for c, component in enumerate(predictor.get("componentSpecs") or []):
            if "spec" in component:
                pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "x"}, "spec": component["spec"]}
                problems += [f"predictors.{p}.componentSpecs.{c}.spec as a Pod: {q.split(': ', 1)[1]}"
                             for q in validate_object(pod, minors)]
    return problems


def validate_objects(objs: Iterable[Obj], minors: Iterable[str] = KUBERNETES_MINORS) -> list[str]:
    minors = list(minors)
    return [problem for obj in objs for problem in validate_object(obj, minors)]


def assert_valid(objs: Iterable[Obj], minors: Iterable[str] = KUBERNETES_MINORS) -> None:
    problems = validate_objects(objs, minors)
    assert not problems, "invalid objects:\n" + "\n".join(problems[:40])
