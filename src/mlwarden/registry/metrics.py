"""Evaluation metrics recorded at registration (scikit-learn's implementations)."""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn import metrics as skm


def classification_metrics(
    y_true: np.ndarray, y_pred: np.ndarray, proba: np.ndarray | None, classes: list[Any]
) -> dict[str, float]:
    """Binary metrics use ``classes[-1]`` as the positive class; multiclass uses macro means."""
    binary = len(classes) == 2
    average = "binary" if binary else "macro"
    pos = classes[-1] if binary else 1
    out = {
        "accuracy": skm.accuracy_score(y_true, y_pred),
        "precision": skm.precision_score(
            y_true, y_pred, average=average, pos_label=pos, zero_division=0
        ),
        "recall": skm.recall_score(y_true, y_pred, average=average, pos_label=pos, zero_division=0),
        "f1": skm.f1_score(y_true, y_pred, average=average, pos_label=pos, zero_division=0),
    }
    if proba is not None and len(np.unique(y_true)) > 1:
        proba = np.clip(proba, 1e-15, 1 - 1e-15)
        out["log_loss"] = skm.log_loss(y_true, proba, labels=classes)
        if binary:
            positive = (y_true == classes[-1]).astype(int)
            out["roc_auc"] = skm.roc_auc_score(positive, proba[:, 1])
            out["brier"] = skm.brier_score_loss(positive, proba[:, 1])
        else:
            out["roc_auc"] = skm.roc_auc_score(
                y_true, proba, multi_class="ovr", average="macro", labels=classes
            )
    return {k: float(v) for k, v in out.items()}


def regression_metrics(y_true: np.ndarray, y_pred: np.ndarray) -> dict[str, float]:
    return {
        "mae": float(skm.mean_absolute_error(y_true, y_pred)),
        "rmse": float(np.sqrt(skm.mean_squared_error(y_true, y_pred))),
        "r2": float(skm.r2_score(y_true, y_pred)),
    }
