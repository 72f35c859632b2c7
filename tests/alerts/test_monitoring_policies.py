"""Monitoring policies: loading, hysteresis, de-duplication, cooldown, rollback and block."""

from __future__ import annotations

from datetime import timedelta

import pytest

import mlwarden as mw
from mlwarden.alerts import loads
from mlwarden.alerts.schema import MONITOR_CONTEXT
from mlwarden.policy.schema import reference_rows

NAME = "scorer"


def policy(rules: str, **top: str) -> str:
    head = "".join(f"{k}: {v}\n" for k, v in top.items())
    return f"kind: monitoring\nname: drift-watch\n{head}rules:\n{rules}"


DRIFT = """  - id: drift
    when: drift.share_drifted > 0.3
    severity: critical
    message: More than 30% of features drifted
"""


def test_loader_reports_every_problem_with_its_line():
    text = policy(
        """  - id: a
    when: drift.share > 0.3
  - id: b
    check: drift.share_drifted > 0.3
  - id: c
    when: drift.share_drifted
    severity: page
    actions: [alert, explode]
    for: 0
    cooldown: soon
"""
    )
    with pytest.raises(mw.ValidationError) as info:
        loads(text, "watch.yaml")
    messages = [p["message"] for p in info.value.details["problems"]]
    joined = "\n".join(messages)
    assert "watch.yaml:5:17: rule 'a': unknown field drift.share" in joined
    assert "use 'when', not 'check'" in joined
    assert "severity must be one of ['warning', 'critical']" in joined
    assert "unknown action 'explode'" in joined
    assert "'for' must be a whole number" in joined
    assert "invalid cooldown 'soon'" in joined
    with pytest.raises(mw.ValidationError, match="starts with 'kind: monitoring'"):
        loads("name: x\nrules: []\n")


def test_loaded_policy_reads_per_feature_scores_and_documents_its_context():
    pol = loads(
        policy(
            """  - id: age
    when: drift.columns.age.statistic > 0.2 || quality.null_rate.age > 0.1
    actions: rollback
    for: 2
    cooldown: 30min
"""
        )
    )
    (rule,) = pol.rules
    assert rule.actions == ("alert", "rollback") and rule.for_windows == 2
    assert rule.cooldown == timedelta(minutes=30)
    assert set(rule.rule.paths) == {"drift.columns.age.statistic", "quality.null_rate.age"}
    paths = {row[0] for row in reference_rows(MONITOR_CONTEXT)}
    assert {"drift.columns.<feature>.statistic", "performance.<metric>", "estimated.<metric>"} <= (
        paths
    )


def test_hysteresis_fires_once_then_resolves(served, put_windows):
    wd = served
    pol = loads(policy(DRIFT.replace("severity", "for: 2\n    severity")))
    put_windows(wd, [0.1, 0.5])
    (out,) = wd.evaluate_monitoring([pol]).outcomes
    assert out.state == "pending" and out.change is None and not wd.alerts()
    put_windows(wd, [0.6], start=2)
    (out,) = wd.evaluate_monitoring([pol]).outcomes
    assert out.change == "fired" and out.values == {"drift.share_drifted": 0.6}
    (alert,) = wd.alerts(NAME)
    assert (alert.status, alert.severity, alert.version) == ("firing", "critical", 2)
    # still firing: one alert, not re-sent
    (out,) = wd.evaluate_monitoring([pol]).outcomes
    assert out.state == "firing" and out.change is None
    assert len(wd.alerts()) == 1
    assert [d.event for d in wd.alert_deliveries()] == ["firing"]  # the log channel
    put_windows(wd, [0.05], start=3)
    (out,) = wd.evaluate_monitoring([pol]).outcomes
    assert out.change == "resolved"
    (alert,) = wd.alerts(NAME)
    assert alert.status == "resolved" and alert.resolution == "condition cleared"
    assert [d.event for d in wd.alert_deliveries()] == ["resolved", "firing"]
    actions = [e.action for e in wd.audit.events(model=NAME)]
    assert actions.count("alert.fired") == 1 and actions.count("alert.resolved") == 1


def test_cooldown_suppresses_a_flapping_rule(served, put_windows):
    wd = served
    pol = loads(policy(DRIFT + "    cooldown: 1h\n"))
    now = [wd.alerting._clock()]
    wd.alerting._clock = lambda: now[0]
    put_windows(wd, [0.5])
    assert wd.evaluate_monitoring([pol]).fired
    put_windows(wd, [0.1], start=1)
    assert wd.evaluate_monitoring([pol]).resolved
    put_windows(wd, [0.7], start=2)
    (out,) = wd.evaluate_monitoring([pol]).outcomes
    assert out.change == "suppressed" and "cooldown" in out.message
    now[0] += timedelta(hours=2)
    (out,) = wd.evaluate_monitoring([pol]).outcomes
    assert out.change == "fired"
    assert [a.status for a in wd.alerts()] == ["firing", "resolved"]


def test_rollback_action_moves_production_back_and_is_audited(served, put_windows):
    wd = served
    pol = loads(policy(DRIFT + "    actions: [rollback]\n"))
    put_windows(wd, [0.8])
    (out,) = wd.evaluate_monitoring([pol]).outcomes
    assert out.change == "fired"
    assert wd.get_model(NAME).aliases["production"] == 1
    (alert,) = wd.alerts(NAME)
    rollback = next(a for a in alert.actions if a["action"] == "rollback")
    assert rollback["ok"] and (rollback["from_version"], rollback["to_version"]) == (2, 1)
    history = wd.alias_history(NAME, "production")
    assert history[-1].action == "rollback" and "drift-watch" in history[-1].reason
    actions = [e.action for e in wd.audit.events(model=NAME)]
    assert actions.index("alert.fired") < actions.index("alias.rollback")
    # v1 now serves: the v2 alert resolves, and v1 (no windows) has no data
    (out,) = wd.evaluate_monitoring([pol]).outcomes
    assert out.version == 1 and out.state == "no-data"
    (alert,) = wd.alerts(NAME)
    assert alert.status == "resolved" and "no longer serves" in alert.resolution
    assert wd.audit.verify().ok


