"""Render charts with a real Helm binary and hand back parsed objects."""
from __future__ import annotations

import functools
import hashlib
import json
import re
import subprocess
from pathlib import Path
from typing import Any, Iterable, Mapping

import yaml

from msc import kube
from msc.kube import chart_path
from msc.proc import CommandFailed

from .paths import CHARTS, HELMS, VALUES, tool_env

Obj = dict[str, Any]


def load_all(text: str) -> list[Obj]:
    """The non-empty YAML documents of text, parsed by libyaml (renders with an upstream CRD are megabytes:
    ten times faster than the pure-Python loader, the same safe subset of YAML)."""
    return [doc for doc in yaml.load_all(text, Loader=yaml.CSafeLoader) if doc]


class RenderError(Exception):
    """helm template failed; .stderr holds Helm's message (a chart's `fail` text is in it)."""

    def __init__(self, chart: str, stderr: str):
        super().__init__(f"helm template {chart} failed:\n{stderr}")
        self.stderr = stderr


def build_dependencies(path: Path, helm: str = "helm4") -> None:
    """msc.kube.build_dependencies, failing as a RenderError (Helm's message in .stderr)."""
    try:
        kube.build_dependencies(path, helm)
    except CommandFailed as err:
        raise RenderError(str(path), err.stderr or str(err)) from err


def render(chart: str | Path, values: Mapping[str, Any] | None = None, *, values_files: Iterable[str | Path] = (),
           helm: str = "helm4", release: str = "test", namespace: str = "default",
           kube_version: str | None = None, api_versions: Iterable[str] = (), show_only: str | None = None,
           extra_args: Iterable[str] = ()) -> list[Obj]:
    """`helm template` the chart and return its objects (empty documents dropped), tests hooks included."""
    return list(_render_cached(str(chart_path(chart).resolve()), json.dumps(values or {}, sort_keys=True),
                               tuple(str(Path(f).resolve()) for f in values_files), helm, release, namespace,
                               kube_version, tuple(api_versions), show_only, tuple(extra_args)))


def render_text(chart: str | Path, **kwargs: Any) -> str:
    """The rendered objects as YAML for snapshots, with render-time secrets masked and each CRD's schema (an
    upstream file of megabytes, checked by the schema tier) reduced to its versions and a digest."""
    return yaml.safe_dump_all([mask_generated(summarize_crd(o)) for o in render(chart, **kwargs)], sort_keys=True)


def summarize_crd(obj: Obj) -> Obj:
    if obj.get("kind") != "CustomResourceDefinition":
        return obj
    spec = obj["spec"]
    digest = hashlib.sha256(json.dumps(spec, sort_keys=True).encode()).hexdigest()
    return {**obj, "spec": {"group": spec["group"], "names": spec["names"], "scope": spec["scope"],
                            "versions": [v["name"] for v in spec["versions"]], "sha256": digest}}


GENERATED = "<generated at render time>"
_PEM_BASE64 = "LS0tLS1CRUdJTi"  # base64 of "-----BEGIN": keys and certificates genCA/genSignedCert make anew


# Made at render time from the clock: a generated certificate's expiry (its Secret's annotation, and the recording
# rule seldon-operator's metrics.certificateRule writes from it).
_CLOCK_KEYS = ("ml-serving-charts.io/not-after", "ml-serving-charts.io/next-not-after",
               "ml-serving-charts.io/rotation-phase-since")
_CLOCK_EXPR = re.compile(r"^vector\(\d+\)$")


