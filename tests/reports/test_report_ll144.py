"""NYC Local Law 144 bias audit: tables checked against plain pandas on the Adult data, the
favourable label respected, the scoring rate, policies, bundles, CLI and a golden summary."""

from __future__ import annotations

import json
import os
import zipfile
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

import mlwarden as mw
from mlwarden.cli.main import app
from mlwarden.reports.bundle_check import Problem
from mlwarden.reports.ll144 import bias_audit, ll144_csv, ll144_markdown
from mlwarden.store.sql.audit import key_path, public_key_path

GOLDEN = Path(__file__).parent / "golden" / "ll144.md"
REGENERATE = os.environ.get("MLWARDEN_REGENERATE_GOLDEN") == "1"
AUDIT_DAY = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
DAY = pd.Timestamp("2026-01-15", tz="UTC")


def by_hand(attrs: pd.DataFrame, selected: np.ndarray, column: str) -> pd.DataFrame:
    """The LL144 table as the rules describe it, in plain pandas (independent of Warden):
    unknown categories (missing) are not tabulated; the 2% base is everyone assessed."""
    frame = attrs.assign(selected=selected)
    table = frame.groupby(column, observed=True, dropna=True)["selected"].agg(n="size", rate="mean")
    table = table[table["n"] > 0]
    kept = table["n"] >= 0.02 * len(frame)
    table["impact_ratio"] = (table["rate"] / table.loc[kept, "rate"].max()).where(kept)
    table.index = table.index.astype(str)
    return table


def as_frame(audit: dict, name: str) -> pd.DataFrame:
    rows = audit["tables"][name]["rows"]
    return pd.DataFrame(rows).set_index("category")[["n", "rate", "impact_ratio"]]


def register(wd: mw.Warden, model, train: pd.DataFrame, **kwargs) -> mw.ModelVersion:
    return wd.register_model(
        "hiring",
        model,
        train=mw.Dataset(train.drop(columns="income"), train["income"], name="adult-train"),
        sensitive_features=["sex", "race"],
        risk_tier="high",
        intended_use="Screening applicants for interview.",
        **kwargs,
    )


def test_tables_match_pandas_on_adult(warden, fitted_pipeline, small_adult, adult):
    train, _ = small_adult
    test = adult[1].drop(columns="income")  # the full Adult test file, 16,281 people
    mv = register(warden, fitted_pipeline, train, favorable_label=">50K")
    decisions = fitted_pipeline.predict(test)
    logged = test.copy()
    unknown = logged.sample(37, random_state=1).index
    logged["sex"] = logged["sex"].astype(object)
    logged.loc[unknown, "sex"] = None  # not recorded for these applicants
    ts = [DAY] * len(logged)
    warden.log_predictions("hiring", logged, decisions, timestamps=ts)
    audit = bias_audit(warden, "hiring", since="2026-01-01", until="2026-02-01", now=AUDIT_DAY)

    selected = decisions == ">50K"
    attrs = logged[["sex", "race"]].astype(object)
    attrs["intersection"] = attrs["sex"] + " / " + attrs["race"].astype(str)
    for name, column in (("sex", "sex"), ("race", "race"), ("intersection", "intersection")):
        expect = by_hand(attrs, selected, column)
        got = as_frame(audit, name).loc[expect.index]
        pd.testing.assert_series_equal(got["n"], expect["n"], check_names=False)
        np.testing.assert_allclose(got["rate"], expect["rate"], rtol=1e-12)
        kept = expect["impact_ratio"].notna()
        np.testing.assert_allclose(
            got["impact_ratio"][kept].astype(float), expect["impact_ratio"][kept], rtol=1e-12
        )
        assert got["impact_ratio"][~kept].isna().all()
    assert audit["rows"] == len(logged) and audit["tables"]["sex"]["unknown"] == 37
    assert audit["tables"]["intersection"]["unknown"] == 37
    assert audit["tables"]["race"]["unknown"] == 0
    # Amer-Indian-Eskimo (about 1%) and Other (under 1%) fall under the 2% line
    excluded = {(e["table"], e["category"]) for e in audit["excluded"]}
    assert {("race", "Amer-Indian-Eskimo"), ("race", "Other")} <= excluded
    female = as_frame(audit, "sex").loc["Female", "impact_ratio"]
    assert audit["min_impact_ratio"] <= female < 0.5
    # recorded as measured evidence of the newest version audited, with an audited digest
    ev = warden.get_evidence(mv.ref, "ll144")
    assert ev["min_impact_ratio"] == audit["min_impact_ratio"]
    (event,) = warden.audit.events(model="hiring", action="evidence.record")
    assert event.subject == f"model:hiring/{mv.version}" and event.payload["kind"] == "ll144"


