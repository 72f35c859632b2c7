"""The human-oversight record (issue 20 item 4, Art. 14): drawn from the review queue and the
audit log, recorded for policies, bundled and verified, rendered (CLI, PDF) and golden."""

from __future__ import annotations

import zipfile

from test_report_mappings import EXAMPLES, GOLDEN, REGENERATE, normalised, rows_of
from typer.testing import CliRunner

import mlwarden as mw
from mlwarden.cli.main import app
from mlwarden.reports import document, gather
from mlwarden.store.sql.audit import key_path, public_key_path


def _reviewed(wd: mw.Warden, model, X) -> list[str]:
    """Flag ``>50K`` decisions as they are logged; a validator overrides the first, confirms
    the second; the rest stay pending."""
    wd.create_user("alice", "admin")
    wd.create_user("val", "validator")
    wd.oversight.set_rule("credit-risk", "output == '>50K'", actor="alice")
    ids = [f"p-{i:03d}" for i in range(len(X))]
    wd.log_predictions("credit-risk", X, model.predict(X), ids=ids)
    queue = [i["prediction_id"] for i in wd.oversight.queue("credit-risk", actor="alice")]
    wd.oversight.decide("credit-risk", queue[0], actor="val", override="<=50K",
                        comment="income not verified")  # fmt: skip
    wd.oversight.decide("credit-risk", queue[1], actor="val")
    return queue


def test_oversight_record_is_recorded_bundled_and_rendered(
    warden, registered, fitted_pipeline, small_adult, tmp_path
):
    _, test = small_adult
    queue = _reviewed(warden, fitted_pipeline, test.drop(columns="income").iloc[:60])
    text = warden.report("oversight", registered.ref)
    rows = rows_of(text)
    assert rows["Flagged decisions of this version"][1] == str(len(queue))
    assert rows["Pending review"][1] == str(len(queue) - 2)
    assert rows["Override rate (overridden / decided)"][1] == "0.5000"
    assert rows["Flagging runs"][1] == "1 as predictions were logged, 0 on demand"
    assert rows[queue[0]][2:5] == ["overridden", "<=50K", "val"]
    recorded = warden.policy_context(registered.ref)["oversight"]
    assert recorded["override_rate"] == 0.5 and recorded["pending"] == len(queue) - 2
    path = warden.bundle(registered.ref, tmp_path / "b.zip")
    result = mw.reports.verify_bundle(path, public_key_path(key_path(warden.settings)))
    assert result.ok, result.summary()
    with zipfile.ZipFile(path) as zf:
        names = set(zf.namelist())
        assert normalised(zf.read("documents/human-oversight.md").decode()) == normalised(text)
    assert {"documents/human-oversight.html", "evidence/oversight.json"} <= names
    runner = CliRunner(env={"MLWARDEN_ARTIFACTS": str(warden.settings.resolved_artifacts()),
                            "MLWARDEN_ACTOR": "alice"})  # fmt: skip
    pdf = tmp_path / "oversight.pdf"
    res = runner.invoke(app, ["report", "oversight", registered.ref, "-f", "pdf", "-o", str(pdf),
                              "--uri", warden.uri])  # fmt: skip
    assert res.exit_code == 0, res.output
    assert pdf.read_bytes().startswith(b"%PDF")


def test_golden_oversight_record(tmp_path, monkeypatch, fitted_pipeline, small_adult):
    monkeypatch.chdir(tmp_path)  # registered outside any git checkout: the same lineage anywhere
    train, test = small_adult
    wd = mw.Warden(f"sqlite:///{tmp_path / 'w.db'}", artifacts=str(tmp_path / "a"), actor="alice")
    try:
        mv = wd.register_model(
            "credit-risk",
            fitted_pipeline,
            train=mw.Dataset(train.drop(columns="income"), train["income"], name="adult-train"),
            sensitive_features=["sex"],
            risk_tier="high",
        )
        before = document(wd, "oversight", gather(wd, mv.ref))
        assert "No oversight record yet" in before
        _reviewed(wd, fitted_pipeline, test.drop(columns="income").iloc[:40])
        text = wd.report("oversight", mv.ref)
    finally:
        wd.close()
    if REGENERATE:  # the golden file, and the rendered example the docs link
        from mlwarden.reports.render import render, to_html

        (GOLDEN / "oversight.md").write_text(normalised(text))
        (EXAMPLES / "human-oversight.md").write_text(text)
        (EXAMPLES / "human-oversight.html").write_text(to_html(text))
        render(text, "pdf", EXAMPLES / "human-oversight.pdf")
    assert normalised(text) == (GOLDEN / "oversight.md").read_text()
