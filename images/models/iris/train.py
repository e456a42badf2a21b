#!/usr/bin/env python3
"""Train the iris classifier while the image is built (scikit-learn's bundled iris data: no download).

Usage: train.py OUT_DIR      writes OUT_DIR/model.joblib and OUT_DIR/model.json (what was trained, how well)

A standardised logistic regression: smooth probabilities for all three classes, deterministic (lbfgs,
no random state involved), ~97% cross-validated accuracy. The build fails if the model does not
classify three textbook flowers correctly, so a broken image is never tagged.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

import joblib
import numpy as np
import sklearn
from sklearn.datasets import load_iris
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import cross_val_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from iris_schema import CLASSES, FEATURES

# one textbook flower per class (cm, FEATURES order) and the class it must get
CHECKS = [([5.1, 3.5, 1.4, 0.2], "setosa"), ([6.0, 2.9, 4.5, 1.5], "versicolor"), ([6.7, 3.0, 5.2, 2.3], "virginica")]


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print(__doc__, file=sys.stderr)
        return 2
    out = Path(argv[0])
    iris = load_iris()
    assert list(iris.target_names) == CLASSES, iris.target_names
    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000))
    cv = cross_val_score(model, iris.data, iris.target, cv=5)
    model.fit(iris.data, iris.target)
    proba = model.predict_proba(np.array([x for x, _ in CHECKS]))
    got = [CLASSES[i] for i in proba.argmax(axis=1)]
    if got != [c for _, c in CHECKS]:
        print(f"train: sanity check failed: {got}", file=sys.stderr)
        return 1
    out.mkdir(parents=True, exist_ok=True)
    joblib.dump(model, out / "model.joblib")
    meta = {"estimator": "StandardScaler + LogisticRegression(max_iter=1000)", "dataset": "sklearn.datasets.load_iris",
            "features": FEATURES, "feature_unit": "cm", "classes": CLASSES, "samples": int(iris.data.shape[0]),
            "cv_accuracy": round(float(cv.mean()), 4), "train_accuracy": round(float(model.score(iris.data, iris.target)), 4),
            "scikit_learn": sklearn.__version__, "numpy": np.__version__}
    (out / "model.json").write_text(json.dumps(meta, indent=2) + "\n")
    print(f"train: {meta['estimator']}: cv accuracy {meta['cv_accuracy']}, train accuracy {meta['train_accuracy']}; "
          f"setosa row -> {dict(zip(CLASSES, proba[0].round(4).tolist()))}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
