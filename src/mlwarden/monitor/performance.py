"""Performance per window: from labels when they have arrived, estimated before they do.

The estimate is confidence-based (CBPE, as in NannyML): for a calibrated score ``p`` of the
positive class, a row predicted positive is a true positive with probability ``p``, a row
predicted negative a false negative with probability ``p``. Summing those expectations gives an
expected confusion matrix and the metrics derived from it. Assumptions, stated with every
estimate: the scores are calibrated, and the relation between inputs and label (P(y|x)) has not
changed since the reference — covariate shift is fine, concept drift is not.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from mlwarden.registry.metrics import classification_metrics, regression_metrics

CBPE_ASSUMPTIONS = (
    "scores are calibrated probabilities of the positive class; "
    "P(label | inputs) is unchanged since the reference (no concept drift)"
)


def realized(
    y_true: np.ndarray, y_pred: np.ndarray, scores: np.ndarray | None, classes: list[Any] | None
) -> dict[str, float]:
    if classes is None:
        return regression_metrics(y_true.astype(float), y_pred.astype(float))
    proba = None
    if scores is not None and len(classes) == 2 and not np.isnan(scores).any():
        proba = np.column_stack([1 - scores, scores])
    return classification_metrics(y_true, y_pred, proba, classes)


def estimated(y_pred: np.ndarray, scores: np.ndarray, positive: Any) -> dict[str, Any]:
    """Expected binary metrics from calibrated scores (shape (n,)) and decisions (n,)."""
    predicted_pos = y_pred == positive
    tp = float(scores[predicted_pos].sum())
    fp = float((1 - scores[predicted_pos]).sum())
    fn = float(scores[~predicted_pos].sum())
    tn = float((1 - scores[~predicted_pos]).sum())
    n = tp + fp + fn + tn
    precision = tp / (tp + fp) if tp + fp else float("nan")
    recall = tp / (tp + fn) if tp + fn else float("nan")
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else float("nan")
    return {
        "method": "cbpe",
        "assumptions": CBPE_ASSUMPTIONS,
        "accuracy": (tp + tn) / n if n else float("nan"),
        "precision": precision,
        "recall": recall,
        "f1": f1,
    }
