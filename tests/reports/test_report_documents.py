"""Documents from evidence: card, Annex IV with sources and gaps, instructions, monitoring
plan, diff; HTML is self-contained; PDF through Chromium when installed."""

from __future__ import annotations

import re
import shutil

import pytest
import yaml

import mlwarden as mw
from mlwarden.reports.gaps import find_gaps
from mlwarden.reports.render import split_front_matter


def test_model_card_sections_and_front_matter(bundle_store):
    wd, mv, _ = bundle_store
    card = wd.report("card", mv.ref)
    meta_text, body = split_front_matter(card)
    meta = yaml.safe_load(meta_text)
    assert meta["license"] == "other" and "mlwarden" in meta["tags"]
    [result] = meta["model-index"][0]["results"]
    metrics = {m["type"]: m["value"] for m in result["metrics"]}
    assert metrics["accuracy"] == pytest.approx(mv.metrics["accuracy"], abs=1e-6)
    assert meta["mlwarden"]["evidence"] == dict(mv.evidence)
    for section in (
        "## Model details",
        "## Model parameters",
        "## Quantitative analysis",
        "## Considerations",
        "### Intended users",
        "### Use cases",
        "### Limitations",
        "### Trade-offs",
        "### Ethical considerations",
    ):
        assert section in body, section
    assert f"fairness evidence sha256:{mv.evidence['fairness'][:12]}" in body
    assert "Pre-screening of credit applications." in body
    assert "set model tag `intended_users`" in body  # human input, said plainly


def test_annex_iv_has_nine_sourced_sections_and_gaps(bundle_store):
    wd, mv, _ = bundle_store
    doc = wd.report("annex-iv", mv.ref)
    headings = re.findall(r"^## (\d)\. ", doc, flags=re.M)
    assert headings == [str(i) for i in range(1, 10)]
    # Every field row of a Field | Value | Source table names its source.
    rows = [ln for ln in doc.splitlines() if ln.startswith("| (") or ln.startswith("| Risk tier")]
    assert rows and all("source: " in ln for ln in rows)
    for kind, digest in mv.evidence.items():
        assert f"{kind} evidence sha256:{digest[:12]}" in doc
    assert "## Gap report" in doc
    gaps = {g.item: g for g in find_gaps(mw.reports.gather(wd, mv.ref))}
    # fairness exists; the standards and the declaration need people
    assert "fairness evidence" not in gaps and "policy decisions" not in gaps
    assert {"harmonised standards", "eu declaration"} <= set(gaps)
    assert ("privacy evidence" in gaps) == ("privacy" not in mv.evidence)
    # one approval of the two a high-risk version needs
    assert gaps["approvals"].detail.startswith("1 of 2 approvals")


def test_gap_report_on_a_bare_version(warden):
    from sklearn.dummy import DummyClassifier

    model = DummyClassifier().fit([[0], [1]], [0, 1])
    mv = warden.register_model("bare", model)
    gaps = {g.item: g for g in find_gaps(mw.reports.gather(warden, mv.ref))}
    for item in (
        "intended use",
        "fairness evidence",
        "approvals",
        "policy decisions",
        "monitoring policy",
        "performance metrics",
        "harmonised standards",
        "eu declaration",
    ):
        assert item in gaps, item
    assert gaps["harmonised standards"].section == "7"
    assert gaps["eu declaration"].section == "8"
    text = warden.report("gaps", mv.ref)
    assert "fairness evidence was skipped" in text and "bare@1 has no approvals" in text
    # the other documents still render without evidence
    for kind in ("card", "annex-iv", "instructions", "monitoring-plan"):
        assert mv.ref in warden.report(kind, mv.ref)


def test_instructions_and_monitoring_plan(bundle_store):
    wd, mv, _ = bundle_store
    doc = wd.report("instructions", mv.ref)
    for part in (
        "## (a) Provider",
        "### (i) Intended purpose",
        "### (v) Performance for specific",
        "## (d) Human oversight",
        "## (f) Logging",
    ):
        assert part in doc, part
    plan = wd.report("monitoring-plan", mv.ref)
    assert "No monitoring policy applies" in plan or "## Monitoring policies" in plan
    assert "reference profile" in plan and "jensen_shannon" in plan


