"""Binary classification metrics from confusion counts and one rank pass, in numpy.

The same values as ``mlwarden.registry.metrics.classification_metrics`` (scikit-learn, checked
against it in tests/engines/test_binary_metrics.py) at a fraction of the cost: scikit-learn's
input checks and label encoding were most of a monitored window's metrics time, paid once per
window per model in a fleet.
"""

from __future__ import annotations

from typing import Any

import numpy as np

EPS = 1e-15  # probabilities are clipped as the registry's metrics clip them


def covers(y_true: np.ndarray, y_pred: np.ndarray, classes: list[Any]) -> bool:
    """Whether every label in ``y_true`` and ``y_pred`` (n,) is one of the two ``classes``
    (otherwise scikit-learn's own checks decide what happens)."""
    known = np.asarray(classes, dtype=object)
    return bool(np.isin(y_true, known).all() and np.isin(y_pred, known).all())


def binary_metrics(
    y_true: np.ndarray, y_pred: np.ndarray, scores: np.ndarray | None, classes: list[Any]
) -> dict[str, float]:
    """accuracy, precision, recall, f1 (positive class ``classes[-1]``, 0 when undefined) and,
    with ``scores`` (n,) of the positive class and both classes present, log_loss, roc_auc,
    brier. ``y_true`` and ``y_pred`` are label arrays of shape (n,)."""
    positive = classes[-1]
    truth = y_true == positive
    said = y_pred == positive
    tp = int(np.count_nonzero(truth & said))
    fp = int(np.count_nonzero(~truth & said))
    fn = int(np.count_nonzero(truth & ~said))
    out = {
        "accuracy": float(np.mean(y_true == y_pred)),
        "precision": tp / (tp + fp) if tp + fp else 0.0,
        "recall": tp / (tp + fn) if tp + fn else 0.0,
        "f1": 2 * tp / (2 * tp + fp + fn) if tp + fp + fn else 0.0,
    }
    if scores is None or len(np.unique(y_true)) < 2:
        return out
    proba = np.clip(np.column_stack([1 - scores, scores]), EPS, 1 - EPS)
    proba = proba / proba.sum(axis=1, keepdims=True)
    # log_loss matches proba's columns to the classes in sorted order, as scikit-learn does
    order = sorted(classes)
    onehot = np.column_stack([y_true == c for c in order])
    out["log_loss"] = float(-np.mean(np.where(onehot, np.log(proba), 0.0).sum(axis=1)))
    p = np.clip(scores, EPS, 1 - EPS)
    out["roc_auc"] = _auc(truth, p)
    out["brier"] = float(np.mean((truth - p) ** 2))
    return out


def _auc(truth: np.ndarray, scores: np.ndarray) -> float:
    """Area under the ROC curve as the Mann-Whitney statistic (ties count a half)."""
    from scipy.stats import rankdata

    ranks = rankdata(scores)
    n_pos = int(np.count_nonzero(truth))
    n_neg = len(truth) - n_pos
    return float((ranks[truth].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))
