"""Evaluating rules against a context: verdicts, recorded inputs, missing evidence."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from mlwarden import policy as mwp
from mlwarden.entities import Model, ModelVersion
from mlwarden.policy.context import build_context

NOW = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)


def run(rules: str, context: dict, **kw):
    pol = mwp.loads(f"name: t\nrules:\n{rules}")
    return pol, mwp.evaluate(pol, context, ref="m@1", actor="alice", time=NOW, **kw)


def test_pass_fail_and_warn_do_not_block_alike():
    ctx = {"version": {"metrics": {"roc_auc": 0.85}}, "card": {"owner": "risk"}}
    _, d = run(
        "  - {id: auc, check: 'version.metrics.roc_auc >= 0.9', message: AUC too low}\n"
        "  - {id: card, check: 'has(card.intended_use)', severity: warn}\n"
        "  - {id: owner, check: 'has(card.owner)'}\n",
        ctx,
    )
    r = {x.id: x for x in d.results}
    assert r["auc"].verdict == "fail" and r["auc"].message == "AUC too low"
    assert dict(r["auc"].values) == {"version.metrics.roc_auc": 0.85}
    assert r["card"].verdict == "fail" and not r["card"].blocking
    assert r["owner"].verdict == "pass" and r["owner"].message == "ok"
    assert not d.passed and [x.id for x in d.failed_rules] == ["auc"]
    assert [x.id for x in d.warnings] == ["card"]
    _, d = run("  - {id: auc, check: 'version.metrics.roc_auc >= 0.8'}\n", ctx)
    assert d.passed and d.policy_sha256 and d.time == NOW and d.actor == "alice"


def test_missing_key_is_an_error_verdict_naming_the_key():
    _, d = run("  - {id: di, check: 'fairness.sex.disparate_impact >= 0.8'}\n", {"fairness": {}})
    (r,) = d.results
    assert r.verdict == "error" and r.blocking and not d.passed
    assert "no such key: fairness.sex" in r.message
    assert r.missing == ("fairness.sex",) and dict(r.values) == {}


def test_missing_key_guarded_by_has_passes():
    _, d = run(
        "  - id: di\n    check: '!has(fairness.sex) || fairness.sex.disparate_impact >= 0.8'\n",
        {"fairness": {}},
    )
    assert d.passed and d.results[0].verdict == "pass"


def test_runtime_type_errors_and_non_boolean_results_are_error_verdicts():
    _, d = run(
        "  - {id: cmp, check: \"version.params.C > 'x'\"}\n"
        "  - {id: dyn, check: 'version.params.C', severity: warn}\n"
        "  - {id: div, check: 'version.number / 0 > 1'}\n",
        {"version": {"params": {"C": 1.0}, "number": 1}},
    )
    r = {x.id: x for x in d.results}
    assert r["cmp"].verdict == "error" and "TypeError" in r["cmp"].message
    assert r["dyn"].verdict == "error" and "not a boolean" in r["dyn"].message
    assert not r["dyn"].blocking
    assert r["div"].verdict == "error" and "division" in r["div"].message


def test_policy_that_does_not_apply_skips_every_rule():
    _, d = run("  - {id: a, check: 'false'}\n", {}, applies=False)
    assert d.passed and not d.applies and d.results[0].verdict == "skipped"


def test_decision_round_trips_through_dicts():
    _, d = run("  - {id: a, check: 'now > timestamp(\"2020-01-01T00:00:00Z\")'}\n", {"now": NOW})
    out = d.to_dict()
    assert out["passed"] and out["results"][0]["values"] == {"now": NOW.isoformat()}
    back = mwp.RuleResult.from_dict(out["results"][0])
    assert back.id == "a" and back.verdict == "pass"


def _model(**kw) -> Model:
    base = dict(
        name="m",
        owner=None,
        risk_tier="high",
        intended_use="scoring",
        description=None,
        tags={"limitations": "not for minors"},
        created_at=NOW,
        created_by="alice",
        latest_version=1,
        aliases={"production": 1},
    )
    return Model(**{**base, **kw})


def _version() -> ModelVersion:
    return ModelVersion(
        name="m",
        version=1,
        artifact_sha256="0" * 64,
        artifact_size=1,
        flavor="sklearn",
        flavor_info={},
        signature={"inputs": [], "output": {}},
        lineage={"code": {"dirty": False}, "sensitive_features": ["sex"]},
        metrics={"roc_auc": 0.9, "brier": None},
        params={},
        status="registered",
        created_at=NOW,
        created_by="alice",
        evidence={"fairness": "a", "explain": "b", "reference_profile": "c"},
    )


def test_context_from_entities_and_evidence():
    fairness = {"status": "ok", "summary": {"sex": {"disparate_impact": 0.7, "worst_group": None}}}
    explain = {"status": "skipped", "reason": "no data"}
    ctx = build_context(
        _model(),
        _version(),
        {"fairness": fairness, "explain": explain},
        {"have": 1, "required": 2, "missing": 1, "approved": False, "approvers": ["bob"]},
        NOW,
    )
    assert ctx["fairness"] == {"sex": {"disparate_impact": 0.7}}  # nulls left out
    assert ctx["explain"] == {} and ctx["drift"] == {} and ctx["privacy"] == {}
    assert ctx["card"] == {
        "intended_use": "scoring",
        "risk_tier": "high",
        "limitations": "not for minors",
    }
    assert ctx["version"]["metrics"] == {"roc_auc": 0.9}
    assert ctx["version"]["evidence"] == ("fairness", "reference_profile")  # lists: tuples
    assert ctx["approvals"] == {
        "count": 1,
        "required": 2,
        "missing": 1,
        "approved": False,
        "approvers": ("bob",),
    }
    assert ctx["model"]["aliases"] == {"production": 1} and ctx["now"] == NOW
    pol = mwp.load("production-gate")
    d = mwp.evaluate(pol, ctx, ref="m@1", actor="a", time=NOW)
    r = {x.id: x.verdict for x in d.results}
    assert r == {
        "min-auc": "pass",
        "four-fifths": "fail",
        "fairness-audited": "pass",
        "card-complete": "pass",
        "lineage-clean": "pass",
    }


@pytest.mark.parametrize("tier, expected", [("low", False), ("high", True)])
def test_applies_to_risk_tier(tier, expected):
    assert mwp.load("production-gate").applies(_model(risk_tier=tier)) is expected


def test_context_is_built_only_for_the_paths_a_policy_reads():
    pol = mwp.load("production-gate")
    assert pol.reads == (
        "card.intended_use",
        "card.limitations",
        "fairness.sex.disparate_impact",
        "version.evidence",
        "version.lineage.code.dirty",
        "version.metrics.roc_auc",
    )
    fairness = {"status": "ok", "summary": {"sex": {"disparate_impact": 0.9, "ci": {}}}}
    ctx = build_context(_model(), _version(), {"fairness": fairness}, {}, NOW, reads=pol.reads)
    assert ctx == {
        "card": {"intended_use": "scoring", "limitations": "not for minors"},
        "fairness": {"sex": {"disparate_impact": 0.9}},
        "version": {
            "evidence": ("fairness", "explain", "reference_profile"),
            "lineage": {"code": {"dirty": False}},
            "metrics": {"roc_auc": 0.9},
        },
    }
    full = build_context(_model(), _version(), {"fairness": fairness}, {}, NOW)
    d_pruned = mwp.evaluate(pol, ctx, ref="m@1", actor="a", time=NOW)
    d_full = mwp.evaluate(pol, full, ref="m@1", actor="a", time=NOW)
    assert d_pruned.results == d_full.results
