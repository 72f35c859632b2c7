"""Check, promote, roll back on SQLite and PostgreSQL: decisions stored and audited."""

from __future__ import annotations

import pytest

import mlwarden as mw
from mlwarden.policy.service import rollback_target


def test_check_stores_and_audits_the_decision(warden, svc, gate_file, version_maker):
    mv = version_maker(warden, risk_tier="high")
    d = svc.check(mv.ref, gate_file, actor="alice")
    assert d.passed and d.id is not None and d.ref == "credit-risk@1"
    r = {x.id: x for x in d.results}
    assert dict(r["four-fifths"].values) == {"fairness.sex.disparate_impact": 0.9}
    assert r["card-owner"].verdict == "fail" and not r["card-owner"].blocking
    (stored,) = svc.decisions(mv.ref)
    assert stored.id == d.id and stored.policy_sha256 == d.policy_sha256
    assert stored.results == d.results and svc.decisions("credit-risk")[0].id == d.id
    (event,) = warden.audit.events(model="credit-risk", action="policy.decision")
    payload = event.payload
    assert payload["decision_id"] == d.id and payload["policy_sha256"] == d.policy_sha256
    assert payload["rules"][0] == {
        "id": "four-fifths",
        "severity": "error",
        "verdict": "pass",
        "inputs": {"fairness.sex.disparate_impact": 0.9},
        "missing": [],
    }


def test_missing_evidence_is_an_error_verdict_not_an_exception(
    warden, svc, gate_file, version_maker
):
    mv = version_maker(warden, di=None, risk_tier="high")
    d = svc.check(mv.ref, gate_file, actor="alice")
    (r,) = [x for x in d.results if x.id == "four-fifths"]
    assert not d.passed and r.verdict == "error" and "no such key: fairness.sex" in r.message


def test_promote_moves_alias_when_gate_passes(warden, svc, gate_file, version_maker):
    mv = version_maker(warden, risk_tier="low")  # policy does not apply to low risk: skipped
    p = svc.promote(mv.ref, alias="production", policy=gate_file, actor="alice")
    assert p.allowed and p.change is not None and p.change.to_version == 1
    assert p.decision.purpose == "promote" and not p.decision.applies
    assert warden.get_model_version("credit-risk@production").version == 1
    (h,) = warden.alias_history("credit-risk", "production")
    assert h.action == "promote" and p.decision.policy_sha256[:12] in h.reason
    (event,) = warden.audit.events(model="credit-risk", action="alias.promote")
    assert event.payload["decision_id"] == p.decision.id
    # promoting the version already there moves nothing
    again = svc.promote(mv.ref, alias="production", policy=gate_file, actor="alice")
    assert again.allowed and again.change is None
    assert len(warden.alias_history("credit-risk", "production")) == 1


def test_failing_gate_refuses_and_audits(warden, svc, gate_file, version_maker):
    mv = version_maker(warden, di=0.5, risk_tier="medium")
    with pytest.raises(mw.PolicyViolation) as info:
        svc.promote(mv.ref, alias="production", policy=gate_file, actor="alice")
    details = info.value.details
    assert [r["id"] for r in details["failed_rules"]] == ["four-fifths"]
    assert details["failed_rules"][0]["values"] == {"fairness.sex.disparate_impact": 0.5}
    assert details["missing_approvals"] == 1 and "approval" in info.value.message
    assert "four-fifths" in info.value.message
    assert "production" not in warden.get_model("credit-risk").aliases
    (denied,) = warden.audit.events(model="credit-risk", action="access.denied")
    assert denied.payload["action"] == "model.promote"
    assert denied.payload["decision_id"] == details["decision_id"]
    assert denied.payload["failed_rules"] == ["four-fifths"]
    (d,) = svc.decisions(mv.ref)
    assert d.id == details["decision_id"] and not d.passed