def mask_generated(obj: Any) -> Any:
    """The object with every base64 PEM and clock-made value (generated at each render) replaced by a fixed marker."""
    if isinstance(obj, dict):
        return {k: GENERATED if k in _CLOCK_KEYS else mask_generated(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [mask_generated(v) for v in obj]
    if isinstance(obj, str) and (obj.startswith(_PEM_BASE64) or _CLOCK_EXPR.match(obj)):
        return GENERATED
    return obj


def in_stable_order(objs: Iterable[Obj]) -> list[Obj]:
    """Masked objects sorted by kind, namespace and name: Helm 3 and 4 order kinds they do not know differently."""
    return sorted((mask_generated(o) for o in objs),
                  key=lambda o: (o.get("kind", ""), o["metadata"].get("namespace", ""), o["metadata"]["name"]))


@functools.lru_cache(maxsize=512)
def _render_cached(path: str, values_json: str, values_files: tuple[str, ...], helm: str, release: str,
                   namespace: str, kube_version: str | None, api_versions: tuple[str, ...],
                   show_only: str | None, extra_args: tuple[str, ...]) -> tuple[Obj, ...]:
    build_dependencies(Path(path), helm)
    cmd = [str(HELMS[helm]), "template", release, path, "--namespace", namespace, "--values", "-"]
    for f in values_files:
        cmd += ["--values", f]
    if kube_version:
        cmd += ["--kube-version", kube_version]
    for api in api_versions:
        cmd += ["--api-versions", api]
    if show_only:
        cmd += ["--show-only", show_only]
    cmd += list(extra_args)
    # Values go in on stdin as JSON (valid YAML): no --set escaping surprises.
    proc = subprocess.run(cmd, input=values_json, capture_output=True, text=True, env=tool_env())
    if proc.returncode != 0:
        raise RenderError(path, proc.stderr)
    return tuple(load_all(proc.stdout))


def scenarios(chart: str) -> dict[str, Path]:
    """Named scenarios of a chart: values/<chart>/*.yaml, then charts/<chart>/ci/*-values.yaml as "ci/<name>",
    except a ci file that is a symlink to one of the former (it only makes that scenario a ct scenario too)."""
    found: dict[str, Path] = {}
    for f in sorted((VALUES / chart).glob("*.yaml")):
        found[f.stem] = f
    named = {p.resolve() for p in found.values()}
    for f in sorted((CHARTS / chart / "ci").glob("*-values.yaml")):
        if f.resolve() not in named:
            found[f"ci/{f.name.removesuffix('-values.yaml')}"] = f
    return found


def all_scenarios() -> list[tuple[str, str, Path]]:
    """(chart, scenario, values file) for every application chart; the default values count as one."""
    out: list[tuple[str, str, Path]] = []
    for chart_yaml in sorted(CHARTS.glob("*/Chart.yaml")):
        chart = chart_yaml.parent.name
        if yaml.safe_load(chart_yaml.read_text()).get("type") == "library":
            continue
        default = chart_yaml.parent / "values.yaml"
        out.append((chart, "defaults", default))
        out += [(chart, name, path) for name, path in scenarios(chart).items()]
    return out


def find_all(objs: Iterable[Obj], kind: str, name: str | None = None) -> list[Obj]:
    return [o for o in objs if o.get("kind") == kind and (name is None or o["metadata"]["name"] == name)]


def find(objs: Iterable[Obj], kind: str, name: str | None = None) -> Obj:
    """The one object of that kind (and name); fails with what was rendered when it is not exactly one."""
    matches = find_all(objs, kind, name)
    if len(matches) != 1:
        have = sorted(f"{o.get('kind')}/{o['metadata']['name']}" for o in objs)
        raise AssertionError(f"expected one {kind}{'/' + name if name else ''}, found {len(matches)}; rendered: {have}")
    return matches[0]


def pod_specs(objs: Iterable[Obj]) -> list[tuple[Obj, Obj]]:
    """(owner, pod spec) for every pod template in the objects, including bare Pods and Seldon componentSpecs."""
    out: list[tuple[Obj, Obj]] = []
    for o in objs:
        spec = o.get("spec") or {}
        if o.get("kind") == "Pod":
            out.append((o, spec))
        elif "template" in spec and isinstance(spec["template"], dict) and "spec" in spec["template"]:
            out.append((o, spec["template"]["spec"]))
        elif o.get("kind") == "CronJob":
            out.append((o, spec["jobTemplate"]["spec"]["template"]["spec"]))
        elif o.get("kind") == "SeldonDeployment":
            for predictor in spec.get("predictors", []):
                for component in predictor.get("componentSpecs") or []:
                    if "spec" in component:
                        out.append((o, component["spec"]))
    return out
