"""Seldon Core 1.17.1 COMBINER: a real ensemble. aggregate() averages its children's probability rows
(Seldon 1.17.1's built-in AVERAGE_COMBINER passes the first child's answer through instead).

Children may list their classes in different orders: columns are matched by the names each child
returns (the first child's order wins), and a child with other classes is refused (HTTP 400).
Optional parameter `weights`: comma-separated, one per child (e.g. "2,1"); default equal weights.
Every response carries the tag iris-combiner.members (how many children were averaged).
"""
from __future__ import annotations

import threading
from typing import Any

import numpy as np
from seldon_core.flask_utils import SeldonMicroserviceException
from seldon_core.user_model import SeldonResponse


def bad(message: str) -> SeldonMicroserviceException:
    return SeldonMicroserviceException(f"iris-combiner: {message}", status_code=400)


class IrisCombiner:
    def __init__(self, weights: str = "") -> None:
        self.weights = [float(w) for w in str(weights).split(",") if w.strip()] or None
        if self.weights and (min(self.weights) < 0 or sum(self.weights) <= 0):
            raise ValueError(f"weights {weights!r} must be non-negative with a positive sum")
        self._request = threading.local()    # the names of this request's answer, for class_names()

    def aggregate(self, features_list: list[Any], feature_names_list: list[list[str]]) -> SeldonResponse:
        if not features_list:
            raise bad("no child answers to combine")
        arrays = []
        for i, features in enumerate(features_list):
            try:
                a = np.asarray(features, dtype=float)
            except (TypeError, ValueError) as err:
                raise bad(f"child {i} did not return numbers: {err}") from err
            arrays.append(a.reshape(1, -1) if a.ndim == 1 else a)
        names = [list(n) if n is not None else [] for n in feature_names_list] + [[]] * (len(arrays) - len(feature_names_list))
        first = names[0]
        for i, (a, n) in enumerate(zip(arrays, names)):
            if a.shape != arrays[0].shape:
                raise bad(f"child {i} returned shape {list(a.shape)}, child 0 {list(arrays[0].shape)}")
            if first and n and n != first:
                if sorted(n) != sorted(first):
                    raise bad(f"child {i} has classes {n}, child 0 {first}")
                arrays[i] = a[:, [n.index(c) for c in first]]
        if self.weights and len(self.weights) != len(arrays):
            raise bad(f"{len(self.weights)} weights for {len(arrays)} children")
        mean = np.average(np.stack(arrays), axis=0, weights=self.weights)
        self._request.names = first or [f"t:{j}" for j in range(mean.shape[1])]
        metrics = [{"type": "COUNTER", "key": "iris_combined_rows", "value": float(mean.shape[0])}]
        return SeldonResponse(mean, tags={"iris-combiner.members": len(arrays)}, metrics=metrics)

    def class_names(self) -> list[str]:
        return getattr(self._request, "names", [])
