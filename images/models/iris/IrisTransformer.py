"""Seldon Core 1.17.1 TRANSFORMER (transform_input): turns what callers send into what IrisClassifier
expects, i.e. rows of [sepal_length, sepal_width, petal_length, petal_width] in centimetres.

Accepted input (any of):
  {"data": {"ndarray": [[...4 numbers...], ...]}}                      columns in FEATURES order
  {"data": {"names": ["petal_width", ...], "ndarray": [[...]]}}        named columns, any order
  {"jsonData": {"sepal_length": 5.1, "sepal_width": 3.5, ...}}       one flower as an object
  {"jsonData": [{...}, {...}]} or {"jsonData": {"instances": [...]}} several flowers
Measurements are in the unit of the `input_unit` parameter (cm, mm, m or in; default cm), which a
SeldonDeployment sets with `parameters: [{name: input_unit, type: STRING, value: in}]`; they are
converted to centimetres. Bad payloads get HTTP 400 with the reason. Each response carries the tags
iris-transformer.input-unit and iris-transformer.rows, so a test can see the transformer ran.
"""
from __future__ import annotations

from typing import Any

from seldon_core.flask_utils import SeldonMicroserviceException
from seldon_core.user_model import SeldonResponse

from iris_schema import FEATURES, PayloadError, check_measurements, to_matrix, unit_factor


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

    def class_names(self) -> list[str]:
        """Column names of the output (the wrapper labels a transform_input result with class_names)."""
        return FEATURES
