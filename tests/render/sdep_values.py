"""A SeldonDeployment as charts/seldon-model values, and the check that the chart renders it back faithfully.

to_values() is what a user does by hand: every field goes to the value that carries it. faithful() compares
the upstream spec with the rendered one: every field upstream sets must come back with the same value; the
chart's deliberate additions (labels, the restricted securityContext, default resources, the /tmp volume and
mounts, image-less containers for prepackaged servers, explicit protocol and transport) are allowed. A Go zero
value upstream ("", 0, false, [], {}, null) counts as absent, as the operator reads it.
"""
from __future__ import annotations

import copy
import re
from typing import Any

from harness.images import qualified

Obj = dict[str, Any]
ROOT_FIELDS = ("runAsUser", "runAsNonRoot", "privileged", "allowPrivilegeEscalation")


class Unsupported(Exception):
    """A field the chart cannot express (the README's "Not expressible" list says why)."""


def _image(ref: str) -> Obj | str:
    if "@" in ref:
        repository, digest = ref.split("@", 1)
        return {"repository": repository, "digest": digest}
    head, _, tail = ref.rpartition(":")
    if head and "/" not in tail:
        return {"repository": head, "tag": tail}
    return ref   # untagged: written as Kubernetes writes it


def _breaks_restricted(sc: Obj | None) -> bool:
    sc = sc or {}
    caps = (sc.get("capabilities") or {})
    return (sc.get("runAsUser") == 0 or sc.get("runAsNonRoot") is False or bool(sc.get("privileged"))
            or sc.get("allowPrivilegeEscalation") is True or any(c != "NET_BIND_SERVICE" for c in caps.get("add") or []))


def _component(container: Obj) -> Obj:
    c = {k: copy.deepcopy(v) for k, v in container.items() if k not in ("name", "image")}
    if container.get("image"):
        c["image"] = _image(container["image"])
    if _breaks_restricted(container.get("securityContext")):
        c["securityProfile"] = "privileged"
        c["securityProfileReason"] = "the upstream image runs as root"
    return c


def _nodes(node: Obj) -> list[Obj]:
    return [node] + [n for child in node.get("children") or [] for n in _nodes(child)]


def _scaling(spec: Obj) -> Obj:
    out: Obj = {}
    if spec.get("hpaSpec"):
        hpa = spec["hpaSpec"]
        out["hpa"] = {k: v for k, v in {"minReplicas": hpa.get("minReplicas"), "maxReplicas": hpa.get("maxReplicas"),
                                         "metrics": hpa.get("metricsv2"), "metricsV2beta1": hpa.get("metrics")}.items() if v is not None}
    if spec.get("kedaSpec"):
        keda = spec["kedaSpec"]
        out["keda"] = {**{k: keda[k] for k in ("pollingInterval", "cooldownPeriod", "minReplicaCount", "maxReplicaCount", "advanced") if k in keda},
                       "prometheus": {"enabled": False}, "triggers": keda.get("triggers") or []}
    if spec.get("pdbSpec"):
        out["pdb"] = dict(spec["pdbSpec"])
    return out