def test_favourable_label_and_scoring_rate(warden, fitted_pipeline, small_adult):
    train, test = small_adult
    X = test.drop(columns="income")
    decisions = fitted_pipeline.predict(X)
    scores = fitted_pipeline.predict_proba(X)[:, 1]
    high = register(warden, fitted_pipeline, train, favorable_label=">50K")
    low = register(warden, fitted_pipeline, train, favorable_label="<=50K")
    for mv in (high, low):
        warden.log_predictions("hiring", X, decisions, scores=scores, version=mv.version)
    up, down = (bias_audit(warden, mv.ref, now=AUDIT_DAY) for mv in (high, low))
    assert up["versions"] == [high.version] and down["versions"] == [low.version]
    for a, b in zip(up["tables"]["sex"]["rows"], down["tables"]["sex"]["rows"], strict=True):
        assert a["category"] == b["category"] and a["n"] == b["n"]
        assert a["rate"] == pytest.approx(1 - b["rate"])

    scored = bias_audit(warden, high.ref, scoring=True, now=AUDIT_DAY, record=False)
    median = np.median(scores)
    expect = by_hand(X[["sex", "race"]].astype(object), scores > median, "sex")
    got = as_frame(scored, "sex").loc[expect.index]
    np.testing.assert_allclose(got["rate"], expect["rate"], rtol=1e-12)
    assert scored["method"] == "scoring rate" and scored["median_score"] == pytest.approx(median)
    # record=False left the selection-rate audit in place
    assert warden.get_evidence(high.ref, "ll144")["method"] == "selection rate"


def test_policy_reads_min_impact_ratio(warden, fitted_pipeline, small_adult, tmp_path):
    train, test = small_adult
    X = test.drop(columns="income")
    mv = register(warden, fitted_pipeline, train, favorable_label=">50K")
    gate = tmp_path / "ll144.yaml"
    gate.write_text(
        "name: ll144-gate\nrules:\n  - id: impact\n"
        "    check: has(ll144.min_impact_ratio) && ll144.min_impact_ratio >= 0.8\n"
        "    message: every category within four fifths of the highest\n"
    )
    assert not warden.check(mv.ref, gate).passed  # no audit recorded yet
    warden.log_predictions("hiring", X, fitted_pipeline.predict(X))
    audit = bias_audit(warden, mv.ref)
    decision = warden.check(mv.ref, gate)
    assert audit["min_impact_ratio"] < 0.8 and not decision.passed
    assert warden.policy_context(mv.ref)["ll144"]["min_impact_ratio"] == audit["min_impact_ratio"]
    # policies gate on it: once roles are enforced, only validators and admins record one
    warden.create_user("alice", "admin")
    warden.create_user("dev", "developer")
    dev = mw.Warden(settings=warden.settings.model_copy(update={"actor": "dev"}))
    try:
        with pytest.raises(mw.PermissionDenied):
            bias_audit(dev, mv.ref)
        assert bias_audit(dev, mv.ref, record=False)["rows"] == audit["rows"]
    finally:
        dev.close()


def test_audit_in_bundle_verifies_and_is_tied_to_the_log(warden, fitted_pipeline, small_adult,
                                                         tmp_path):  # fmt: skip
    train, test = small_adult
    X = test.drop(columns="income")
    mv = register(warden, fitted_pipeline, train)
    warden.log_predictions("hiring", X, fitted_pipeline.predict(X))
    bias_audit(warden, mv.ref, now=AUDIT_DAY)
    path = warden.bundle(mv.ref, tmp_path / "b.zip")
    pub = public_key_path(key_path(warden.settings))
    result = mw.reports.verify_bundle(path, pub.read_bytes())
    assert result.ok, result.summary()
    with zipfile.ZipFile(path) as zf:
        names = set(zf.namelist())
        md = zf.read("documents/ll144-bias-audit.md").decode()
        csv_text = zf.read("documents/ll144-bias-audit.csv").decode()
        events = json.loads(zf.read("audit/events.json"))
    assert {"evidence/ll144.json", "documents/ll144-bias-audit.html"} <= names
    assert "## Intersectional categories" in md and "source: ll144 evidence sha256:" in md
    assert csv_text.splitlines()[0] == "table,category,n,selected,rate,impact_ratio,excluded"
    assert "evidence.record" in {e["action"] for e in events}

    # a forger with the signing key re-hashes the manifest: the log's digest still catches it
    forged = forge(path, tmp_path / "f.zip", key_path(warden.settings), "evidence/ll144.json")
    problems = {(p.file, p.problem) for p in mw.reports.verify_bundle(forged, pub).problems}
    assert ("evidence/ll144.json", Problem.EVIDENCE_MISMATCH) in problems


