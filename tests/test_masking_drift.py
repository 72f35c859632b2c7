"""A masked model input keeps a meaningful drift: monitoring masks the reference the same way,
and a generalization no reference can follow is refused when the policy is set."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import mlwarden as mw

GENERALIZE_AGE = """
columns:
  age: {action: generalize, kind: age, width: 10, top: 70}
  city: {action: generalize, kind: postcode, keep: 2}
"""


def _applicants(n: int, seed: int, age_shift: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {
            "email": [f"applicant{i % 40}@example.org" for i in range(n)],
            "age": np.clip(rng.integers(18, 80, n) + age_shift, 18, 95),
            "income": rng.normal(50_000, 10_000, n).round(),
            "city": rng.choice(["AB12", "AB34", "CD56", "EF78"], n),
        }
    )


@pytest.fixture
def loans(warden):
    from _generic_model import ThresholdModel, load, save

    train = _applicants(2000, 0)
    model = ThresholdModel("income", 50_000)
    warden.register_model(
        "loans", model, save_fn=save, load_fn=load, train=mw.Dataset(train, model.predict(train))
    )
    return model


def _log(warden, model, frame, day):
    stamps = pd.date_range(day, periods=len(frame), freq="1min", tz="UTC")
    warden.log_predictions("loans", frame, model.predict(frame), timestamps=stamps)


def test_generalized_age_is_compared_in_bands_not_kind_changed(warden, loans):
    warden.set_masking_policy("loans", GENERALIZE_AGE)
    _log(warden, loans, _applicants(600, 1), "2026-01-01")
    _log(warden, loans, _applicants(600, 2, age_shift=25), "2026-01-02")
    assert warden.predictions("loans")["age"].astype(str).str.contains("-|\\+").all()

    report = warden.monitor("loans", window="1d")
    same, shifted = report.windows
    for w in (same, shifted):
        assert "age" in w.drift["columns"], w.drift["skipped"]
        assert "city" in w.drift["columns"]  # categories mapped through the policy
        assert not any("kind changed" in why for why in w.drift["skipped"].values())
        assert "age" not in w.quality["failed_columns"]  # bands are not "non-numeric"
    assert not same.drift["columns"]["age"]["drifted"]
    assert not same.drift["columns"]["city"]["drifted"]
    assert shifted.drift["columns"]["age"]["drifted"]


def test_generalization_no_reference_can_follow_is_refused_when_set(warden, loans):
    with pytest.raises(mw.ValidationError) as err:
        warden.set_masking_policy("loans", "columns:\n  age: {action: generalize, kind: date}\n")
    message = str(err.value)
    assert "'age'" in message and "date" in message and "meaningless" in message
    assert "drop" in message and "pseudonymize" in message
    assert warden.masking.get("loans") is None  # nothing stored


def test_hashing_and_dropping_still_work(warden, loans):
    warden.set_masking_policy(
        "loans", "columns:\n  city: pseudonymize\n  income: drop\n  age: pseudonymize\n"
    )
    _log(warden, loans, _applicants(300, 1), "2026-01-01")
    (w,) = warden.monitor("loans", window="1d").windows
    assert warden.predictions("loans")["city"].str.startswith("pz").all()
    # the reference's cities are hashed with the same key: the same four cities, no drift
    assert w.drift["columns"]["city"]["drifted"] is False
    assert w.drift["skipped"]["income"] == "dropped by the masking policy"
    assert "pseudonymize" in w.drift["skipped"]["age"]  # a hashed number: said, not compared
    assert "income" not in w.quality["failed_columns"]