def to_values(sdep: Obj) -> Obj:
    spec = sdep["spec"]
    if spec.get("oauth_key") or spec.get("oauth_secret"):
        raise Unsupported("spec.oauth_key/oauth_secret: the 0.x API gateway's credentials, unused by 1.x")
    values: Obj = {"fullnameOverride": sdep["metadata"]["name"], "test": {"enabled": False}}
    for key in ("protocol", "transport", "serverType", "replicas", "annotations"):
        if spec.get(key) not in (None, "", {}):
            values[key] = spec[key]
    endpoint_types = {(n.get("endpoint") or {}).get("type") for p in spec["predictors"] for n in _nodes(p["graph"])} - {None, ""}
    if not spec.get("transport") and len(endpoint_types) == 1:
        values["transport"] = endpoint_types.pop().lower()   # the chart always writes transport: say the graph's
    if spec.get("name"):
        values["specName"] = spec["name"]
    predictors = []
    for p in spec["predictors"]:
        if p.get("engineResources"):
            raise Unsupported("engineResources: deprecated; svcOrchSpec.resources (svcOrch.resources) replaces it")
        graph = copy.deepcopy(p["graph"])
        names = {n["name"] for n in _nodes(graph)}
        out: Obj = {"name": p["name"], "graph": graph}
        for key in ("traffic", "shadow", "replicas", "labels", "annotations", "progressDeadlineSeconds", "ssl"):
            if p.get(key) not in (None, "", {}, False):
                out[key] = p[key]
        if p.get("svcOrchSpec"):
            out["svcOrch"] = {k: v for k, v in p["svcOrchSpec"].items() if v not in (None, [], {})}
        components: Obj = {}
        pods: list[Obj] = []
        for j, cs in enumerate(p.get("componentSpecs") or []):
            meta, pod_spec = cs.get("metadata") or {}, copy.deepcopy(cs.get("spec") or {})
            key = "" if j == 0 else (meta.get("name") or f"pod{j}")
            containers = pod_spec.pop("containers", None) or []
            podspec = {k: v for k, v in pod_spec.items() if v is not None}
            if meta.get("labels"):
                podspec["labels"] = meta["labels"]
            if meta.get("annotations"):
                podspec["annotations"] = meta["annotations"]
            sidecars = []
            for container in containers:
                if container.get("name") not in names:
                    sidecars.append(container)
                    continue
                component = _component(container)
                if key:
                    component["pod"] = key
                if container["name"] in components:
                    components[container["name"]].setdefault("versions", []).append({"pod": key, **component})
                else:
                    components[container["name"]] = component
            if sidecars:
                podspec["containers"] = sidecars
            if j == 0:
                if meta.get("name"):
                    out["mainPodName"] = meta["name"]
                if cs.get("replicas") is not None:
                    out["mainPodReplicas"] = cs["replicas"]
                if podspec:
                    out["podSpec"] = podspec
                out.update(_scaling(cs))
            else:
                pod = {"name": key, **({"anonymous": True} if not meta.get("name") else {}), **_scaling(cs)}
                if podspec:
                    pod["podSpec"] = podspec
                if cs.get("replicas") is not None:
                    pod["replicas"] = cs["replicas"]
                pods.append(pod)
        if components:
            out["components"] = components
        if pods:
            out["pods"] = pods
        if p.get("explainer"):
            e = copy.deepcopy(p["explainer"])
            container = e.pop("containerSpec", None) or {}
            out["explainer"] = {**e, **_component(container), **({"name": container["name"]} if container.get("name") else {})}
        predictors.append(out)
    values["predictors"] = predictors
    values["defaults"] = {"prepackagedServerContainers": False}
    return values


_EMPTY = (None, "", 0, False, [], {})


def differences(upstream: Any, rendered: Any, path: str = "spec") -> list[str]:
    """Where the rendered value does not carry what upstream set ([] when faithful)."""
    if isinstance(upstream, dict):
        if not isinstance(rendered, dict):
            return [f"{path}: {rendered!r} is not a map"]
        out = []
        for key, value in upstream.items():
            if key not in rendered:
                if value not in _EMPTY:
                    out.append(f"{path}.{key}: missing (upstream {value!r})")
                continue
            out += differences(value, rendered[key], f"{path}.{key}")
        return out
    if isinstance(upstream, list):
        if not isinstance(rendered, list):
            return [f"{path}: {rendered!r} is not a list"]
        named = all(isinstance(i, dict) and "name" in i for i in upstream + rendered) and upstream
        if named:
            by_name = {i["name"]: i for i in rendered}
            return [d for i in upstream for d in (differences(i, by_name[i["name"]], f"{path}[{i['name']}]")
                                                  if i["name"] in by_name else [f"{path}[{i['name']}]: missing"])]
        if len(upstream) != len(rendered):
            return [f"{path}: {len(upstream)} items upstream, {len(rendered)} rendered"]
        return [d for n, (u, r) in enumerate(zip(upstream, rendered)) for d in differences(u, r, f"{path}[{n}]")]
    if upstream == rendered or str(upstream) == str(rendered):
        return []
    if path.endswith((".image", ".storageInitializerImage")) and isinstance(upstream, str) and qualified(upstream) == rendered:
        return []   # the chart writes the registry out (ml-common.images.qualify): the same image
    if isinstance(upstream, str) and re.fullmatch(r"[0-9]+", upstream) and str(rendered) == upstream:
        return []
    return [f"{path}: upstream {upstream!r}, rendered {rendered!r}"]
