"""A small, exact subset of the scheduler's admission checks, shared by the render-tier pool/model
agreement tests and the cluster tiers: required node affinity, nodeSelector, NoSchedule/NoExecute
taints, and resource requests against allocatable."""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any

Obj = dict[str, Any]

_SUFFIX = {"": 1, "m": Fraction(1, 1000), "k": 10**3, "M": 10**6, "G": 10**9, "T": 10**12, "P": 10**15, "E": 10**18,
           "Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "Pi": 2**50, "Ei": 2**60}


def quantity(value: Any) -> Fraction:
    """A Kubernetes quantity ("500m", "64Gi", 4) as an exact number."""
    match = re.fullmatch(r"([0-9.]+)([a-zA-Z]*)", str(value))
    assert match and match.group(2) in _SUFFIX, f"not a quantity: {value!r}"
    return Fraction(match.group(1)) * _SUFFIX[match.group(2)]


@dataclass
class NodeModel:
    pool: str
    labels: dict[str, str]
    taints: list[Obj] = field(default_factory=list)
    allocatable: dict[str, Any] = field(default_factory=dict)
    source: str = ""


def _expression_matches(expr: Obj, labels: dict[str, str]) -> bool:
    key, op, values = expr["key"], expr["operator"], [str(v) for v in expr.get("values") or []]
    present = key in labels
    if op == "In":
        return present and labels[key] in values
    if op == "NotIn":
        return not present or labels[key] not in values
    if op == "Exists":
        return present
    if op == "DoesNotExist":
        return not present
    if op in ("Gt", "Lt"):
        if not present:
            return False
        return int(labels[key]) > int(values[0]) if op == "Gt" else int(labels[key]) < int(values[0])
    raise ValueError(f"unknown operator {op}")


def _tolerates(tolerations: list[Obj], taint: Obj) -> bool:
    for t in tolerations:
        if t.get("effect") and t["effect"] != taint["effect"]:
            continue
        if t.get("operator", "Equal") == "Exists":
            if not t.get("key") or t["key"] == taint["key"]:
                return True
        elif t.get("key") == taint["key"] and t.get("value", "") == taint.get("value", ""):
            return True
    return False


def _requests(spec: Obj) -> dict[str, Fraction]:
    """Pod requests: containers summed, init containers as a maximum; an extended resource's request defaults to its limit."""
    def container_requests(c: Obj) -> dict[str, Fraction]:
        res = c.get("resources") or {}
        merged = {**(res.get("limits") or {}), **(res.get("requests") or {})}
        return {k: quantity(v) for k, v in merged.items()}
    total: dict[str, Fraction] = {}
    for c in spec.get("containers", []):
        for k, v in container_requests(c).items():
            total[k] = total.get(k, Fraction(0)) + v
    for c in spec.get("initContainers", []):
        for k, v in container_requests(c).items():
            total[k] = max(total.get(k, Fraction(0)), v)
    return total


def admission_problems(spec: Obj, node: NodeModel, check_resources: bool = True) -> list[str]:
    """Why the scheduler would not put this pod on this node ([] = it would)."""
    problems = []
    for key, value in (spec.get("nodeSelector") or {}).items():
        if node.labels.get(key) != str(value):
            problems.append(f"nodeSelector {key}={value}")
    required = ((spec.get("affinity") or {}).get("nodeAffinity") or {}).get("requiredDuringSchedulingIgnoredDuringExecution")
    if required:
        terms = required.get("nodeSelectorTerms") or []
        if not any(all(_expression_matches(e, node.labels) for e in term.get("matchExpressions") or []) for term in terms):
            problems.append(f"required node affinity {terms}")
    for taint in node.taints:
        if taint["effect"] in ("NoSchedule", "NoExecute") and not _tolerates(spec.get("tolerations") or [], taint):
            problems.append(f"untolerated taint {taint}")
    if check_resources:
        for name, amount in _requests(spec).items():
            if amount and (name not in node.allocatable or quantity(node.allocatable[name]) < amount):
                problems.append(f"{name}: wants {amount}, node offers {node.allocatable.get(name, 0)}")
    return problems
