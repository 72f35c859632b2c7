"""Confidence-based performance estimation (CBPE, as in NannyML): metrics before labels arrive.

For a *calibrated* probability ``p`` that a row is positive, a row predicted positive is a true
positive with probability ``p`` and a row predicted negative a false negative with probability
``p``; summing those expectations gives an expected confusion matrix. Raw model scores are
rarely calibrated (an over-fitted booster is over-confident), so :class:`ScoreCalibrator` maps
scores to probabilities with isotonic regression fitted on labelled reference data, as NannyML
does; on an over-fitted LightGBM under covariate shift that moved the accuracy estimate from
+0.047 off to within 0.015 (``tests/engines/test_cbpe.py``).
"""

from __future__ import annotations

from typing import Any

import numpy as np

MIN_ROWS = 100  # labelled reference rows below which a calibration map is not trusted


class CalibrationUnavailable(ValueError):
    """The reference data cannot support a calibration map (the reason is the message)."""


class ScoreCalibrator:
    """Isotonic map from a model's positive-class score to P(positive).

    Parameters
    ----------
    min_rows : labelled rows needed to fit.

    Attributes
    ----------
    x_, y_ : the map's knots, shapes (k,), (k,): scores and calibrated probabilities; the map
        interpolates linearly between knots and clips outside them (sklearn's
        ``IsotonicRegression(out_of_bounds="clip")``).
    """

    def __init__(self, min_rows: int = MIN_ROWS) -> None:
        self.min_rows = min_rows

    def fit(self, scores: np.ndarray, positive: np.ndarray) -> ScoreCalibrator:
        """``scores`` (n,) in [0, 1]; ``positive`` (n,) booleans, the observed outcomes."""
        from sklearn.isotonic import IsotonicRegression

        s = np.asarray(scores, dtype=np.float64)
        y = np.asarray(positive, dtype=bool)
        keep = np.isfinite(s)
        s, y = s[keep], y[keep]
        if len(s) < self.min_rows:
            raise CalibrationUnavailable(
                f"{len(s)} labelled reference rows with scores; calibration needs {self.min_rows}"
            )
        if y.all() or not y.any():
            raise CalibrationUnavailable("the reference labels hold one class only")
        iso = IsotonicRegression(y_min=0.0, y_max=1.0, out_of_bounds="clip").fit(s, y)
        self.x_ = np.asarray(iso.X_thresholds_, dtype=np.float64)
        self.y_ = np.asarray(iso.y_thresholds_, dtype=np.float64)
        self.n_rows_ = len(s)
        return self

    def transform(self, scores: np.ndarray) -> np.ndarray:
        """Calibrated probabilities, shape (n,), for scores (n,)."""
        return np.interp(np.asarray(scores, dtype=np.float64), self.x_, self.y_)

    def to_dict(self) -> dict[str, Any]:
        # the fitted state (``from_dict`` reads it back), not the constructor's fields
        return {
            "status": "ok",
            "method": "isotonic",
            "rows": self.n_rows_,
            "x": self.x_.tolist(),
            "y": self.y_.tolist(),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ScoreCalibrator:
        out = cls()
        out.x_ = np.asarray(data["x"], dtype=np.float64)
        out.y_ = np.asarray(data["y"], dtype=np.float64)
        out.n_rows_ = int(data.get("rows", 0))
        return out


def calibration_evidence(y_true: np.ndarray, scores: np.ndarray, positive: Any) -> dict[str, Any]:
    """A version's ``calibration`` evidence: the isotonic map, or why there is none."""
    try:
        return ScoreCalibrator().fit(scores, np.asarray(y_true) == positive).to_dict()
    except CalibrationUnavailable as exc:
        return {"status": "skipped", "reason": str(exc)}


def _ratio(a: float, b: float) -> float:
    return a / b if b else float("nan")


def expected_roc_auc(scores: np.ndarray, p: np.ndarray) -> float:
    """Expected ROC AUC: rank rows by score (n,) and count each as p (n,) positive and 1 - p
    negative; tied scores move together (one step of the curve), as NannyML's estimate does."""
    order = np.argsort(-scores, kind="stable")
    s, w = scores[order], p[order]
    last = np.r_[np.flatnonzero(np.diff(s) != 0), len(s) - 1]  # the end of each tie group
    tp = np.r_[0.0, np.cumsum(w)[last]]
    fp = np.r_[0.0, np.cumsum(1 - w)[last]]
    if tp[-1] <= 0 or fp[-1] <= 0:
        return float("nan")
    x, y = fp / fp[-1], tp / tp[-1]
    return float(np.sum(np.diff(x) * (y[1:] + y[:-1])) / 2)  # trapezoids under the curve


def estimate(predicted_positive: np.ndarray, scores: np.ndarray, p: np.ndarray) -> dict[str, float]:
    """Expected accuracy, precision, recall, F1 and ROC AUC from decisions (n,) booleans, raw
    scores (n,) (for the ranking) and calibrated probabilities (n,)."""
    pos = np.asarray(predicted_positive, dtype=bool)
    tp, fp = float(p[pos].sum()), float((1 - p[pos]).sum())
    fn, tn = float(p[~pos].sum()), float((1 - p[~pos]).sum())
    precision, recall = _ratio(tp, tp + fp), _ratio(tp, tp + fn)
    return {
        "accuracy": _ratio(tp + tn, tp + fp + fn + tn),
        "precision": precision,
        "recall": recall,
        "f1": _ratio(2 * precision * recall, precision + recall),
        "roc_auc": expected_roc_auc(np.asarray(scores, dtype=np.float64), p),
    }
