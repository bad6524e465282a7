"""Trains two small scikit-learn models on the breast-cancer data set that
scikit-learn ships, registers both with their metrics, parameters, dataset
id and git lineage (the modelreg client detects it), uploads the pickled
models, compares them, moves the better one to Staging and requests
Production (which a second person approves).

    MODELREG_URL=… MODELREG_TOKEN=… python examples/train/train.py [MODEL]

Prints one JSON line: {"versions": [...], "best": N, "approval_id": "…"}.
"""

from __future__ import annotations

import hashlib
import json
import pickle
import sys
import tempfile
from pathlib import Path

from sklearn.datasets import load_breast_cancer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import accuracy_score, roc_auc_score
from sklearn.model_selection import train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

import modelreg


def dataset_id(X) -> str:
    """A stable id of the training data: scikit-learn's copy, by content."""
    return "sklearn:breast_cancer@sha256:" + hashlib.sha256(X.tobytes()).hexdigest()[:16]


def train(C: float, max_iter: int, X_train, y_train):
    model = make_pipeline(StandardScaler(), LogisticRegression(C=C, max_iter=max_iter))
    return model.fit(X_train, y_train)


def main(name: str = "breast-cancer") -> dict:
    X, y = load_breast_cancer(return_X_y=True)
    X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.3, random_state=0, stratify=y)
    client = modelreg.Client()
    versions = []
    with tempfile.TemporaryDirectory() as tmp:
        # A heavily regularised model and a well-tuned one: different metrics.
        for C, max_iter in ((0.0005, 50), (1.0, 500)):
            model = train(C, max_iter, X_train, y_train)
            proba = model.predict_proba(X_test)[:, 1]
            path = Path(tmp) / f"model-C{C}.pkl"
            path.write_bytes(pickle.dumps(model))
            v = client.register(
                name, artifacts=[path],
                metrics={"auc": (roc_auc_score(y_test, proba), "validation"),
                         "accuracy": (accuracy_score(y_test, model.predict(X_test)), "validation")},
                params={"C": C, "max_iter": max_iter, "model": "LogisticRegression"},
                dataset=dataset_id(X), tags={"example": "train"},
                description=f"logistic regression, C={C}")
            versions.append(v.version)
    cmp = client.compare(name, versions, by="auc")
    best = cmp.ranking[0]
    client.promote(name, best, "Staging", reason=f"best auc of {versions}")
    t = client.promote(name, best, "Production", reason=f"auc {cmp.metrics['auc']['values'][best]:.3f}")
    out = {"versions": versions, "best": best, "approval_id": t.approval.id if t.approval else ""}
    print(json.dumps(out))
    return out


if __name__ == "__main__":
    main(*sys.argv[1:])
