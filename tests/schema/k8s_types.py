"""Kubernetes' own types inside charts/seldon-model/values.schema.json.

Values that pass straight into a pod (tolerations, affinity, topologySpreadConstraints, probes, env, volumes,
sidecar containers, every other PodSpec and Container field) are typed by Kubernetes' own OpenAPI schema, so
`whenUnsatisfiable: -7` or a list where a string goes is refused at `helm install`, naming the value, instead
of by the API server. The definitions are kubernetes-validate's strict schemas for the OLDEST supported minor
(a field that minor lacks would be refused by its API server), descriptions dropped to keep the file small,
copied under the same `$defs` names (`io.k8s.api.core.v1.Toleration`, ...) so their own `$ref`s resolve as they
are. The chart's hand-written `$defs` refer to them.

    .tools/venv/bin/python tests/schema/k8s_types.py          # rewrite the embedded definitions
    tests/schema/test_k8s_types.py                            # fails when they are stale
"""
from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import kubernetes_validate

ROOT = Path(__file__).resolve().parents[2]
SCHEMA_ROOT = Path(kubernetes_validate.__file__).parent / "kubernetes-json-schema"
PREFIX = "io.k8s."
QUANTITY = "io.k8s.apimachinery.pkg.api.resource.Quantity"
QUANTITY_PATTERN = r"^(\+|-)?(([0-9]+(\.[0-9]*)?)|(\.[0-9]+))(([KMGTPE]i)|[numkMGTPE]|([eE](\+|-)?(([0-9]+(\.[0-9]*)?)|(\.[0-9]+))))?$"
# The Kubernetes types values refer to; their closure is embedded.
ROOTS = (
    "io.k8s.api.core.v1.PodSpec",                      # containers, volumes, affinity, probes, ... every pod field
    "io.k8s.api.networking.v1.NetworkPolicyPeer",      # networkPolicy.ingressFrom / prometheusFrom
    "io.k8s.api.autoscaling.v2.MetricSpec",            # hpa.metrics
)
CHARTS = {"seldon-model": ROOT / "charts" / "seldon-model" / "values.schema.json"}


def oldest_minor() -> str:
    import tomllib
    pins = tomllib.loads((ROOT / "scripts" / "pins.toml").read_text())
    return sorted(pins["kubernetes_minors"], key=lambda m: tuple(int(x) for x in m.split(".")))[0]


def _strip(node: Any) -> Any:
    """Descriptions and x-kubernetes-* dropped; no null where a value goes (the CRDs embedding these types
    refuse null, and a null in values means a mistake); int32/int64 formats become bounds (jsonschema
    validators ignore formats, the API server does not)."""
    if isinstance(node, dict):
        out = {k: _strip(v) for k, v in node.items() if k != "description" and not k.startswith("x-kubernetes-")}
        if isinstance(out.get("type"), list) and "null" in out["type"]:
            kept = [t for t in out["type"] if t != "null"]
            out["type"] = kept[0] if len(kept) == 1 else kept
        bits = {"int32": 31, "int64": 63}.get(out.get("format", ""))
        if bits and out.get("type") == "integer":
            out.setdefault("minimum", -(2 ** bits))
            out.setdefault("maximum", 2 ** bits - 1)
        return out
    if isinstance(node, list):
        return [_strip(v) for v in node]
    return node


def _refs(node: Any) -> set[str]:
    if isinstance(node, dict):
        found = {node["$ref"].split("/")[-1]} if isinstance(node.get("$ref"), str) and node["$ref"].startswith("#/$defs/") else set()
        for v in node.values():
            found |= _refs(v)
        return found
    if isinstance(node, list):
        return set().union(*(_refs(v) for v in node)) if node else set()
    return set()


def kubernetes_defs(minor: str | None = None) -> dict[str, Any]:
    """The closure of ROOTS in the strict schemas of `minor` (default: the oldest supported one), sorted."""
    minor = minor or oldest_minor()
    defs = json.loads((SCHEMA_ROOT / f"v{minor}.0-local-strict" / "_definitions.json").read_text())["$defs"]
    out: dict[str, Any] = {}
    todo = list(ROOTS)
    while todo:
        name = todo.pop()
        if name in out:
            continue
        out[name] = _strip(defs[name])
        todo += sorted(_refs(out[name]) - set(out))
    # A quantity is a string of the quantity pattern or a whole number where CRDs embed it
    # (x-kubernetes-int-or-string, with the pattern controller-gen writes): 1.5 or "lots" would pass
    # Kubernetes' JSON schema but not the SeldonDeployment CRD's.
    if QUANTITY in out:
        out[QUANTITY] = {"oneOf": [{"type": "string", "pattern": QUANTITY_PATTERN}, {"type": "integer"}]}
    return dict(sorted(out.items()))


def with_kubernetes_defs(schema: dict[str, Any]) -> dict[str, Any]:
    """The schema with its io.k8s.* $defs replaced by kubernetes_defs() (the chart's own $defs first, kept as they are)."""
    own = {k: v for k, v in schema.get("$defs", {}).items() if not k.startswith(PREFIX)}
    return {**schema, "$defs": {**own, **kubernetes_defs()}}


def expected_text(path: Path) -> str:
    return json.dumps(with_kubernetes_defs(json.loads(path.read_text())), indent=2) + "\n"


def main() -> int:
    for path in CHARTS.values():
        path.write_text(expected_text(path))
        print(f"wrote {path.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
