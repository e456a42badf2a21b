"""Values computed by tests: the charts' values merge (ml-common.values.merge) in Python."""
from __future__ import annotations

import copy
from typing import Any, Mapping


def merge_values(*layers: Mapping[str, Any] | None) -> dict[str, Any]:
    """The layers merged left to right (a later one wins), with the semantics of the charts' one values merge,
    ml-common.values.merge (charts/ml-common/templates/_values.tpl):

    - both values maps: merged recursively by these rules (an empty map changes nothing);
    - any other value replaces the earlier one, including False, 0, "", [] and {} over a non-map;
    - lists are replaced as a whole, never appended or merged element by element;
    - None means "no value": it removes the key, and the result never holds None inside a map (as Helm
      drops a default the user sets to null); Nones inside lists are kept;
    - a key missing from a later layer keeps the earlier value.

    A None layer counts as an empty map. The layers are not modified and the result shares nothing with them.
    Tests use it to compute the values Helm sees: merge_values(chart defaults, scenario file).
    """
    out: dict[str, Any] = {}
    for layer in layers:
        if layer is None:
            continue
        if not isinstance(layer, Mapping):
            raise TypeError(f"merge_values takes maps, got {type(layer).__name__}: {layer!r}")
        for key, value in layer.items():
            if value is None:
                out.pop(key, None)
            elif isinstance(value, Mapping):
                current = out.get(key)
                out[key] = merge_values(current if isinstance(current, Mapping) else None, value)
            else:
                out[key] = copy.deepcopy(value)
    return out


def with_value(defaults: Mapping[str, Any], path: str, value: Any) -> dict[str, Any]:
    """A deep copy of defaults with one dotted path set (a.b.0.c: a digit indexes a list; missing maps are made)."""
    values = copy.deepcopy(dict(defaults))
    *parents, last = path.split(".")
    node: Any = values
    for key in parents:
        node = node[int(key)] if isinstance(node, list) else node.setdefault(key, {})
    node[int(last) if isinstance(node, list) else last] = value
    return values
