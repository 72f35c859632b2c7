"""Performance per window: from labels when they have arrived, estimated before they do.

The estimate is confidence-based (CBPE, as in NannyML; ``mlwarden.engines.cbpe``): scores are
calibrated on the version's labelled evaluation data at registration (evidence
``calibration``), then summed into an expected confusion matrix. Assumptions, stated with every
estimate: P(label | inputs) has not changed since the reference — covariate shift is fine,
concept drift is not.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from mlwarden.engines.cbpe import ScoreCalibrator, estimate
from mlwarden.registry.metrics import classification_metrics, regression_metrics

CBPE_ASSUMPTIONS = (
    "calibrated scores are probabilities of the positive class; "
    "P(label | inputs) is unchanged since the reference (no concept drift)"
)


def realized(
    y_true: np.ndarray, y_pred: np.ndarray, scores: np.ndarray | None, classes: list[Any] | None
) -> dict[str, float]:
    import sklearn

    from mlwarden.engines.binary_metrics import binary_metrics, covers

    if classes is not None and len(classes) == 2 and covers(y_true, y_pred, classes):
        ok = scores is not None and not np.isnan(scores).any()
        return binary_metrics(y_true, y_pred, scores if ok else None, classes)
    # the arrays are ours and already checked: scikit-learn's per-call parameter validation
    # was a third of a fleet window's metrics time
    with sklearn.config_context(skip_parameter_validation=True):
        if classes is None:
            return regression_metrics(y_true.astype(float), y_pred.astype(float))
        proba = None
        if scores is not None and len(classes) == 2 and not np.isnan(scores).any():
            proba = np.column_stack([1 - scores, scores])
        return classification_metrics(y_true, y_pred, proba, classes)


def estimated(
    y_pred: np.ndarray,
    scores: np.ndarray,
    positive: Any,
    calibration: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Expected binary metrics from scores (n,) and decisions (n,), the scores mapped through
    the version's calibration (evidence ``calibration``) when it has one."""
    p, note = scores, "no calibration evidence (registered without labelled evaluation data)"
    if calibration and calibration.get("status") == "ok":
        p = ScoreCalibrator.from_dict(calibration).transform(scores)
        note = f"isotonic, fitted on {calibration.get('rows')} labelled reference rows"
    elif calibration:
        note = f"not calibrated: {calibration.get('reason')}"
    return {
        "method": "cbpe",
        "assumptions": CBPE_ASSUMPTIONS,
        "calibrated": p is not scores,
        "calibration": note,
        **estimate(y_pred == positive, scores, p),
    }