def test_human_tags_fill_sections(warden):
    from sklearn.dummy import DummyClassifier

    model = DummyClassifier().fit([[0], [1]], [0, 1])
    tags = {
        "harmonised_standards": "ISO/IEC 42001",
        "eu_declaration": "DoC-2026-17",
        "license": "mit",
    }
    mv = warden.register_model("tagged", model, tags=tags, intended_use="Demo")
    doc = warden.report("annex-iv", mv.ref)
    assert "ISO/IEC 42001" in doc and "DoC-2026-17" in doc
    items = {g.item for g in find_gaps(mw.reports.gather(warden, mv.ref))}
    assert "harmonised standards" not in items and "intended use" not in items
    assert yaml.safe_load(split_front_matter(warden.report("card", mv.ref))[0])["license"] == "mit"


def test_diff_between_versions(warden, fitted_pipeline, small_adult):
    from sklearn.base import clone
    from sklearn.linear_model import LogisticRegression

    train, test = small_adult
    X, y = train.drop(columns="income"), train["income"]
    ev = mw.Dataset(test.drop(columns="income"), test["income"], name="adult-test")
    kw = dict(eval=ev, sensitive_features=["sex"])
    a = warden.register_model("c", fitted_pipeline, train=mw.Dataset(X, y, name="t1"), **kw)
    other = mw.Dataset(X.iloc[:1500], y.iloc[:1500], name="t2")
    pipe = clone(fitted_pipeline).set_params(
        logisticregression=LogisticRegression(C=0.01, max_iter=300)
    )
    b = warden.register_model("c", pipe.fit(X.iloc[:1500], y.iloc[:1500]), train=other, **kw)
    doc = warden.report("diff", a.ref, b.ref)
    for section in (
        "## Metrics",
        "## Signature",
        "## Lineage and data",
        "## Fairness summary",
        "## Feature importance",
    ):
        assert section in doc
    assert "train data: t1" in doc and "t2" in doc
    assert "logisticregression__C: 1.0 → 0.01" in doc
    assert "| accuracy |" in doc and "demographic_parity_difference" in doc
    assert re.search(r"\| sex \| four_fifths_rule \| (yes|no) \| (yes|no) \| — \|", doc)
    annex = warden.report("annex-iv", b.ref)
    assert "### Changes from c@1" in annex


def test_html_is_self_contained_and_escapes_user_text(warden):
    from sklearn.dummy import DummyClassifier

    model = DummyClassifier().fit([[0], [1]], [0, 1])
    mv = warden.register_model("h", model, intended_use="<script>alert(1)</script>")
    page = warden.report("card", mv.ref, format="html")
    assert page.startswith("<!DOCTYPE html>")
    assert "<script>" not in page and "&lt;script&gt;" in page
    assert not re.search(r"<(link|script)\b|src=|https?://", page.split("<footer")[0])
    assert "<table>" in page and "Hugging Face model-card front matter" in page


def test_unknown_kind_and_pdf_without_out(warden):
    from sklearn.dummy import DummyClassifier

    mv = warden.register_model("k", DummyClassifier().fit([[0], [1]], [0, 1]))
    with pytest.raises(mw.ValidationError, match="report kind"):
        warden.report("summary", mv.ref)
    with pytest.raises(mw.ValidationError, match="--out"):
        warden.report("card", mv.ref, format="pdf")
    with pytest.raises(mw.ValidationError, match="two versions"):
        mw.reports.document(warden, "diff", mw.reports.gather(warden, mv.ref))


@pytest.mark.skipif(shutil.which("chromium") is None, reason="Chromium is not installed")
def test_pdf_through_chromium(bundle_store, tmp_path):
    wd, mv, _ = bundle_store
    out = wd.report("annex-iv", mv.ref, format="pdf", out=tmp_path / "annex.pdf")
    assert out.read_bytes()[:5] == b"%PDF-" and out.stat().st_size > 10_000