def forge(src: Path, dst: Path, key_file: Path, name: str) -> Path:
    """``src`` with ``name``'s ratio edited, the manifest re-hashed and re-signed with the
    real signing key (what an insider could do)."""
    import base64
    import hashlib

    from mlwarden.audit.signing import load_private_key

    with zipfile.ZipFile(src) as zf:
        files = {n: zf.read(n) for n in zf.namelist()}
    content = json.loads(files[name])
    content["min_impact_ratio"] = 0.95
    files[name] = json.dumps(content, sort_keys=True, separators=(",", ":")).encode()
    manifest = json.loads(files["manifest.json"])
    manifest["files"][name] = hashlib.sha256(files[name]).hexdigest()
    files["manifest.json"] = json.dumps(manifest, indent=2, sort_keys=True).encode() + b"\n"
    signature = load_private_key(key_file).sign(files["manifest.json"])
    files["manifest.sig"] = base64.b64encode(signature) + b"\n"
    with zipfile.ZipFile(dst, "w") as zf:
        for n, data in files.items():
            zf.writestr(n, data)
    return dst


def test_golden_summary(tmp_path, adult):
    """A fixed, seeded fixture rendered to Markdown equals the committed golden file
    (``MLWARDEN_REGENERATE_GOLDEN=1`` rewrites it)."""
    from sklearn.dummy import DummyClassifier

    _, test = adult
    sample = test.sample(3000, random_state=7).reset_index(drop=True)
    X = sample.drop(columns="income")
    model = DummyClassifier(strategy="most_frequent").fit(X, sample["income"])
    wd = mw.Warden(f"sqlite:///{tmp_path / 'w.db'}", artifacts=str(tmp_path / "a"), actor="alice")
    try:
        register(wd, model, sample, favorable_label=">50K")
        # the recorded outcomes: the census label stands in for the tool's decision
        wd.log_predictions("hiring", X, sample["income"].astype(str), timestamps=[DAY] * 3000)
        audit = bias_audit(
            wd, "hiring@1", since="2026-01-01", until="2026-02-01", now=AUDIT_DAY,
            data_source="3,000 applicants sampled (seed 7) from the Adult test file",
        )  # fmt: skip
    finally:
        wd.close()
    text = ll144_markdown(audit)
    if REGENERATE:  # the golden file, and the rendered example the docs link
        from mlwarden.reports.render import render, to_html

        GOLDEN.parent.mkdir(exist_ok=True)
        GOLDEN.write_text(text)
        examples = Path(__file__).parents[2] / "docs" / "examples"
        (examples / "ll144-bias-audit.md").write_text(text)
        (examples / "ll144-bias-audit.html").write_text(to_html(text))
        render(text, "pdf", examples / "ll144-bias-audit.pdf")
    assert text == GOLDEN.read_text()
    assert ll144_csv(audit).count("\n") == 1 + sum(
        len(t["rows"]) + 1 for t in audit["tables"].values()
    )


runner = CliRunner()


def test_cli_writes_summary_and_csv(warden, fitted_pipeline, small_adult, tmp_path):
    train, test = small_adult
    X = test.drop(columns="income")
    register(warden, fitted_pipeline, train)
    warden.log_predictions("hiring", X, fitted_pipeline.predict(X), timestamps=[DAY] * len(X))
    uri = ["--uri", warden.uri]
    out, csv_out, pdf = tmp_path / "ll144.html", tmp_path / "ll144.csv", tmp_path / "ll144.pdf"
    args = ["report", "ll144", "hiring", "--since", "2026-01-01", "--until", "2026-02-01"]
    result = runner.invoke(app, [*args, "-f", "html", "-o", str(out), "--csv", str(csv_out), *uri])
    assert result.exit_code == 0, result.output
    assert out.read_text().startswith("<!DOCTYPE html>") and "Impact ratio" in out.read_text()
    assert csv_out.read_text().startswith("table,category,n,")
    result = runner.invoke(app, [*args, "-f", "pdf", "-o", str(pdf), *uri])
    assert result.exit_code == 0, result.output
    assert pdf.read_bytes().startswith(b"%PDF")
    # the stored audit renders through the ordinary document command too
    result = runner.invoke(app, ["report", "ll144", "hiring@1", "--selection", *uri])
    assert result.exit_code == 0 and "# NYC Local Law 144 bias audit: hiring" in result.output

    result = runner.invoke(app, [*args, "--race", "ethnic_group", *uri])
    assert result.exit_code == 1 and "ethnic_group" in result.output
    assert "Traceback" not in result.output
    result = runner.invoke(app, ["report", "ll144", "hiring", "--since", "2030-01-01", *uri])
    assert result.exit_code == 1 and "no logged predictions" in result.output
