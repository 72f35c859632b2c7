"""Model validation report and the findings register: back-testing, the challenger and the
sensitivity figures checked against sklearn by hand, independence from the audit log,
audited findings, policies, bundles, CLI and a golden report."""

from __future__ import annotations

import json
import os
import re
import zipfile
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import accuracy_score, f1_score
from typer.testing import CliRunner

import mlwarden as mw
from mlwarden.cli.main import app
from mlwarden.reports import gather
from mlwarden.reports.validation import validate, validation_report
from mlwarden.store.sql.audit import key_path, public_key_path

GOLDEN = Path(__file__).parent / "golden" / "validation.md"
EXAMPLES = Path(__file__).parents[2] / "docs" / "examples"
REGENERATE = os.environ.get("MLWARDEN_REGENERATE_GOLDEN") == "1"
NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
runner = CliRunner()


def as_actor(wd: mw.Warden, actor: str) -> mw.Warden:
    return mw.Warden(settings=wd.settings.model_copy(update={"actor": actor}))


@pytest.fixture(scope="module")
def challenger_pipeline(small_adult):
    from sklearn.compose import make_column_selector, make_column_transformer
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder
    from sklearn.tree import DecisionTreeClassifier

    train, _ = small_adult
    pipe = make_pipeline(
        make_column_transformer(
            (
                OneHotEncoder(handle_unknown="ignore"),
                make_column_selector(dtype_include="category"),
            ),
            remainder="passthrough",
        ),
        DecisionTreeClassifier(max_depth=4, random_state=0),
    )
    return pipe.fit(train.drop(columns="income"), train["income"])


def setup_story(wd: mw.Warden, champion, challenger, small_adult):
    """alice registers two versions and logs labelled decisions of v1 over two months."""
    train, test = small_adult
    X, y = test.drop(columns="income"), test["income"].astype(str)
    for model in (champion, challenger):
        wd.register_model(
            "credit-risk",
            model,
            train=mw.Dataset(train.drop(columns="income"), train["income"], name="adult-train"),
            sensitive_features=["sex"],
            owner="risk-team",
            risk_tier="high",
            intended_use="Pre-screening of credit applications.",
            favorable_label=">50K",
        )
    decisions = champion.predict(X)
    jan, feb = pd.Timestamp("2026-01-10", tz="UTC"), pd.Timestamp("2026-02-10", tz="UTC")
    ts = [jan] * 1200 + [feb] * 800
    ids = wd.log_predictions("credit-risk", X, decisions, version=1, timestamps=ts)
    wd.log_labels("credit-risk", ids, y)
    return X, y, decisions


def test_validation_measures_match_sklearn(
    warden, fitted_pipeline, challenger_pipeline, small_adult
):
    X, y, decisions = setup_story(warden, fitted_pipeline, challenger_pipeline, small_adult)
    bob = as_actor(warden, "bob")
    try:
        bob.findings.add(
            "credit-risk@1", title="No stress test", severity="high", owner="alice", actor="bob"
        )
        v = validate(bob, "credit-risk@1", challenger="credit-risk@2", now=NOW)
    finally:
        bob.close()
    overall = v["backtest"]["overall"]
    assert overall["n"] == 2000 == v["labelled"]
    assert overall["accuracy"] == pytest.approx(accuracy_score(y, decisions))
    assert overall["f1"] == pytest.approx(f1_score(y, decisions, pos_label=">50K"))
    months = {r["month"]: r for r in v["backtest"]["by_month"]}
    assert set(months) == {"2026-01", "2026-02"} and months["2026-02"]["n"] == 800
    assert months["2026-02"]["accuracy"] == pytest.approx(
        accuracy_score(y.iloc[1200:], decisions[1200:])
    )
    measured = v["challenger"]["measured"]
    assert measured["challenger"]["accuracy"] == pytest.approx(
        accuracy_score(y, challenger_pipeline.predict(X))
    )
    # sensitivity of age, by hand: one standard deviation (rounded: an integer column)
    rows = X.head(500).reset_index(drop=True)
    moved = rows.assign(age=rows["age"] + max(round(float(rows["age"].std())), 1))
    base = fitted_pipeline.predict_proba(rows)[:, 1]
    after = fitted_pipeline.predict_proba(moved)[:, 1]
    age = next(r for r in v["sensitivity"] if r["feature"] == "age")
    assert age["mean_abs_change"] == pytest.approx(np.mean(np.abs(after - base)))
    assert {r["feature"] for r in v["sensitivity"]} >= {"age", "sex", "education"}
    ind = v["independence"]
    assert ind["developers"] == ["alice"] and "bob" in ind["validators"] and ind["independent"]
    assert v["open_high_findings"] == 1
    # the developer validating their own version is shown as not independent
    mine = validate(warden, "credit-risk@1", record=False)
    assert mine["independence"]["independent"] is False
    # policies read the recorded validation
    context = warden.policy_context("credit-risk@1")["validation"]
    assert context["independent"] is True and context["open_high_findings"] == 1