def test_block_action_refuses_promotion_until_unblocked(served, put_windows):
    wd = served
    pol = loads(policy(DRIFT + "    actions: [block]\n"))
    put_windows(wd, [0.8])
    wd.evaluate_monitoring([pol])
    assert wd.get_model_version(f"{NAME}@2").status == "blocked"
    wd.set_alias(NAME, "production", 1, reason="manual", override=True)
    gate = mw.policy.loads(
        "name: open\nrules:\n  - id: any\n    check: version.number > 0\n", "open.yaml"
    )
    wd.bind_policy(wd.install_policy(gate).name, alias="production")
    with pytest.raises(mw.PolicyViolation, match="scorer@2 is blocked"):
        wd.promote(f"{NAME}@2", alias="production")
    wd.unblock(f"{NAME}@2", reason="investigated: a logging bug")
    assert wd.promote(f"{NAME}@2", alias="production").allowed
    actions = [e.action for e in wd.audit.events(model=NAME)]
    assert "version.block" in actions and "version.unblock" in actions


def test_rules_without_data_neither_fire_nor_resolve(served, put_windows):
    wd = served
    pol = loads(
        policy(
            """  - id: accuracy
    when: performance.accuracy < version.metrics.accuracy - 0.05
  - id: estimated
    when: estimated.accuracy < 0.95
"""
        )
    )
    put_windows(wd, [0.1])
    perf, est = wd.evaluate_monitoring([pol]).outcomes
    assert perf.state == "no-data" and "no such key" in perf.message
    assert est.change == "fired" and est.values == {"estimated.accuracy": 0.9}


def test_installed_policies_apply_by_applies_to(served, put_windows, tmp_path):
    wd = served
    path = tmp_path / "watch.yaml"
    path.write_text(policy(DRIFT, applies_to="{name: [other-*]}"))
    installed = wd.install_monitoring_policy(path)
    assert [p.name for p in wd.monitoring_policies()] == [installed.name]
    put_windows(wd, [0.9])
    assert wd.evaluate_monitoring().outcomes == ()  # applies to other-* models only
    path.write_text(policy(DRIFT))
    wd.install_monitoring_policy(path)  # replaces it by name
    assert wd.evaluate_monitoring().fired


def test_only_validators_and_admins_evaluate(served, put_windows):
    wd = served
    wd.install_monitoring_policy(loads(policy(DRIFT)))
    put_windows(wd, [0.9])
    for name, role in (("alice", "admin"), ("dev", "developer"), ("val", "validator")):
        wd.create_user(name, role)
    as_dev = mw.Warden(wd.settings.uri, artifacts=wd.settings.artifacts, actor="dev")
    with pytest.raises(mw.errors.PermissionDenied, match=r"checks\.run"):
        as_dev.evaluate_monitoring()
    assert wd.alerts(status="firing") == []  # nothing ran
    as_val = mw.Warden(wd.settings.uri, artifacts=wd.settings.artifacts, actor="val")
    assert as_val.evaluate_monitoring().fired


def test_refresh_computes_windows_from_the_prediction_log(served, numeric_data):
    import pandas as pd

    wd = served
    X, _ = numeric_data
    shifted = X.assign(age=X["age"] + 30)
    day = pd.Timestamp("2026-11-10", tz="UTC")
    for i, batch in enumerate((X, shifted)):
        wd.log_predictions(
            NAME,
            batch,
            (batch["age"] > 41).astype(int),
            timestamps=[day + pd.Timedelta(days=i)] * len(batch),
        )
    pol = loads(policy(DRIFT.replace("severity", "for: 1\n    severity"), window="1d"))
    (out,) = wd.evaluate_monitoring([pol], refresh=True).outcomes
    assert out.change == "fired" and out.values["drift.share_drifted"] >= 0.5
    stored = wd.monitoring.results.history(wd.registry.store.model_id(NAME))
    assert len(stored) == 2
    # the next round goes through the fleet job: both days are final, neither is read again
    (again,) = wd.evaluate_monitoring([pol], refresh=True).outcomes
    assert again.state == "firing"
    kept = wd.monitoring.results.history(wd.registry.store.model_id(NAME))
    assert [w["computed_at"] for w in kept] == [w["computed_at"] for w in stored]


def test_two_evaluators_fire_an_alert_once(served, put_windows):
    """The partial unique index decides a race: the loser's insert is refused (and rolled
    back to a savepoint), so its actions never run."""
    wd = served
    model_id = wd.registry.store.model_id(NAME)
    fields = dict(
        fingerprint="p/r/scorer/2",
        policy="p",
        policy_sha256="0" * 64,
        rule="r",
        version=2,
        severity="warning",
        message="m",
        actions=[],
        values={},
    )
    with wd.db.transaction():
        first = wd.alerting.store.open(model_id, **fields)
        second = wd.alerting.store.open(model_id, **fields)
        assert first is not None and second is None
    assert [a.id for a in wd.alerts()] == [first.id]
    wd.alerting.store.resolve(first.id, "done", wd.alerting._clock())
    assert wd.alerting.store.open(model_id, **fields) is not None  # a new episode
