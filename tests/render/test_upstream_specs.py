"""Every SeldonDeployment that upstream Seldon 1.17.1 admits can be written as seldon-model values and renders
back to the same spec (modulo the chart's deliberate additions).

Admitted means: valid against the pinned v1.17.1 CRD (every embedded pod as a strict Pod too, as the
Deployments the operator makes from them must be) and passing the webhook's graph checks
(checkPredictiveUnits: a container for every custom node, methods for UNKNOWN_TYPE, modelUri for prepackaged
servers). Upstream's own samples that the operator would refuse (e.g. the executor's local samples with
`half_plus_two` as a container name) are listed, not converted."""
from __future__ import annotations

import copy

import pytest

from harness import RenderError, find, render, validate_object
from sdep_values import Obj, Unsupported, differences, to_values
from upstream_corpus import all_specs

pytestmark = pytest.mark.render

SPECS = all_specs()
CHART = "seldon-model"
PREPACKAGED = {"SKLEARN_SERVER", "XGBOOST_SERVER", "TENSORFLOW_SERVER", "MLFLOW_SERVER", "TRITON_SERVER", "HUGGINGFACE_SERVER"}
BUILTIN = {"SIMPLE_MODEL", "SIMPLE_ROUTER", "RANDOM_ABTEST", "AVERAGE_COMBINER"}
# Specs upstream admits that the chart refuses on purpose, with the reason (README "Not expressible").
DELIBERATE: dict[str, str] = {}


def admission_problems(sdep: Obj) -> list[str]:
    sdep = {**copy.deepcopy(sdep), "apiVersion": "machinelearning.seldon.io/v1"}
    sdep["metadata"] = {"name": sdep["metadata"].get("name", "x")}
    problems = validate_object(sdep)
    for p in sdep["spec"].get("predictors") or []:
        containers = {c.get("name") for cs in p.get("componentSpecs") or [] for c in (cs.get("spec") or {}).get("containers") or []}
        stack = [p.get("graph") or {}]
        while stack:
            node = stack.pop()
            stack += node.get("children") or []
            impl = node.get("implementation") or ""
            if impl in ("", "UNKNOWN_IMPLEMENTATION") and node.get("name") not in containers:
                problems.append(f"webhook: no container for graph node {node.get('name')}")
            if node.get("type") == "UNKNOWN_TYPE" and not node.get("methods"):
                problems.append(f"webhook: {node.get('name')} is UNKNOWN_TYPE without methods")
            if impl in PREPACKAGED and not node.get("modelUri") and impl != "HUGGINGFACE_SERVER":
                problems.append(f"webhook: {node.get('name')} has no modelUri")
    return problems


def declared_implementations(sdep: Obj) -> dict[str, Obj]:
    """Custom prepackaged servers a spec uses, declared as the user declares them in values."""
    found: dict[str, Obj] = {}
    for p in sdep["spec"]["predictors"]:
        stack = [p["graph"]]
        while stack:
            node = stack.pop()
            stack += node.get("children") or []
            impl = node.get("implementation") or ""
            if impl and impl not in PREPACKAGED | BUILTIN | {"UNKNOWN_IMPLEMENTATION"}:
                found[impl] = {"protocols": [sdep["spec"].get("protocol") or "seldon"], "modelUri": bool(node.get("modelUri"))}
    return found


def outcome(sdep: Obj) -> tuple[str, str]:
    """("faithful" | "not-admitted" | "unsupported" | "unfaithful" | "refused", detail)."""
    problems = admission_problems(sdep)
    if problems:
        return "not-admitted", "; ".join(problems[:3])
    try:
        values = to_values(sdep)
    except Unsupported as err:
        return "unsupported", str(err)
    if implementations := declared_implementations(sdep):
        values["implementations"] = implementations
    try:
        objs = render(CHART, values)
    except RenderError as err:
        return "refused", " ".join(err.stderr.split())[:600]
    rendered = find(objs, "SeldonDeployment")
    diffs = differences(sdep["spec"], rendered["spec"])
    invalid = validate_object(rendered)
    return ("unfaithful", "; ".join((diffs + invalid)[:5])) if diffs or invalid else ("faithful", "")


@pytest.mark.parametrize(("where", "sdep"), SPECS, ids=[w for w, _ in SPECS])
def test_admitted_spec_renders_faithfully(where: str, sdep: Obj) -> None:
    result, detail = outcome(sdep)
    if result == "not-admitted":
        pytest.skip(f"upstream's webhook or CRD would refuse it: {detail}")
    if where in DELIBERATE:
        assert result in ("refused", "unsupported"), f"{where}: expected the deliberate refusal"
        return
    assert result == "faithful", f"{where}: {result}: {detail}"


def test_corpus_summary(capsys: pytest.CaptureFixture[str]) -> None:
    """Prints the figures (how many specs, how many admitted, how many rendered faithfully)."""
    results = [(w, *outcome(s)) for w, s in SPECS]
    admitted = [r for r in results if r[1] != "not-admitted"]
    faithful = [r for r in admitted if r[1] == "faithful"]
    with capsys.disabled():
        print(f"\nupstream SeldonDeployments: {len(results)} read, {len(admitted)} admitted by upstream, "
              f"{len(faithful)} rendered faithfully")
    assert len(faithful) + len(DELIBERATE) == len(admitted), [r for r in admitted if r[1] != "faithful"]