def test_findings_register_is_audited(warden, fitted_pipeline, small_adult):
    train, _ = small_adult
    warden.register_model(
        "credit-risk",
        fitted_pipeline,
        train=mw.Dataset(train.drop(columns="income"), train["income"]),
    )
    f = warden.findings.add(
        "credit-risk",
        title="Thin data for ages over 70",
        severity="medium",
        owner="data-team",
        actor="alice",
    )
    assert f.ref == "credit-risk" and f.status == "open"
    g = warden.findings.update(f.id, actor="alice", status="remediated", owner="ml-team")
    assert (g.status, g.owner, g.updated_by) == ("remediated", "ml-team", "alice")
    assert [x.id for x in warden.findings.list("credit-risk@1")] == [f.id]  # model-wide ones too
    add, upd = (
        warden.audit.events(model="credit-risk", action=a)[0]
        for a in ("finding.add", "finding.update")
    )
    assert add.payload["title"] == "Thin data for ages over 70"
    assert upd.payload == {
        "id": f.id,
        "from": {"status": "open", "owner": "data-team"},
        "to": {"status": "remediated", "owner": "ml-team"},
    }
    with pytest.raises(mw.ValidationError, match="severity"):
        warden.findings.add("credit-risk", title="x", severity="huge", owner="a", actor="alice")
    with pytest.raises(mw.NotFound):
        warden.findings.update(9999, actor="alice", status="closed")
    with pytest.raises(mw.NotFound):
        warden.findings.add("nope", title="x", severity="low", owner="a", actor="alice")
    # with users, only validators and admins write findings (and a refusal is audited)
    warden.create_user("alice", "admin")
    warden.create_user("dev", "developer")
    with pytest.raises(mw.PermissionDenied):
        warden.findings.update(f.id, actor="dev", status="closed")


def test_validation_in_bundle_and_cli(
    warden, fitted_pipeline, challenger_pipeline, small_adult, tmp_path
):
    setup_story(warden, fitted_pipeline, challenger_pipeline, small_adult)
    uri = ["--uri", warden.uri]
    # the CLI opens the same store; on PostgreSQL the artifact folder is not beside a file
    runner = CliRunner(env={"MLWARDEN_ARTIFACTS": str(warden.settings.resolved_artifacts())})
    result = runner.invoke(
        app,
        [
            "findings",
            "add",
            "credit-risk@1",
            "--title",
            "Drift unchecked",
            "--severity",
            "low",
            "--owner",
            "ops",
            "--json",
            *uri,
        ],
    )
    assert result.exit_code == 0, result.output
    fid = json.loads(result.output)["id"]
    result = runner.invoke(app, ["findings", "update", str(fid), "--status", "closed", *uri])
    assert result.exit_code == 0, result.output
    result = runner.invoke(app, ["findings", "list", "credit-risk", "--json", *uri])
    assert [f["status"] for f in json.loads(result.output)] == ["closed"]
    result = runner.invoke(app, ["findings", "update", str(fid), "--status", "gone", *uri])
    assert result.exit_code == 1 and "status must be one of" in result.output
    assert "Traceback" not in result.output

    out = tmp_path / "v.html"
    result = runner.invoke(
        app,
        [
            "report",
            "validation",
            "credit-risk@1",
            "--challenger",
            "credit-risk@2",
            "-f",
            "html",
            "-o",
            str(out),
            *uri,
        ],
    )
    assert result.exit_code == 0, result.output
    html = out.read_text()
    assert "Benchmarking against credit-risk@2" in html and "Validator independence" in html
    pdf = tmp_path / "v.pdf"
    result = runner.invoke(
        app, ["report", "validation", "credit-risk@1", "-f", "pdf", "-o", str(pdf), *uri]
    )
    assert result.exit_code == 0 and pdf.read_bytes().startswith(b"%PDF")

    path = warden.bundle("credit-risk@1", tmp_path / "b.zip")
    check = mw.reports.verify_bundle(path, public_key_path(key_path(warden.settings)).read_bytes())
    assert check.ok, check.summary()
    with zipfile.ZipFile(path) as zf:
        md = zf.read("documents/validation-report.md").decode()
        actions = {e["action"] for e in json.loads(zf.read("audit/events.json"))}
    assert "## 6. Findings register" in md and "Drift unchecked" in md
    assert {"finding.add", "finding.update", "evidence.record"} <= actions


def normalised(text: str) -> str:
    """Times and hashes vary from run to run; the rest of the report must not."""
    text = re.sub(r"sha256:[0-9a-f]{12}…", "sha256:<hash>", text)
    return re.sub(r"\d{4}-\d\d-\d\d[T ]\d\d:\d\d:\d\d(\.\d+)?(\+00:00)?", "<time>", text)


def test_golden_validation_report(
    tmp_path, monkeypatch, fitted_pipeline, challenger_pipeline, small_adult
):
    monkeypatch.chdir(tmp_path)  # registered outside any git checkout: the same lineage anywhere
    wd = mw.Warden(f"sqlite:///{tmp_path / 'w.db'}", artifacts=str(tmp_path / "a"), actor="alice")
    bob = as_actor(wd, "bob")
    try:
        setup_story(wd, fitted_pipeline, challenger_pipeline, small_adult)
        bob.approve("credit-risk@1", comment="validated")
        bob.findings.add(
            "credit-risk@1", title="No stress test", severity="high", owner="alice", actor="bob"
        )
        validate(bob, "credit-risk@1", challenger="credit-risk@2", now=NOW)
        raw = validation_report(gather(wd, "credit-risk@1"))
        text = normalised(raw)
    finally:
        bob.close()
        wd.close()
    if REGENERATE:  # the golden file, and the rendered example the docs link
        from mlwarden.reports.render import render, to_html

        GOLDEN.write_text(text)
        (EXAMPLES / "validation-report.md").write_text(raw)
        (EXAMPLES / "validation-report.html").write_text(to_html(raw))
        render(raw, "pdf", EXAMPLES / "validation-report.pdf")
    assert text == GOLDEN.read_text()
