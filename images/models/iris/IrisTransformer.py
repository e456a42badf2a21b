"""Seldon Core 1.17.1 TRANSFORMER (transform_input) and OUTPUT_TRANSFORMER (transform_output) of the iris model.

As a TRANSFORMER it turns what callers send into what IrisClassifier expects, i.e. rows of
[sepal_length, sepal_width, petal_length, petal_width] in centimetres.

Accepted input (any of):
  {"data": {"ndarray": [[...4 numbers...], ...]}}                      columns in FEATURES order
  {"data": {"names": ["petal_width", ...], "ndarray": [[...]]}}        named columns, any order
  {"jsonData": {"sepal_length": 5.1, "sepal_width": 3.5, ...}}       one flower as an object
  {"jsonData": [{...}, {...}]} or {"jsonData": {"instances": [...]}} several flowers
Measurements are in the unit of the `input_unit` parameter (cm, mm, m or in; default cm), which a
SeldonDeployment sets with `parameters: [{name: input_unit, type: STRING, value: in}]`; they are
converted to centimetres. Bad payloads get HTTP 400 with the reason. Each response carries the tags
iris-transformer.input-unit and iris-transformer.rows, so a test can see the transformer ran.

As an OUTPUT_TRANSFORMER (the model's parent in the graph: the executor sends it the model's answer) it turns
probability rows into what a caller reads: {"jsonData": {"predictions": [{"class": "setosa", "probability": 0.98},
...]}}, one object per row, the columns matched by the names the model sent (CLASSES when it sent none), and
the tag iris-transformer.output = "labelled".
"""
from __future__ import annotations

from typing import Any

import numpy as np
from seldon_core.flask_utils import SeldonMicroserviceException
from seldon_core.user_model import SeldonResponse

from iris_schema import CLASSES, FEATURES, PayloadError, check_measurements, to_matrix, unit_factor


class IrisTransformer:
    def __init__(self, input_unit: str = "cm") -> None:
        self.unit, self.factor = unit_factor(input_unit)   # a bad unit stops the container at start-up

    def transform_input(self, X: Any, feature_names: list[str] | None = None, **kwargs: Any) -> SeldonResponse:
        try:
            rows = check_measurements(to_matrix(X, feature_names))
        except PayloadError as err:
            raise SeldonMicroserviceException(f"iris-transformer: {err}", status_code=400) from err
        cm = (rows * self.factor).round(6)
        tags = {"iris-transformer.input-unit": self.unit, "iris-transformer.rows": int(cm.shape[0])}
        metrics = [{"type": "COUNTER", "key": "iris_transformed_rows", "value": float(cm.shape[0]),
                    "tags": {"unit": self.unit}}]
        return SeldonResponse(cm, tags=tags, metrics=metrics)

    def transform_output(self, X: Any, feature_names: list[str] | None = None, **kwargs: Any) -> SeldonResponse:
        names = list(feature_names or CLASSES)
        try:
            rows = np.asarray(X, dtype=float).reshape(-1, len(names))
        except (TypeError, ValueError):
            rows = None
        if rows is None or not set(names) <= set(CLASSES):
            raise SeldonMicroserviceException(
                f"iris-transformer: transform_output wants probability rows over {CLASSES}, got "
                f"{str(X)[:80]} with columns {names}", status_code=400)
        best = rows.argmax(axis=1)
        labelled = [{"class": names[i], "probability": round(float(row[i]), 6)} for row, i in zip(rows, best)]
        return SeldonResponse({"predictions": labelled}, tags={"iris-transformer.output": "labelled"})

    def class_names(self) -> list[str]:
        """Column names of the output (the wrapper labels a transform_input result with class_names)."""
        return FEATURES
