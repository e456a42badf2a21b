"""The iris model's contract, shared by the image checks, the kind tier and the demo: feature and class
names, one textbook flower per class (the rows images/models/iris/train.py checks), and how the seldon and
v2 protocols carry them."""
from __future__ import annotations

from typing import Any

Obj = dict[str, Any]

CLASSES = ["setosa", "versicolor", "virginica"]
FEATURES = ["sepal_length", "sepal_width", "petal_length", "petal_width"]
IRIS_ROWS = [([5.1, 3.5, 1.4, 0.2], "setosa"), ([6.0, 2.9, 4.5, 1.5], "versicolor"), ([6.7, 3.0, 5.2, 2.3], "virginica")]
SETOSA_CM, VIRGINICA_CM = IRIS_ROWS[0][0], IRIS_ROWS[2][0]


def seldon_request(rows: list[list[float]] | None = None) -> Obj:
    return {"data": {"names": FEATURES, "ndarray": rows or [r for r, _ in IRIS_ROWS]}}


def seldon_rows(message: Obj) -> list[list[float]]:
    """The rows of a SeldonMessage's data (ndarray or tensor)."""
    data = message["data"]
    if "ndarray" in data:
        return data["ndarray"]
    values, shape = data["tensor"]["values"], data["tensor"]["shape"]
    return [values[i * shape[1]:(i + 1) * shape[1]] for i in range(shape[0])]


def v2_request(rows: list[list[float]] | None = None, output: str = "predict_proba") -> Obj:
    rows = rows or [r for r, _ in IRIS_ROWS]
    return {"inputs": [{"name": "input-0", "datatype": "FP64", "shape": [len(rows), 4],
                        "data": [x for r in rows for x in r]}],
            "outputs": [{"name": output}]}


def v2_rows(response: Obj) -> list[list[float]]:
    out = response["outputs"][0]
    shape, data = out["shape"], out["data"]
    width = shape[1] if len(shape) > 1 else 1
    return [data[i * width:(i + 1) * width] for i in range(shape[0])]


def argmax_classes(rows: list[list[float]], names: list[str] = CLASSES) -> list[str]:
    return [names[max(range(len(r)), key=r.__getitem__)] for r in rows]


# Trains the iris XGBoost model XGBOOST_SERVER serves (both protocols read model.bst), with the python of an image
# that has xgboost and scikit-learn (seldonio/xgboostserver, seldonio/mlserver:*-xgboost): `python -c
# TRAIN_XGBOOST OUT_DIR` writes OUT_DIR/model.bst. An XGBClassifier, so MLServer's sklearn interface loads it as a
# classifier; it must classify the textbook flowers or the script fails.
TRAIN_XGBOOST = f"""
import os, sys
import numpy as np
from sklearn.datasets import load_iris
from xgboost import XGBClassifier
iris = load_iris()
model = XGBClassifier(n_estimators=20, max_depth=3, random_state=0).fit(iris.data, iris.target)
rows = {[r for r, _ in IRIS_ROWS]!r}
assert list(model.predict(np.array(rows))) == [0, 1, 2], model.predict(np.array(rows))
os.makedirs(sys.argv[1], exist_ok=True)
model.save_model(os.path.join(sys.argv[1], "model.bst"))
"""

# Trains the iris model KServe's sklearnserver serves, with that image's own scikit-learn (a joblib pickle loads
# only under the version that wrote it): `python -c TRAIN_SKLEARN OUT_DIR` writes OUT_DIR/model.joblib, the same
# standardised logistic regression as images/models/iris/train.py; it must classify the textbook flowers.
TRAIN_SKLEARN = f"""
import os, sys
import joblib
import numpy as np
from sklearn.datasets import load_iris
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
iris = load_iris()
model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000)).fit(iris.data, iris.target)
rows = {[r for r, _ in IRIS_ROWS]!r}
assert list(model.predict(np.array(rows))) == [0, 1, 2], model.predict(np.array(rows))
os.makedirs(sys.argv[1], exist_ok=True)
joblib.dump(model, os.path.join(sys.argv[1], "model.joblib"))
"""
