"""Bad values never crash a chart: a property-based test (hypothesis) that mutates every scenario's values.

Each case takes one scenario of one chart (its values merged over the chart's defaults, as a user who
writes every value would), picks one place in it and breaks it: null, a value of another type, an
extreme (a number past int32, a negative, a 300-character string, an empty one) or an unknown key. The
chart must then either

- refuse the values with a message that names the place (or the object holding it): values.schema.json
  errors (checked here with the same schema Helm applies, on the values Helm coalesces) or a `fail` of the
  chart's templates, or
- render (helm template, Helm 4) objects that are valid for every supported Kubernetes minor and against
  the pinned CRDs,

and never stop with a Go template error (nil pointer, wrong type, ...). The seed is fixed (derandomize),
so a run is reproducible; FUZZ_CASES raises or lowers the budget (at least 1,000 in CI).
"""
from __future__ import annotations

import copy
import functools
import json
import os
import re
import shutil
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest
import jsonschema_rs
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from harness import CHARTS, HELMS, all_scenarios, validate_objects
from harness.paths import tool_env
from harness.render import build_dependencies, load_all

pytestmark = pytest.mark.schema

CASES = int(os.environ.get("FUZZ_CASES", "1000"))
Path_ = tuple[Any, ...]
# What a Go template error looks like in Helm's output (a `fail` is "execution error at (...): <message>").
CRASH = re.compile(r"nil pointer|can't evaluate field|wrong type for value|interface conversion|index out of range|"
                   r"error calling|invalid value; expected|cannot index|unable to parse|runtime error|panic")
UNKNOWN_KEY = "zzUnknownKey"
# Which mutations each chart gets: seldon-model every kind anywhere; seldon-operator and gpu-node-pool null at
# any key Helm coalesces (their pass-through fields are not typed by Kubernetes' schema yet, so a wrong type
# there can still render);
# ml-monitoring and the ml-platform umbrella (whose subchart values Helm coalesces and type-checks itself,
# "type mismatch on <subchart>") are not fuzzed yet.
FUZZED = {"seldon-model": "all", "seldon-operator": "null", "gpu-node-pool": "null"}
SCENARIOS = [(chart, name, path) for chart, name, path in all_scenarios() if chart in FUZZED]
STATS: dict[str, int] = {"schema": 0, "template": 0, "rendered": 0}
TIMES: dict[str, float] = {}


def coalesce(defaults: Any, user: Any) -> Any:
    """Helm's values coalescing: maps merge recursively, a user null deletes a default key, lists and scalars replace."""
    if not isinstance(defaults, dict) or not isinstance(user, dict):
        return copy.deepcopy(user)
    out = copy.deepcopy(user)
    for key, value in defaults.items():
        if key in out:
            if out[key] is None:
                del out[key]
            elif isinstance(out[key], dict) and isinstance(value, dict):
                out[key] = coalesce(value, out[key])
        elif value is not None:
            out[key] = copy.deepcopy(value)
    return out


@functools.cache
def _loaded(path: Path) -> dict[str, Any]:
    return yaml.load(path.read_text(), Loader=yaml.CSafeLoader) or {}


def _load(path: Path) -> dict[str, Any]:
    return copy.deepcopy(_loaded(path))


@functools.cache
def _full_values(chart: str, values_file: Path) -> dict[str, Any]:
    return coalesce(_loaded(CHARTS / chart / "values.yaml"), _loaded(values_file))


def full_values(chart: str, values_file: Path) -> dict[str, Any]:
    return copy.deepcopy(_full_values(chart, values_file))


@functools.cache
def _places(chart: str, values_file: Path) -> list[Path_]:
    return places(_full_values(chart, values_file))


@functools.cache
def _schema(chart: str) -> jsonschema_rs.Validator:
    return jsonschema_rs.validator_for(json.loads((CHARTS / chart / "values.schema.json").read_text()))


def places(node: Any, path: Path_ = ()) -> list[Path_]:
    """Every place in the document (the root excluded): map keys and list items, depth first."""
    out: list[Path_] = []
    if isinstance(node, dict):
        for key, value in node.items():
            out.append(path + (key,))
            out += places(value, path + (key,))
    elif isinstance(node, list):
        for i, value in enumerate(node):
            out.append(path + (i,))
            out += places(value, path + (i,))
    return out


def get(node: Any, path: Path_) -> Any:
    for step in path:
        node = node[step]
    return node


def mutants(value: Any) -> list[Any]:
    """Replacements for a value: null, every other JSON type, extremes."""
    out: list[Any] = [None, 2**31, -7, 1.5, "x" * 300, "", True, [], ["x"], {}, {"a": 1}, "not-a-valid value!"]
    return [m for m in out if type(m) is not type(value) or m != value]


