"""CBPE: calibration against scikit-learn, expected ROC AUC against roc_auc_score, and the
covariate-shift case where uncalibrated scores misled the estimate."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.isotonic import IsotonicRegression
from sklearn.metrics import roc_auc_score

from mlwarden.engines.cbpe import (
    CalibrationUnavailable,
    ScoreCalibrator,
    calibration_evidence,
    estimate,
    expected_roc_auc,
)


def draw(rng: np.random.Generator, n: int, shift: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    """Inputs whose distribution shifts with ``shift`` while P(y | x) stays the same."""
    X = rng.normal(0, 1, (n, 5))
    X[:, 0] += shift
    X[:, 1] += shift / 2
    logit = 1.2 * X[:, 0] - 0.8 * X[:, 1] + 0.6 * X[:, 2] * X[:, 3]
    return X, (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(int)


def test_calibrator_is_sklearns_isotonic_regression():
    rng = np.random.default_rng(0)
    scores = rng.random(3000)
    y = rng.random(3000) < scores**2
    cal = ScoreCalibrator().fit(scores, y)
    iso = IsotonicRegression(y_min=0, y_max=1, out_of_bounds="clip").fit(scores, y)
    probe = np.r_[rng.random(500), -1.0, 2.0]
    np.testing.assert_allclose(cal.transform(probe), iso.predict(probe), atol=1e-12)
    again = ScoreCalibrator.from_dict(cal.to_dict())
    np.testing.assert_array_equal(again.transform(probe), cal.transform(probe))


def test_calibration_says_when_it_cannot_be_fitted():
    with pytest.raises(CalibrationUnavailable, match="needs 100"):
        ScoreCalibrator().fit(np.linspace(0, 1, 50), np.arange(50) % 2 == 0)
    with pytest.raises(CalibrationUnavailable, match="one class"):
        ScoreCalibrator().fit(np.linspace(0, 1, 500), np.ones(500, dtype=bool))
    evidence = calibration_evidence(np.array(["no"] * 500), np.linspace(0, 1, 500), "yes")
    assert evidence == {"status": "skipped", "reason": "the reference labels hold one class only"}


def test_expected_roc_auc_is_the_real_one_when_the_probabilities_are_the_labels():
    rng = np.random.default_rng(1)
    y = rng.random(2000) < 0.3
    scores = np.round(np.where(y, rng.beta(3, 2, 2000), rng.beta(2, 3, 2000)), 2)  # with ties
    assert expected_roc_auc(scores, y.astype(float)) == pytest.approx(
        roc_auc_score(y, scores), abs=1e-12
    )


def test_calibrated_estimate_tracks_an_overfitted_model_under_covariate_shift():
    """An over-fitted LightGBM is over-confident: raw scores overstate accuracy by far more
    than 0.04; calibrated on held-out reference data, the estimate stays within 0.015 of the
    realized accuracy as the inputs shift (P(y | x) unchanged)."""
    import lightgbm as lgb

    rng = np.random.default_rng(7)
    X_train, y_train = draw(rng, 4000)
    X_ref, y_ref = draw(rng, 5000)
    model = lgb.LGBMClassifier(
        n_estimators=300, num_leaves=127, min_child_samples=2, verbose=-1, n_jobs=1
    ).fit(X_train, y_train)
    cal = ScoreCalibrator().fit(model.predict_proba(X_ref)[:, 1], y_ref == 1)
    for shift in (0.0, 0.5, 1.0, 1.5):
        X, y = draw(rng, 5000, shift)
        scores = model.predict_proba(X)[:, 1]
        decided = scores >= 0.5
        realized = float((decided == y).mean())
        raw = estimate(decided, scores, scores)
        calibrated = estimate(decided, scores, cal.transform(scores))
        assert raw["accuracy"] - realized > 0.04, shift
        assert calibrated["accuracy"] == pytest.approx(realized, abs=0.015), shift
        assert calibrated["roc_auc"] == pytest.approx(roc_auc_score(y, scores), abs=0.03), shift
