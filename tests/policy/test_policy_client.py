"""The Warden facade end to end: the shipped production gate on a real Adult model."""

from __future__ import annotations

import pytest

import mlwarden as mw


def test_production_gate_on_adult(warden, registered):
    d = warden.check(registered.ref, "production-gate")
    r = {x.id: x for x in d.results}
    assert r["min-auc"].verdict == "pass"
    assert r["min-auc"].values["version.metrics.roc_auc"] == registered.metrics["roc_auc"]
    # a logistic regression on Adult selects women far less often than men
    assert r["four-fifths"].verdict == "fail"
    assert r["four-fifths"].values["fairness.sex.disparate_impact"] < 0.8
    assert r["fairness-audited"].verdict == "pass"
    assert r["card-complete"].verdict == "fail" and not r["card-complete"].blocking
    assert not d.passed and warden.decisions(registered.ref)[0].id == d.id
    ctx = warden.policy_context(registered.ref)
    assert set(ctx["fairness"]) >= {"sex", "race"} and ctx["explain"]["importance"]
    assert ctx["card"]["intended_use"].startswith("Pre-screening")

    # production is protected: a policy the caller names only dry-runs, and says so
    dry = warden.promote(registered.ref, alias="production", policy="production-gate", dry_run=True)
    assert not dry.allowed and dry.change is None
    assert dry.decision.inline and dry.to_dict()["decision"]["dry_run"]
    with pytest.raises(mw.Conflict, match="protected alias"):
        warden.promote(registered.ref, alias="production", policy="production-gate")
    with pytest.raises(mw.PolicyViolation, match="no gate policy is bound"):
        warden.promote(registered.ref, alias="production")
    stored = warden.install_policy("production-gate")
    warden.bind_policy("production-gate", alias="production")
    with pytest.raises(mw.PolicyViolation) as info:
        warden.promote(registered.ref, alias="production")
    last = warden.decisions(registered.ref, limit=1)[0]
    assert (last.policy_sha256, last.policy_version, last.inline) == (stored.sha256, 1, False)
    assert [f["id"] for f in info.value.details["failed_rules"]] == ["four-fifths"]
    assert info.value.details["missing_approvals"] == 2  # high risk: two validators
    assert warden.alias_history("credit-risk") == []


def test_rollback_through_the_facade(warden, tmp_path):
    from sklearn.dummy import DummyClassifier

    model = DummyClassifier().fit([[0], [1]], [0, 1])
    warden.install_policy("production-gate")
    warden.bind_policy("production-gate", alias="production")
    for _ in range(2):
        mv = warden.register_model("toy", model, risk_tier="low")
        warden.promote(mv.ref, alias="production", policy="production-gate")  # not applicable
    change = warden.rollback("toy", alias="production", reason="regression in prod")
    assert (change.from_version, change.to_version) == (2, 1)
    assert change.actor == "alice" and warden.get_model_version("toy@production").version == 1
    assert [h.action for h in warden.alias_history("toy", "production")] == [
        "promote",
        "promote",
        "rollback",
    ]