@st.composite
def cases(draw: st.DrawFn) -> tuple[str, str, dict[str, Any], Path_, str]:
    chart, name, values_file = draw(st.sampled_from(SCENARIOS))
    values = full_values(chart, values_file)
    candidates = _places(chart, values_file)
    if FUZZED[chart] == "null":   # the keys Helm coalesces (and deletes when set to null): none inside a list
        candidates = [p for p in candidates if not any(isinstance(step, int) for step in p)]
    where = draw(st.sampled_from(candidates))
    kind = draw(st.sampled_from(["replace", "replace", "replace", "unknown-key"])) if FUZZED[chart] == "all" else "null"
    target = get(values, where)
    if kind == "null":
        get(values, where[:-1])[where[-1]] = None
        return chart, name, values, where, f"{where} = null"
    if kind == "unknown-key" and isinstance(target, dict):
        target[UNKNOWN_KEY] = draw(st.sampled_from([1, "x", None, {"a": 1}]))
        return chart, name, values, where + (UNKNOWN_KEY,), f"unknown key under {where}"
    new = draw(st.sampled_from(mutants(target)))
    get(values, where[:-1])[where[-1]] = new
    return chart, name, values, where, f"{where} = {json.dumps(new)[:40]}"


def notations(path: Path_) -> set[str]:
    """How messages spell a place: predictors[0].graph (our fail messages), predictors.0.graph (Helm 3,
    jsonschema), /predictors/0/graph (Helm 4)."""
    out = set()
    for n in range(len(path), 0, -1):
        part = path[:n]
        out.add("".join(f"[{p}]" if isinstance(p, int) else (f".{p}" if i else str(p)) for i, p in enumerate(part)))
        out.add(".".join(str(p) for p in part))
        out.add("/" + "/".join(str(p) for p in part))
    return out


def schema_errors(chart: str, values: dict[str, Any]) -> list[tuple[Path_, str]] | None:
    """values.schema.json errors of the coalesced values ([] when valid); None for charts with subcharts
    (Helm validates each subchart's own values: left to Helm)."""
    meta = yaml.safe_load((CHARTS / chart / "Chart.yaml").read_text())
    if any(d["name"] != "ml-common" for d in meta.get("dependencies") or []):
        return None
    coalesced = coalesce(_loaded(CHARTS / chart / "values.yaml"), values)
    return [(tuple(e.instance_path), e.message) for e in _schema(chart).iter_errors(coalesced)]


PRIVATE: dict[str, Path] = {}   # chart -> a private copy with its dependencies built (ct and packaging rebuild them in place)


def helm_template(chart: str, values: dict[str, Any]) -> subprocess.CompletedProcess[str]:
    cmd = [str(HELMS["helm4"]), "template", "fuzz", str(PRIVATE.get(chart, CHARTS / chart)), "--namespace", "models", "--values", "-"]
    return subprocess.run(cmd, input=json.dumps(values), capture_output=True, text=True, env=tool_env())


def related(error_path: Path_, mutated: Path_) -> bool:
    """An error is about the mutation when it is at the mutated place, above it or below it."""
    n = min(len(error_path), len(mutated))
    return error_path[:n] == mutated[:n]


@pytest.fixture(scope="module", autouse=True)
def _dependencies(tmp_path_factory: pytest.TempPathFactory) -> None:
    root = tmp_path_factory.mktemp("fuzz-charts")
    for chart in sorted({c for c, _, _ in SCENARIOS}):
        build_dependencies(CHARTS / chart)
        PRIVATE[chart] = Path(shutil.copytree(CHARTS / chart, root / chart))


@settings(max_examples=CASES, derandomize=True, database=None, deadline=None, print_blob=True,
          suppress_health_check=list(HealthCheck))
@given(case=cases())
def test_mutated_values_are_refused_by_name_or_render_valid(case: tuple[str, str, dict[str, Any], Path_, str]) -> None:
    chart, scenario, values, mutated, what = case
    label = f"{chart}:{scenario} with {what}"
    errors = schema_errors(chart, values)
    if errors:
        assert any(related(path, mutated) for path, _ in errors), f"{label}: refused, but not at the mutated value: {errors[:3]}"
        STATS["schema"] += 1
        return
    started = time.monotonic()
    proc = helm_template(chart, values)
    TIMES[chart] = TIMES.get(chart, 0.0) + time.monotonic() - started
    if proc.returncode != 0:
        message = " ".join(proc.stderr.split())
        assert not CRASH.search(message), f"{label}: the chart crashed instead of refusing the value:\n{message[:1500]}"
        assert "execution error at" in message or "values don't meet the specifications of the schema" in message, \
            f"{label}: Helm failed without a chart or schema message:\n{message[:1500]}"
        named = [n for n in notations(mutated) if n in message]
        assert named, f"{label}: refused without naming the value (any of {sorted(notations(mutated))[:6]}):\n{message[:1500]}"
        STATS["template"] += 1
        return
    started = time.monotonic()
    problems = validate_objects(load_all(proc.stdout))
    TIMES["validate"] = TIMES.get("validate", 0.0) + time.monotonic() - started
    assert not problems, f"{label}: rendered invalid objects:\n" + "\n".join(problems[:10])
    STATS["rendered"] += 1


def test_fuzz_budget_is_at_least_a_thousand_cases_in_ci() -> None:
    assert CASES >= 1000 or os.environ.get("FUZZ_CASES"), "the property test runs at least 1,000 cases per run"


def teardown_module() -> None:
    total = sum(STATS.values())
    if total:
        print(f"\nvalues fuzz: {total} cases: {STATS['schema']} refused by values.schema.json, "
              f"{STATS['template']} refused by the templates, {STATS['rendered']} rendered valid; seconds: {TIMES}")
