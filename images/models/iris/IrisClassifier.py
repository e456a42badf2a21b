"""Seldon Core 1.17.1 MODEL: the iris classifier trained when the image was built (train.py).

Run by `seldon-core-microservice IrisClassifier --service-type MODEL` (HTTP 9000, gRPC 5000, metrics
6000 at $PREDICTIVE_UNIT_METRICS_ENDPOINT). predict() takes rows of four measurements in centimetres
(FEATURES order, or any order when the request names its columns, or objects keyed by feature name)
and returns predict_proba for CLASSES, which class_names() labels.
"""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import joblib
import numpy as np
from seldon_core.flask_utils import SeldonMicroserviceException
from seldon_core.user_model import SeldonResponse

from iris_schema import CLASSES, FEATURES, PayloadError, check_measurements, to_matrix

MODEL_DIR = Path(os.environ.get("IRIS_MODEL_DIR", Path(__file__).resolve().parent))


class IrisClassifier:
    def __init__(self) -> None:
        self.model: Any = None
        self.info: dict = {}

    def load(self) -> None:
        """Called once by the wrapper before it serves."""
        self.model = joblib.load(MODEL_DIR / "model.joblib")
        self.info = json.loads((MODEL_DIR / "model.json").read_text())

    def predict(self, X: Any, feature_names: list[str] | None = None, **kwargs: Any) -> SeldonResponse:
        if self.model is None:
            self.load()
        try:
            rows = check_measurements(to_matrix(X, feature_names))
        except PayloadError as err:
            raise SeldonMicroserviceException(f"iris-model: {err}", status_code=400) from err
        proba = self.model.predict_proba(rows)
        winners = np.bincount(proba.argmax(axis=1), minlength=len(CLASSES))
        metrics = [{"type": "COUNTER", "key": "iris_predictions", "value": float(n), "tags": {"class": c}}
                   for c, n in zip(CLASSES, winners) if n]
        return SeldonResponse(proba, metrics=metrics)

    def class_names(self) -> list[str]:
        return CLASSES

    def tags(self) -> dict:
        return {"iris-model": "0.1.0"}

    def init_metadata(self) -> dict:
        return {"name": "iris-classifier", "versions": ["0.1.0"], "platform": "seldon-core-python",
                "inputs": [{"messagetype": "ndarray", "schema": {"names": FEATURES, "shape": [len(FEATURES)]}}],
                "outputs": [{"messagetype": "ndarray", "schema": {"names": CLASSES, "shape": [len(CLASSES)]}}],
                "custom": {k: str(v) for k, v in self.info.items()}}
