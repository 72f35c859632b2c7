"""Issue 15 item 6: names outside English lists, lowercase names, national phone formats and
phone-shaped test data, measured on the hand-written multilingual corpus."""

from __future__ import annotations

from collections import Counter

import pandas as pd
import pii_corpus_multilingual as ml
import pytest

from mlwarden.errors import ValidationError
from mlwarden.privacy import PIIScanner, names, scan
from mlwarden.privacy.recognizers import default_recognizers, phone_regions


def best(df: pd.DataFrame) -> str | None:
    findings = scan(df).findings
    return findings[0].entity if findings else None


def test_name_column_with_international_names_is_flagged():
    assert best(pd.DataFrame({"name": ml.INTERNATIONAL_NAMES})) == "PERSON"
    # the values alone suffice, in any case
    assert best(pd.DataFrame({"customer": [n.lower() for n in ml.INTERNATIONAL_NAMES]})) == (
        "PERSON"
    )
    assert best(pd.DataFrame({"holder": [n.upper() for n in ml.INTERNATIONAL_NAMES]})) == "PERSON"


def test_lowercase_first_and_last_names_are_flagged():
    df = pd.DataFrame({"first_name": ml.FIRST_NAMES, "last_name": ml.LAST_NAMES})
    report = scan(df)
    assert {f.column: f.entity for f in report.findings} == {
        "first_name": "PERSON",
        "last_name": "PERSON",
    }
    assert all(f.fraction >= 0.95 for f in report.findings)


@pytest.mark.parametrize("column", sorted(ml.NEGATIVE_COLUMNS))
def test_ordinary_word_columns_are_not_names(column):
    assert best(pd.DataFrame({column: ml.NEGATIVE_COLUMNS[column]})) is None


def test_free_text_person_recall_and_precision():
    records = ml.text_records()
    spans = PIIScanner().find_spans([r["text"] for r in records])
    tp = fp = fn = 0
    for i, rec in enumerate(records):
        preds = [
            (r.start, r.end) for r in spans.itertuples() if r.row == i and r.entity == "PERSON"
        ]
        gold = [(a, b) for a, b, e in rec["spans"] if e == "PERSON"]
        tp_i = sum(any(a < gb and ga < b for ga, gb in gold) for a, b in preds)
        tp, fp = tp + tp_i, fp + len(preds) - tp_i
        fn += sum(not any(a < gb and ga < b for a, b in preds) for ga, gb in gold)
    recall, precision = tp / (tp + fn), tp / max(tp + fp, 1)
    print(f"PERSON free text: precision {precision:.3f}, recall {recall:.3f} ({tp} of {tp + fn})")
    assert recall >= 0.8 and precision >= 0.95


def test_common_words_that_are_names_do_not_flood():
    texts = [
        "Will you send the May report?",
        "The grace period ends in June.",
        "Bill the customer and mark the account.",
        "Hope this helps; Grace and mercy were the theme.",
        "Rose Garden Hotel booked for April.",
    ]
    assert PIIScanner().find_spans(texts).empty


def test_titles_and_surname_first_names_in_text():
    texts = ["Frau Schröder ist erreichbar.", "Interview with Zhang Xiaoming on Friday."]
    spans = PIIScanner().find_spans(texts)
    found = {texts[r.row][r.start : r.end] for r in spans.itertuples() if r.entity == "PERSON"}
    assert found == {"Schröder", "Zhang Xiaoming"}


def test_national_phone_formats_under_the_default_region():
    assert best(pd.DataFrame({"phone": ["030 12345678"]})) == "PHONE"
    report = scan(pd.DataFrame({"phone": ml.NATIONAL_PHONES_DE}))
    assert report.findings[0].entity == "PHONE" and report.findings[0].fraction == 1.0
    spans = PIIScanner().find_spans(["Herr Krüger ist unter 030 12345678 erreichbar."])
    assert "PHONE" in set(spans["entity"])


def test_phone_regions_from_the_setting(monkeypatch):
    monkeypatch.setenv("MLWARDEN_PII_PHONE_REGIONS", "US")
    assert phone_regions() == ("US",)
    assert best(pd.DataFrame({"phone": ["030 12345678"] * 10})) != "PHONE"
    monkeypatch.setenv("MLWARDEN_PII_PHONE_REGIONS", "us, de")
    assert phone_regions() == ("US", "DE")
    assert best(pd.DataFrame({"phone": ["030 12345678"] * 10})) == "PHONE"
    with pytest.raises(ValidationError, match="XX"):
        default_recognizers(regions="US,XX")


def test_phone_shaped_columns_are_flagged_at_lower_confidence():
    report = scan(pd.DataFrame({"contact": ml.PHONE_SHAPED}))
    (finding,) = report.findings
    assert finding.entity == "PHONE_SHAPED" and 0.5 <= finding.confidence < 0.85
    named = scan(pd.DataFrame({"phone_number": ml.PHONE_SHAPED})).findings[0]
    assert named.entity == "PHONE_SHAPED" and named.confidence > finding.confidence
    # dates, SSN shapes, amounts and versions are not phone-shaped
    for values in (
        ["2024-01-15", "2023-12-31"] * 5,
        ["666-12-3456", "900-11-2222"] * 5,
        ["83170.62", "49076.82"] * 5,
        ["1.2.3", "10.4.17"] * 5,
    ):
        assert best(pd.DataFrame({"x": values})) is None, values


def test_name_lists_cover_many_countries():
    # their load time is a figure of bench/pii.py (name_lists_load_s), not a unit-test assertion
    names.name_lists.cache_clear()
    lists = names.name_lists()
    assert lists is not None and lists.source == "names-dataset"
    assert len(lists.first) > 50_000 and len(lists.last) > 50_000
    kinds = Counter(lists.kind(t) for t in ["oluwaseun", "łukasz", "yılmaz", "xiaoming", "ngozi"])
    assert kinds == {2: 5}
    assert {lists.kind(t) for t in ["will", "may", "grace", "bill", "paris"]} == {1}


def test_faker_fallback_when_the_data_file_is_absent(monkeypatch):
    pytest.importorskip("faker")
    names.name_lists.cache_clear()
    monkeypatch.setattr(names, "DATA_FILE", "missing.txt.gz")
    try:
        lists = names.name_lists()
        assert lists is not None and lists.source == "faker"
        assert names.is_name_value("maria garcia", lists)
    finally:
        names.name_lists.cache_clear()
