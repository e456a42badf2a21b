"""What the iris components agree on: feature order and units, class names, and payload parsing.

The model is trained on scikit-learn's iris data: four measurements in centimetres, in the order of
FEATURES, and three classes in the order of CLASSES. Shared by IrisClassifier, IrisTransformer and
IrisCombiner (copied next to each, so every image imports it from its working directory).
"""
from __future__ import annotations

import re
from typing import Any, Iterable, Sequence

import numpy as np

FEATURES = ["sepal_length", "sepal_width", "petal_length", "petal_width"]
CLASSES = ["setosa", "versicolor", "virginica"]
# centimetres per unit a caller may send (IrisTransformer's input_unit parameter)
UNITS = {"cm": 1.0, "mm": 0.1, "m": 100.0, "in": 2.54}
UNIT_ALIASES = {"centimetre": "cm", "centimeter": "cm", "millimetre": "mm", "millimeter": "mm",
                "metre": "m", "meter": "m", "inch": "in", "inches": "in"}


class PayloadError(ValueError):
    """A request the components cannot use; the message says what is wrong and what is expected."""


def canonical_name(name: str) -> str:
    """'Sepal Length (cm)', 'sepal-length', 'sepalLength' -> 'sepal_length'."""
    text = re.sub(r"\(.*?\)", "", str(name))
    text = re.sub(r"(?<=[a-z])(?=[A-Z])", "_", text.strip())
    return re.sub(r"[\s\-.]+", "_", text.strip()).lower().strip("_")


def unit_factor(unit: str) -> tuple[str, float]:
    key = UNIT_ALIASES.get(str(unit).strip().lower(), str(unit).strip().lower())
    if key not in UNITS:
        raise PayloadError(f"unknown unit {unit!r}: use one of {sorted(UNITS)}")
    return key, UNITS[key]


def column_order(names: Sequence[str] | None, width: int) -> list[int] | None:
    """Indices that put columns named `names` into FEATURES order; None when the names are absent
    or are not feature names at all (then the columns must already be in FEATURES order)."""
    if not names:
        return None
    canon = [canonical_name(n) for n in names]
    if not set(canon) & set(FEATURES):
        return None
    missing = [f for f in FEATURES if f not in canon]
    if missing or len(canon) != width:
        raise PayloadError(f"columns {list(names)} must name the four features {FEATURES} exactly once "
                           f"(missing: {missing})")
    return [canon.index(f) for f in FEATURES]


def records_to_rows(records: Iterable[Any]) -> np.ndarray:
    rows = []
    for i, rec in enumerate(records):
        if not isinstance(rec, dict):
            raise PayloadError(f"record {i} is {type(rec).__name__}; expected an object with keys {FEATURES}")
        values = {canonical_name(k): v for k, v in rec.items()}
        missing = [f for f in FEATURES if f not in values]
        if missing:
            raise PayloadError(f"record {i} lacks {missing}; it has {sorted(rec)}")
        rows.append([values[f] for f in FEATURES])
    return to_matrix(rows)


def to_matrix(data: Any, names: Sequence[str] | None = None) -> np.ndarray:
    """Any accepted payload -> float matrix (rows x 4, FEATURES order, caller's unit).

    Accepted: a row or rows of four numbers (optionally with column names in any order), an object
    {feature: value}, a list of such objects, or {"instances": [...]} of either."""
    if isinstance(data, dict):
        if "instances" in data:
            return to_matrix(data["instances"], data.get("names", names))
        return records_to_rows([data])
    if isinstance(data, np.ndarray) and data.dtype == object and data.size and all(isinstance(x, dict) for x in data.ravel()):
        return records_to_rows(data.ravel())
    if isinstance(data, list) and data and all(isinstance(x, dict) for x in data):
        return records_to_rows(data)
    try:
        matrix = np.asarray(data, dtype=float)
    except (TypeError, ValueError) as err:
        raise PayloadError(f"expected numbers, got {str(data)[:80]!r}: {err}") from err
    if matrix.ndim == 1:
        matrix = matrix.reshape(1, -1)
    if matrix.ndim != 2 or matrix.shape[1] != len(FEATURES):
        raise PayloadError(f"expected rows of {len(FEATURES)} features {FEATURES}, got shape {list(matrix.shape)}")
    order = column_order(names, matrix.shape[1])
    return matrix[:, order] if order else matrix


def check_measurements(matrix: np.ndarray) -> np.ndarray:
    if matrix.shape[0] == 0:
        raise PayloadError("no rows to score")
    bad = [(int(r), FEATURES[int(c)]) for r, c in zip(*np.nonzero(~np.isfinite(matrix) | (matrix < 0)))]
    if bad:
        raise PayloadError(f"measurements must be finite and non-negative; bad (row, feature): {bad[:5]}")
    return matrix