def test_approvals_must_meet_the_risk_tier(
    warden, svc, gate_file, store_uri, tmp_path, version_maker
):
    mv = version_maker(warden, risk_tier="high")  # needs 2 approvals
    with pytest.raises(mw.PolicyViolation) as info:
        svc.promote(mv.ref, alias="production", policy=gate_file, actor="alice")
    assert info.value.details["failed_rules"] == []
    assert info.value.details["missing_approvals"] == 2
    for who in ("bob", "carol"):
        other = mw.Warden(store_uri, artifacts=str(tmp_path / "artifacts"), actor=who)
        other.approve(mv.ref)
        other.close()
    p = svc.promote(mv.ref, alias="production", policy=gate_file, actor="alice")
    assert p.allowed and p.approvals["approvers"] == ["bob", "carol"]


def test_dry_run_evaluates_without_moving_or_raising(warden, svc, gate_file, version_maker):
    mv = version_maker(warden, di=0.5, risk_tier="medium")
    p = svc.promote(mv.ref, alias="production", policy=gate_file, actor="alice", dry_run=True)
    assert not p.allowed and p.dry_run and p.change is None
    assert any("four-fifths" in r for r in p.reasons) and any("approval" in r for r in p.reasons)
    assert p.decision.purpose == "dry-run" and p.decision.id is not None
    assert warden.alias_history("credit-risk") == []
    assert not warden.audit.events(model="credit-risk", action="access.denied")


def test_rollback_walks_back_the_promotion_history(warden, svc, gate_file, version_maker):
    for _ in range(3):
        mv = version_maker(warden, risk_tier="low")
        svc.promote(mv.ref, alias="production", policy=gate_file, actor="alice")
    back = svc.rollback("credit-risk", alias="production", reason="bad release", actor="alice")
    assert (back.from_version, back.to_version, back.action) == (3, 2, "rollback")
    assert back.reason == "bad release"
    back = svc.rollback("credit-risk", alias="production", reason="also bad", actor="alice")
    assert (back.from_version, back.to_version) == (2, 1)
    with pytest.raises(mw.NotFound, match="no earlier version"):
        svc.rollback("credit-risk", alias="production", reason="x", actor="alice")
    history = warden.alias_history("credit-risk", "production")
    assert [(h.from_version, h.to_version, h.action) for h in history] == [
        (None, 1, "promote"),
        (1, 2, "promote"),
        (2, 3, "promote"),
        (3, 2, "rollback"),
        (2, 1, "rollback"),
    ]
    events = warden.audit.events(model="credit-risk", action="alias.rollback")
    assert [e.payload["to_version"] for e in events] == [2, 1]
    with pytest.raises(mw.ValidationError, match="reason"):
        svc.rollback("credit-risk", alias="production", reason=" ", actor="alice")
    with pytest.raises(mw.NotFound, match="no alias 'staging'"):
        svc.rollback("credit-risk", alias="staging", reason="x", actor="alice")


def test_roles_are_enforced_and_refusals_audited(
    warden, gate_file, store_uri, tmp_path, version_maker, service_for
):
    mv = version_maker(warden, risk_tier="low")
    warden.create_user("alice", "admin")
    warden.create_user("victor", "viewer")
    viewer = mw.Warden(store_uri, artifacts=str(tmp_path / "artifacts"), actor="victor")
    with pytest.raises(mw.PermissionDenied):
        service_for(viewer).promote(mv.ref, alias="production", policy=gate_file, actor="victor")
    # a viewer may still evaluate (check, dry run)
    assert service_for(viewer).check(mv.ref, gate_file, actor="victor").passed
    viewer.close()


def _c(frm, to, action):
    from datetime import UTC, datetime

    return mw.AliasChange("m", "p", frm, to, action, "a", None, datetime.now(UTC))


@pytest.mark.parametrize(
    "moves, current, target",
    [
        ([(None, 1, "promote")], 1, None),
        ([(None, 1, "promote"), (1, 2, "promote")], 2, 1),
        ([(None, 1, "promote"), (1, 2, "promote"), (2, 1, "rollback")], 1, None),
        ([(None, 1, "set"), (1, 2, "promote"), (2, 3, "promote"), (3, 2, "rollback")], 2, 1),
        ([(None, 1, "promote"), (1, None, "delete"), (None, 2, "promote")], 2, None),
        ([(None, 1, "promote"), (1, 2, "promote"), (2, 1, "rollback"), (1, 3, "promote")], 3, 1),
    ],
)
def test_rollback_target(moves, current, target):
    assert rollback_target([_c(*m) for m in moves], current) == target
