"""A masked model input keeps a meaningful drift: monitoring masks the reference the same way,
and a generalization no reference can follow is refused when the policy is set."""

from __future__ import annotations

import json

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


def test_reference_bands_match_the_masked_training_data(loans, warden):
    """The band counts taken from the reference's sketch agree with masking the training rows
    themselves (2,000 rows: the KLL sketch is past its exact size, so within its rank error)."""
    from mlwarden.monitor.masked import masked_reference

    warden.set_masking_policy("loans", GENERALIZE_AGE)
    policy = warden.masking.get("loans")
    ref, left_out = masked_reference(
        warden.monitoring.reference(warden.get_model_version("loans@1")), policy
    )
    assert left_out == {}
    truth = policy.apply(_applicants(2000, 0))
    for column in ("age", "city"):
        got = ref[column].category_counts()
        want = truth[column].value_counts().to_dict()
        assert set(got) == set(want)
        assert sum(got.values()) == 2000
        assert max(abs(got[k] - want[k]) for k in want) <= 0.01 * 2000


def test_over_http_the_refusal_is_a_422_naming_the_column(warden, loans):
    from fastapi.testclient import TestClient

    from mlwarden.server import ServerSettings, create_app

    warden.create_user("alice", "admin")
    token = warden.create_token("alice").token
    app = create_app(ServerSettings(), warden)
    with TestClient(app, headers={"Authorization": f"Bearer {token}"}) as api:
        bad = api.put(
            "/v1/models/loans/masking-policy",
            json={"policy_yaml": "columns:\n  age: {action: generalize, kind: postcode}\n"},
        )
        assert bad.status_code == 422, bad.text
        assert "'age'" in bad.text and "meaningless" in bad.text
        good = api.put("/v1/models/loans/masking-policy", json={"policy_yaml": GENERALIZE_AGE})
        assert good.status_code == 200, good.text
        _log(warden, loans, _applicants(300, 1), "2026-01-01")
        report = api.get("/v1/models/loans/monitor", params={"window": "1d"}).json()
        (w,) = report["windows"]
        assert "age" in w["drift"]["columns"] and report["note"] == ""


def test_a_fleet_job_reads_policies_at_once_and_compares_as_monitor_does(warden, loans):
    warden.set_masking_policy("loans", GENERALIZE_AGE)
    _log(warden, loans, _applicants(600, 1), "2026-01-01")
    _log(warden, loans, _applicants(600, 2, age_shift=25), "2026-01-02")
    many = warden.masking.get_many(["loans", "nope"])
    assert many["nope"] is None and many["loans"].to_yaml() == warden.masking.get("loans").to_yaml()

    fleet = warden.monitor_fleet(["loans"], window="1d", executor="serial")
    assert fleet.errors == {} and fleet.models[0].new_windows == 2
    stored = [w["result"]["drift"] for w in warden.monitoring.history("loans", segment="all")]
    alone = [w.drift for w in warden.monitor("loans", window="1d").windows]
    assert [d["columns"]["age"]["drifted"] for d in stored] == [False, True]
    assert stored == json.loads(json.dumps(alone, default=str))
