"""Registration is ``prepare`` (pure: flavor, signature, metrics, evidence) then ``commit``
(one transaction with its audit events), on SQLite and PostgreSQL (issue 14, requirement 4)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression

import mlwarden as mw
from mlwarden.registry.metrics import classification_metrics
from mlwarden.registry.service import PreparedVersion


@pytest.fixture(scope="module")
def small(small_adult):
    train, test = small_adult
    cols = ["age", "hours-per-week", "sex"]
    X, y = train[cols].head(600), train["income"].head(600)
    Xe, ye = test[cols].head(300), test["income"].head(300)
    numeric = ["age", "hours-per-week"]
    model = LogisticRegression(max_iter=200).fit(X[numeric], y)
    return (
        model,
        mw.Dataset(X[numeric], y, sensitive=X[["sex"]]),
        mw.Dataset(Xe[numeric], ye, sensitive=Xe[["sex"]]),
    )


def _files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.is_file()) if folder.exists() else []


def _state(wd: mw.Warden) -> tuple:
    return ([m.name for m in wd.list_models()], wd.audit.size)


def test_prepare_writes_nothing(warden, small, tmp_path):
    model, train, eval_ = small
    before, blobs_before = _state(warden), _files(tmp_path / "artifacts")
    prepared = warden.registry.prepare(
        "pure", model, actor="alice", train=train, eval=eval_, sensitive_features=["sex"]
    )
    assert isinstance(prepared, PreparedVersion)
    assert _state(warden) == before
    assert _files(tmp_path / "artifacts") == blobs_before
    # everything a version needs was computed, measured here
    spec = prepared.spec
    assert spec.flavor == "sklearn" and spec.signature["inputs"]
    assert 0.5 < spec.metrics["roc_auc"] <= 1
    assert {"reference_profile", "fairness", "explain"} <= set(prepared.evidence)
    assert set(spec.provenance.values()) == {"measured"}
    assert prepared.evidence["reference_profile"]["artifact_sha256"] in prepared.blobs

    mv = warden.registry.commit(prepared, actor="alice")
    assert mv.ref == "pure@1" and mv.metrics == spec.metrics
    assert mv.verified == sorted([f"metrics.{k}" for k in spec.metrics] + list(mv.evidence))
    assert mv.asserted_metrics == {}
    # the staged reference profile was written at commit and loads
    digest = warden.get_evidence(mv.ref, "reference_profile")["artifact_sha256"]
    assert warden.artifacts.get(digest)
    [event] = warden.audit.events("pure", action="version.register")
    assert event.payload["provenance"]["metrics.roc_auc"] == "measured"


def test_register_model_is_prepare_then_commit(warden, small):
    model, train, eval_ = small
    mv = warden.register_model("both", model, train=train, eval=eval_)
    prepared = warden.registry.prepare("both", model, actor="alice", train=train, eval=eval_)
    assert prepared.spec.flavor == mv.flavor == "sklearn"
    assert set(prepared.spec.metrics) == set(mv.metrics)
    assert all(mv.provenance_of(k) == "measured" for k in mv.provenance)


def test_prepare_refuses_bad_input_before_anything(warden, small):
    model, train, _ = small
    with pytest.raises(mw.ValidationError, match="risk_tier"):
        warden.registry.prepare("bad", model, actor="alice", train=train, risk_tier="none")
    assert _state(warden)[0] == []


def test_a_failed_commit_leaves_nothing_half_written(warden, small):
    model, train, eval_ = small
    prepared = warden.registry.prepare("half", model, actor="alice", train=train, eval=eval_)
    size = warden.audit.size
    registry = warden.registry
    emit = registry._events

    def failing(actor, action, subject, payload):
        emit(actor, action, subject, payload)
        if action == "version.register":  # after the model, version and evidence rows
            raise RuntimeError("audit append failed")

    registry._events = failing
    try:
        with pytest.raises(RuntimeError, match="audit append failed"):
            registry.commit(prepared, actor="alice")
    finally:
        registry._events = emit
    with pytest.raises(mw.NotFound):
        warden.get_model("half")
    assert warden.audit.size == size
    # the same prepared version commits cleanly afterwards, as version 1
    assert registry.commit(prepared, actor="alice").ref == "half@1"


def test_a_pipeline_is_transformed_once_with_the_same_predictions(warden, small):
    """A scikit-learn Pipeline's eval predictions come from one transform and its final step:
    the same labels, scores and metrics as Pipeline.predict / predict_proba give."""
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import StandardScaler

    from mlwarden.registry.service import _split_pipeline

    _, train, eval_ = small
    model = Pipeline([("scale", StandardScaler()), ("clf", LogisticRegression())])
    model.fit(train.X, train.y)
    head, final, _ = _split_pipeline(model, eval_.X)
    assert head is not None and final is model.steps[-1][1]
    for whole in (LogisticRegression(), Pipeline([("clf", LogisticRegression())])):
        assert _split_pipeline(whole, eval_.X)[0] is None  # nothing to split
    mv = warden.register_model("pipe", model, train=train, eval=eval_)
    X = eval_.X
    expected = classification_metrics(
        np.asarray(eval_.y), model.predict(X), model.predict_proba(X), list(model.classes_)
    )
    assert mv.metrics == pytest.approx(expected, rel=0, abs=0)
