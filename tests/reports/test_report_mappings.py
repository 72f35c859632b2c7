"""EU AI Act Art. 12 mapping and the ISO/IEC 42001 Statement of Applicability: drawn from the
records, recorded for policies, bundled and verified, rendered (CLI, PDF) and golden."""

from __future__ import annotations

import os
import re
import zipfile
from pathlib import Path

from typer.testing import CliRunner

import mlwarden as mw
from mlwarden.cli.main import app
from mlwarden.reports import document, gather
from mlwarden.reports.mappings import ART12_DUTIES, SOA_CONTROLS
from mlwarden.store.sql.audit import key_path, public_key_path

GOLDEN = Path(__file__).parent / "golden"
EXAMPLES = Path(__file__).parents[2] / "docs" / "examples"
REGENERATE = os.environ.get("MLWARDEN_REGENERATE_GOLDEN") == "1"


def rows_of(markdown: str) -> dict[str, list[str]]:
    """Table rows keyed by their first cell."""
    out = {}
    for line in markdown.splitlines():
        if line.startswith("| ") and not line.startswith("| Control") and "---" not in line:
            cells = [c.strip() for c in line.strip("|").split(" | ")]
            out[cells[0]] = cells
    return out


def test_art12_maps_duties_to_recorded_events(governed, warden):
    text = warden.report("art12", governed.ref)
    rows = rows_of(text)
    assert rows["12(2)(b)"][2] == "no events yet"  # nothing predicted yet
    assert rows["12(1)"][2] == "recorded"  # registration is logged from the start
    assert rows["12(2)(a)"][2] == "recorded" and "`version.register` × 1" in rows["12(2)(a)"][3]
    assert rows["12(3)(b)"][2] == "gap" and "not recorded by Warden" in rows["12(3)(b)"][3]
    train, _ = mw.datasets.load_adult()
    sample = train.drop(columns="income").head(2)
    warden.log_predictions(governed.name, sample, ["<=50K", ">50K"], version=governed.version)
    warden.set_retention(governed.name, 30)  # shorter than the six months Art. 19 asks
    text = warden.report("art12", governed.ref)
    rows = rows_of(text)
    assert rows["12(2)(b)"][2] == "recorded" and "`predictions.log` × 1" in rows["12(2)(b)"][3]
    assert rows["19(1), 26(6)"][2] == "gap" and "30 days" in rows["19(1), 26(6)"][3]
    recorded = warden.policy_context(governed.ref)["art12"]
    assert recorded["gaps"] == 1 and list(recorded["gap_duties"]) == ["19(1)"]
    assert len([r for r in rows if r.startswith(("12(", "19("))]) == len(ART12_DUTIES) + 1


def test_soa_links_each_control_or_marks_a_gap(governed, warden):
    rows = rows_of(warden.report("soa", governed.ref))
    controls = {c for c, *_ in SOA_CONTROLS}
    assert len(controls) == 38 and controls <= set(rows)
    assert rows["A.6.2.4"][2] == "evidence" and "registry record" in rows["A.6.2.4"][4]
    assert rows["A.5.3"][2] == "evidence" and "fairness evidence sha256:" in rows["A.5.3"][4]
    assert rows["A.2.2"][2] == "gap" and "ai_policy" in rows["A.2.2"][3]
    before = warden.policy_context(governed.ref)["iso42001"]["gaps"]
    warden.update_model(governed.name, tags={"ai_policy": "https://intra/ai-policy v3"})
    rows = rows_of(warden.report("soa", governed.ref))
    assert rows["A.2.2"][2] == "evidence" and rows["A.2.2"][3] == "https://intra/ai-policy v3"
    after = warden.policy_context(governed.ref)["iso42001"]
    assert after["gaps"] == before - 1 and after["controls"]["A.2.2"] == "evidence"


