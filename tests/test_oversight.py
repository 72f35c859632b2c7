"""Human oversight (issue 20 item 4, the core): a per-model CEL rule flags logged predictions,
a validator confirms or overrides each one (audited, once), the registrant may not, and the
override rate is counted; on SQLite and PostgreSQL."""

from __future__ import annotations

import pytest

import mlwarden as mw
from mlwarden.errors import Conflict, PermissionDenied, ValidationError


def _as(wd: mw.Warden, actor: str) -> mw.Warden:
    return mw.Warden(settings=wd.settings.model_copy(update={"actor": actor}))


def test_flag_review_and_override_rate(warden, registered, fitted_pipeline, small_adult):
    _, test = small_adult
    X = test.drop(columns="income").iloc[:60]
    warden.log_predictions(
        "credit-risk",
        X,
        fitted_pipeline.predict(X),
        scores=fitted_pipeline.predict_proba(X)[:, 1],
    )
    with pytest.raises(ValidationError, match="rule"):
        warden.oversight.set_rule("credit-risk", "score <", actor="alice")
    warden.oversight.set_rule("credit-risk", "score > 0.3 && score < 0.7", actor="alice")
    added = warden.oversight.flag("credit-risk", actor="alice")
    frame = warden.predictions("credit-risk")
    expected = set(frame[(frame["score"] > 0.3) & (frame["score"] < 0.7)]["id"])
    queue = warden.oversight.queue("credit-risk", actor="alice")
    assert added == len(expected) >= 2 and {i["prediction_id"] for i in queue} == expected
    assert warden.oversight.flag("credit-risk", actor="alice") == 0  # each prediction once
    warden.create_user("alice", "admin")
    warden.create_user("val", "validator")
    warden.create_user("dev", "developer")
    first, second = queue[0]["prediction_id"], queue[1]["prediction_id"]
    # the registrant (alice) may not review her own version's decisions; a developer may not
    with pytest.raises(PermissionDenied):
        warden.oversight.decide("credit-risk", first, actor="alice")
    with pytest.raises(PermissionDenied):
        warden.oversight.decide("credit-risk", first, actor="dev")
    done = warden.oversight.decide(
        "credit-risk", first, actor="val", override=">50K", comment="income verified"
    )
    assert done["status"] == "overridden" and done["decided_output"] == ">50K"
    warden.oversight.decide("credit-risk", second, actor="val")
    with pytest.raises(Conflict):
        warden.oversight.decide("credit-risk", second, actor="val", override="<=50K")
    rate = warden.oversight.override_rate("credit-risk")
    assert rate["override_rate"] == 0.5 and rate["pending"] == len(expected) - 2
    actions = [e.action for e in warden.audit.events()]
    assert {"review.rule", "review.flag", "review.override", "review.confirm"} <= set(actions)
    assert warden.audit.verify().ok


def test_cli_queue_and_override_rate_metric(warden, registered, fitted_pipeline, small_adult):
    from typer.testing import CliRunner

    from mlwarden.alerts.metrics import render
    from mlwarden.cli.main import app as cli

    _, test = small_adult
    X = test.drop(columns="income").iloc[:30]
    ids = warden.log_predictions("credit-risk", X, fitted_pipeline.predict(X))
    runner = CliRunner()
    uri = ["--uri", warden.settings.resolved_uri()]
    env = {"MLWARDEN_ACTOR": "alice", "MLWARDEN_ARTIFACTS": warden.settings.resolved_artifacts()}
    res = runner.invoke(cli, ["review", "rule", "credit-risk", "output == '<=50K'", *uri], env=env)
    assert res.exit_code == 0, res.output
    res = runner.invoke(cli, ["review", "flag", "credit-risk", *uri], env=env)
    adverse = [i for i, o in zip(ids, fitted_pipeline.predict(X), strict=True) if o == "<=50K"]
    assert res.exit_code == 0 and f"Queued {len(adverse)} " in res.output, res.output
    # single-user store: alice registered the version, so she may not review its decisions
    res = runner.invoke(cli, ["review", "confirm", "credit-risk", adverse[0], *uri], env=env)
    assert res.exit_code == 1 and "reviewed by someone else" in res.output
    val = {**env, "MLWARDEN_ACTOR": "val"}
    res = runner.invoke(
        cli, ["review", "override", "credit-risk", adverse[0], "--output", ">50K", *uri], env=val
    )
    assert res.exit_code == 0, res.output
    res = runner.invoke(cli, ["review", "list", "credit-risk", *uri], env=env)
    assert f"{len(adverse) - 1} pending; override rate 100.0%" in res.output
    text = render(warden).decode()
    assert 'mlwarden_review_override_rate{model="credit-risk"} 1.0' in text
    assert 'mlwarden_review_items{model="credit-risk",status="pending"}' in text


def test_logged_predictions_are_flagged_in_the_log_transaction(
    warden, registered, fitted_pipeline, small_adult, monkeypatch
):
    _, test = small_adult
    X = test.drop(columns="income").iloc[:40]
    warden.oversight.set_rule("credit-risk", "output == '>50K'", actor="alice")
    y = fitted_pipeline.predict(X)
    ids = warden.log_predictions("credit-risk", X, y)
    queue = warden.oversight.queue("credit-risk", actor="alice")
    adverse = {i for i, o in zip(ids, y, strict=True) if o == ">50K"}
    assert adverse and {i["prediction_id"] for i in queue} == adverse
    assert all(i["version"] == 1 for i in queue)

    # the queue write is part of the prediction log's transaction: when it fails, nothing of
    # the batch is logged (and nothing is queued), so a committed prediction is never unflagged
    def broken(*args, **kwargs):
        raise RuntimeError("disk full")

    logged, events = len(warden.predictions("credit-risk")), len(warden.audit.events())
    monkeypatch.setattr(warden.oversight.store, "enqueue", broken)
    with pytest.raises(RuntimeError, match="disk full"):
        warden.log_predictions("credit-risk", X, y)
    assert len(warden.predictions("credit-risk")) == logged
    assert len(warden.audit.events()) == events


@pytest.mark.parametrize(
    "rule, expected",
    [
        # named fields only: the rule's context holds just those
        (
            "inputs['marital-status'] == 'Never-married' && inputs.age < 30",
            lambda X: (X["marital-status"] == "Never-married") & (X["age"] < 30),
        ),
        # inputs read as a whole (a membership test, a macro): every field is there
        (
            "'capital-gain' in inputs && inputs.exists(k, k == 'age')"
            " && inputs['capital-gain'] > 0",
            lambda X: X["capital-gain"] > 0,
        ),
        ("size(inputs) > 3 && output == '>50K'", None),
    ],
)
def test_rules_see_what_they_read(warden, registered, fitted_pipeline, small_adult, rule, expected):
    _, test = small_adult
    X = test.drop(columns="income").iloc[:80].reset_index(drop=True)
    y = fitted_pipeline.predict(X)
    warden.oversight.set_rule("credit-risk", rule, actor="alice")
    ids = warden.log_predictions("credit-risk", X, y)
    want = (y == ">50K") if expected is None else expected(X).to_numpy()
    queued = {i["prediction_id"] for i in warden.oversight.queue("credit-risk", actor="alice")}
    assert queued == {i for i, hit in zip(ids, want, strict=True) if hit} and queued
