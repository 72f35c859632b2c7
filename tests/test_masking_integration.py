"""Masking policies apply before anything is written: raw values never reach the store."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import mlwarden as mw

POLICY = """
version: 1
default: keep
columns:
  email: {action: pseudonymize}
  phone: {action: redact}
  age: {action: generalize, kind: age}
  notes: {action: redact, spans: true}
"""


@pytest.fixture
def applicants():
    rng = np.random.default_rng(0)
    n = 200
    return pd.DataFrame(
        {
            "email": [f"applicant{i}@example.org" for i in range(n)],
            "phone": [f"+1 202-555-{1000 + i:04d}" for i in range(n)],
            "age": rng.integers(18, 80, n),
            "income": rng.normal(50_000, 10_000, n).round(),
            "notes": [
                f"call me on +1 202-555-{1000 + i:04d} or mail applicant{i}@example.org"
                for i in range(n)
            ],
        }
    )


def test_logged_inputs_are_masked_and_raw_values_never_stored(warden, applicants, tmp_path):
    from _generic_model import ThresholdModel, load, save

    model = ThresholdModel("income", 50_000)
    mv = warden.register_model(
        "loans",
        model,
        save_fn=save,
        load_fn=load,
        train=mw.Dataset(applicants, model.predict(applicants)),
    )
    privacy = warden.get_evidence(mv.ref, "privacy")
    assert {"email", "phone"} <= set(privacy["pii_features"])

    warden.set_masking_policy("loans", POLICY)
    warden.log_predictions("loans", applicants, model.predict(applicants))
    logged = warden.predictions("loans")
    assert logged["email"].str.startswith("pz").all()
    assert logged["email"].nunique() == len(applicants)  # pseudonyms stay joinable
    assert (
        logged["phone"].isin(["<REDACTED>", "[REDACTED]"]).all()
        or not logged["phone"].str.contains("555").any()
    )
    assert not logged["notes"].str.contains("@example.org").any()
    assert logged["age"].astype(str).str.contains("-").all()  # age bands

    raw = [applicants["email"].iloc[7], applicants["phone"].iloc[7].split()[-1]]
    if warden.db.is_sqlite:  # search the database files and the artifact folder
        files = [
            p for p in Path(warden.uri.removeprefix("sqlite:///")).parent.rglob("*") if p.is_file()
        ]
        blob = b"".join(p.read_bytes() for p in files)
        for value in raw:
            assert value.encode() not in blob


def test_bad_masking_policy_is_refused_with_the_field(warden, registered):
    with pytest.raises(mw.ValidationError):
        warden.set_masking_policy("credit-risk", "columns:\n  age: {action: vaporize}\n")