def test_mappings_in_bundle_and_cli(governed, warden, tmp_path):
    warden.report("soa", governed.ref)  # records iso42001 evidence too
    path = warden.bundle(governed.ref, tmp_path / "b.zip")
    result = mw.reports.verify_bundle(path, public_key_path(key_path(warden.settings)))
    assert result.ok, result.summary()
    with zipfile.ZipFile(path) as zf:
        names = set(zf.namelist())
    assert {
        "documents/art12-record-keeping.md",
        "documents/art12-record-keeping.html",
        "documents/iso42001-soa.md",
        "documents/iso42001-soa.html",
        "evidence/iso42001.json",
    } <= names
    runner = CliRunner(env={"MLWARDEN_ARTIFACTS": str(warden.settings.resolved_artifacts())})
    pdf = tmp_path / "soa.pdf"
    res = runner.invoke(app, ["report", "soa", governed.ref, "-f", "pdf", "-o", str(pdf),
                              "--uri", warden.uri])  # fmt: skip
    assert res.exit_code == 0, res.output
    assert pdf.read_bytes().startswith(b"%PDF")
    res = runner.invoke(app, ["report", "art12", governed.ref, "--uri", warden.uri])
    assert res.exit_code == 0 and "# EU AI Act Art. 12 record-keeping" in res.output


MONITORING_POLICY = """kind: monitoring
name: drift-watch
description: Page the model owners when features drift.
alias: production
rules:
  - id: feature-drift
    when: drift.share_drifted > 0.3
    severity: critical
    actions: [alert]
"""


def normalised(text: str) -> str:
    text = re.sub(r"sha256:[0-9a-f]{12}…", "sha256:<hash>", text)
    return re.sub(r"\d{4}-\d\d-\d\d[T ]\d\d:\d\d:\d\d(\.\d+)?(\+00:00)?", "<time>", text)


def test_golden_mappings(tmp_path, monkeypatch, fitted_pipeline, small_adult):
    monkeypatch.chdir(tmp_path)  # registered outside any git checkout: the same lineage anywhere
    train, test = small_adult
    wd = mw.Warden(f"sqlite:///{tmp_path / 'w.db'}", artifacts=str(tmp_path / "a"), actor="alice")
    try:
        mv = wd.register_model(
            "credit-risk",
            fitted_pipeline,
            train=mw.Dataset(train.drop(columns="income"), train["income"], name="adult-train"),
            eval=mw.Dataset(test.drop(columns="income"), test["income"], name="adult-test"),
            sensitive_features=["sex"],
            owner="risk-team",
            risk_tier="high",
            intended_use="Pre-screening of credit applications.",
        )
        bob = mw.Warden(settings=wd.settings.model_copy(update={"actor": "bob"}))
        try:
            bob.approve(mv.ref, comment="validated on holdout")
        finally:
            bob.close()
        wd.check(mv.ref, "production-gate")
        wd.set_alias(mv.name, "staging", mv.version, reason="candidate")
        # the Art. 72 plan is drawn from the installed monitoring policy
        wd.set_alias("credit-risk", "production", 1, override=True, reason="golden setup")
        policy = tmp_path / "watch.yaml"
        policy.write_text(MONITORING_POLICY)
        wd.install_monitoring_policy(policy)
        ctx = gather(wd, mv.ref)
        texts = {kind: document(wd, kind, ctx) for kind in ("art12", "soa", "monitoring-plan")}
    finally:
        wd.close()
    assert "### drift-watch" in texts["monitoring-plan"]
    for kind, stem in (
        ("art12", "art12-record-keeping"),
        ("soa", "iso42001-soa"),
        ("monitoring-plan", "monitoring-plan"),
    ):
        text = normalised(texts[kind])
        if REGENERATE:
            from mlwarden.reports.render import render, to_html

            (GOLDEN / f"{kind}.md").write_text(text)
            (EXAMPLES / f"{stem}.md").write_text(texts[kind])
            (EXAMPLES / f"{stem}.html").write_text(to_html(texts[kind]))
            render(texts[kind], "pdf", EXAMPLES / f"{stem}.pdf")
        assert text == (GOLDEN / f"{kind}.md").read_text(), kind
