"""GDPR: sealed payloads, erasure by crypto-shredding, access requests, retention."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

import mlwarden as mw


@pytest.fixture
def logged(warden, registered, fitted_pipeline, small_adult):
    _, test = small_adult
    X = test.drop(columns="income").iloc[:300].reset_index(drop=True)
    X.insert(0, "customer_id", [f"cust-{i % 3}" for i in range(300)])  # three subjects
    ids = warden.log_predictions(
        "credit-risk",
        X,
        fitted_pipeline.predict(X.drop(columns="customer_id")),
        scores=fitted_pipeline.predict_proba(X.drop(columns="customer_id"))[:, 1],
        subject_column="customer_id",
    )
    warden.log_labels("credit-risk", ids, ["<=50K"] * 300)
    return ids, X


def test_payloads_are_sealed_and_subjects_pseudonymized(warden, logged, store_uri):
    ids, _ = logged
    from sqlalchemy import text

    with warden.db.engine.connect() as conn:
        subject, inputs, output = conn.execute(
            text("SELECT subject, inputs, output FROM predictions WHERE id = :i"), {"i": ids[0]}
        ).one()
    assert inputs.startswith("enc1:") and output.startswith("enc1:")
    assert subject == warden.vault.pseudonym("cust-0") and "cust" not in subject
    frame = warden.predictions("credit-risk")
    assert len(frame) == 300 and "customer_id" not in frame.columns  # a key, not an input
    assert frame["age"].notna().all() and not frame["erased"].any()


def test_erasure_shreds_one_subject_and_the_audit_log_still_verifies(warden, logged, tmp_path):
    result = warden.erase_subject("cust-1", reason="Art. 17 request #42")
    assert result["predictions"] == 100
    frame = warden.predictions("credit-risk")
    gone = frame[frame["subject"] == warden.vault.pseudonym("cust-1")]
    kept = frame[frame["subject"] == warden.vault.pseudonym("cust-0")]
    assert len(gone) == 100 and gone["erased"].all() and gone["age"].isna().all()
    assert gone["output"].isna().all() and gone["score"].isna().all()
    assert gone["label"].isna().all()
    assert kept["age"].notna().all() and not kept["erased"].any()
    assert warden.audit.verify().ok
    erasures = [e for e in warden.audit.events() if e.action == "subject.erase"]
    assert len(erasures) == 1 and "cust-1" not in str(erasures[0].payload)
    # monitoring keeps working on what remains; the erased subject's rows stay out of it
    assert warden.monitor("credit-risk", window="1000rows").windows[0].rows == 200


def test_erased_payloads_are_unrecoverable_even_with_new_data(warden, logged, fitted_pipeline):
    _, X = logged
    warden.erase_subject("cust-2")
    # the subject comes back: a new key; the old rows must stay unreadable
    warden.log_predictions(
        "credit-risk",
        X.iloc[:3].assign(customer_id="cust-2"),
        ["<=50K"] * 3,
        subject_column="customer_id",
    )
    rows = warden.export_subject("cust-2")["predictions"]
    assert len(rows) == 103
    assert sum(r["erased"] for r in rows) == 100


def test_access_request_returns_the_subjects_data(warden, logged):
    export = warden.export_subject("cust-0")
    assert export["subject"] == warden.vault.pseudonym("cust-0")
    assert len(export["predictions"]) == 100
    assert {"id", "age", "output", "label"} <= set(export["predictions"][0])
    assert warden.export_subject("nobody")["predictions"] == []


def test_retention_purges_old_predictions(warden, registered, fitted_pipeline, small_adult):
    _, test = small_adult
    X = test.drop(columns="income").iloc[:10]
    old = pd.Timestamp.now(tz="UTC") - pd.Timedelta(days=40)
    warden.log_predictions("credit-risk", X, ["<=50K"] * 10, timestamps=[old] * 10)
    warden.log_predictions("credit-risk", X, ["<=50K"] * 10)
    with pytest.raises(mw.ValidationError, match="positive number of days"):
        warden.set_retention("credit-risk", 0)
    warden.set_retention("credit-risk", 30)
    assert warden.apply_retention() == {"credit-risk": 10}
    assert len(warden.predictions("credit-risk")) == 10


def test_master_key_file_is_private(warden, registered, tmp_path):
    from mlwarden.store.sql.audit import key_path

    path = key_path(warden.settings).with_name("master.key")
    assert path.exists() and (path.stat().st_mode & 0o777) == 0o600
    assert len(Path(path).read_bytes()) == 32
