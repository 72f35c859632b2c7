"""The scanner: per-entity precision/recall on the seeded Faker corpus, validators, the report."""

from __future__ import annotations

import json
from collections import Counter

import numpy as np
import pandas as pd
import pytest
from pii_corpus import ENTITIES, VALIDATED, column_frame, text_records

import mlwarden.privacy as privacy
from mlwarden.errors import MissingDependency, ValidationError
from mlwarden.privacy import PIIScanner, scan, validators

pytest.importorskip("faker")


def span_scores(records, spans: pd.DataFrame) -> dict[str, tuple[float, float]]:
    """Per-entity (precision, recall); a prediction counts when it overlaps a gold span of the
    same entity type."""
    tp, fp, fn = Counter(), Counter(), Counter()
    predicted: dict[int, list[tuple[int, int, str]]] = {}
    for r in spans.itertuples():
        predicted.setdefault(int(r.row), []).append((r.start, r.end, r.entity))
    for i, rec in enumerate(records):
        preds = [p for p in predicted.get(i, []) if p[2] in ENTITIES]
        gold = rec["spans"]
        for a, b, e in preds:
            hit = any(g[2] == e and g[0] < b and a < g[1] for g in gold)
            (tp if hit else fp)[e] += 1
        for ga, gb, ge in gold:
            if not any(e == ge and ga < b and a < gb for a, b, e in preds):
                fn[ge] += 1
    return {e: (tp[e] / max(tp[e] + fp[e], 1), tp[e] / max(tp[e] + fn[e], 1)) for e in ENTITIES}


@pytest.fixture(scope="module")
def records():
    return text_records(1500, seed=7)


def test_span_precision_recall_per_entity(records):
    spans = PIIScanner().find_spans([r["text"] for r in records])
    scores = span_scores(records, spans)
    print({e: tuple(round(x, 3) for x in pr) for e, pr in scores.items()})
    for entity in VALIDATED:
        precision, recall = scores[entity]
        assert precision >= 0.95 and recall >= 0.95, (entity, precision, recall)
    # Names have no checksum; the corpus draws them from the same Faker lists the detector
    # reads, so this only checks the plumbing, not real-world recall.
    assert min(scores["PERSON"]) >= 0.9


def test_span_offsets_point_at_the_entities(records):
    texts = [r["text"] for r in records[:200]]
    spans = PIIScanner().find_spans(texts)
    gold = {(i, a, b, e) for i, r in enumerate(records[:200]) for a, b, e in r["spans"]}
    exact = sum((r.row, r.start, r.end, r.entity) in gold for r in spans.itertuples())
    assert exact / len(gold) >= 0.95
    assert set(spans.columns) == {"row", "start", "end", "entity", "score"}
    assert spans["score"].between(0.5, 1.0).all()


def test_column_classification_precision_recall():
    df, truth = column_frame(200, seed=3)
    report = scan(df)
    for entity in ENTITIES:
        predicted = {c for c in df.columns if report.entity_of(c) == entity}
        actual = {c for c, e in truth.items() if e == entity}
        tp = len(predicted & actual)
        print(entity, "columns P/R", tp / max(len(predicted), 1), tp / len(actual))
        assert tp / len(predicted) >= 0.95 and tp / len(actual) >= 0.95, (entity, predicted)
    negatives = [c for c, e in truth.items() if e is None]
    assert not set(report.pii_features) & set(negatives)


def test_lookalikes_fail_their_validators():
    assert not validators.luhn(pd.Series(["4111111111111112"]))[0]
    assert validators.luhn(pd.Series(["4111111111111111", "4111 1111 1111 1111"])).all()
    assert validators.iban(pd.Series(["GB82WEST12345698765432"]))[0]
    assert not validators.iban(pd.Series(["GB83WEST12345698765432"]))[0]
    ssns = ["123-45-6789", "000-12-3456", "666-12-3456", "912-12-3456", "123-00-4567"]
    assert validators.us_ssn(pd.Series([*ssns, "123-45-0000"])).tolist() == [True] + [False] * 5
    ips = pd.Series(["10.0.0.1", "::1", "300.1.1.1", "10:30:00"])
    assert validators.ip_address(ips).tolist() == [True, True, False, False]
    emails = pd.Series(["a.b@example.com", "a..b@example.com", "x@y"])
    assert validators.email(emails).tolist() == [True, False, False]
    ninos = pd.Series(["AB123456C", "QQ123456C", "GB123456A"])
    assert validators.uk_nino(ninos).tolist() == [True, False, False]


def test_national_identifiers_via_stdnum():
    from stdnum.fr import nir

    body = "2951099126111"
    df = pd.DataFrame(
        {
            "steuer_id": ["36574261809"] * 20,
            "dni": ["12345678Z"] * 20,
            "bsn": ["111222333"] * 20,
            "nir": [body + nir.calc_check_digits(body)] * 20,
            "nino": ["AB123456C"] * 20,
        }
    )
    report = scan(df)
    expected = ["DE_TAX_ID", "ES_DNI", "NL_BSN", "FR_NIR", "UK_NINO"]
    assert [report.entity_of(c) for c in df.columns] == expected


def test_name_only_evidence_and_contradicting_values():
    df = pd.DataFrame({"email": [None] * 50, "phone": ["n/a"] * 50, "x": range(5, 55)})
    report = scan(df)
    by = {f.column: f for f in report.findings}
    assert by["email"].evidence == "name" and by["email"].n_sampled == 0
    assert "phone" not in by  # 50 values, none a phone: the name alone is halved below 0.5


def test_free_text_column_findings_and_spans():
    df = pd.DataFrame(
        {
            "notes": [
                "Please write to jane.doe@example.com about the refund today.",
                "Nothing personal in this note at all, just words.",
                "Card 4111 1111 1111 1111 was declined again last night.",
            ]
            * 10
        }
    )
    report = scan(df)
    assert report.pii_features == ["notes"] and report.free_text_features == ["notes"]
    entities = {f.entity for f in report.findings}
    assert entities == {"EMAIL", "CREDIT_CARD"}
    span = report.spans.iloc[0]
    assert df.loc[span["row"], "notes"][span["start"] : span["end"]] in {
        "jane.doe@example.com",
        "4111 1111 1111 1111",
    }


def test_report_serialises_without_values():
    df, _ = column_frame(50, seed=4)
    report = scan(df, sample_size=30)
    data = report.to_dict()
    text = json.dumps(data)
    assert data["pii_features"] == report.pii_features and data["has_pii"]
    assert all(f.n_sampled <= 30 for f in report.findings)
    for column in ("email", "iban", "ssn"):
        assert not any(str(v) in text for v in df[column].head(30))
    frame = report.to_frame()
    assert {"column", "entity", "confidence", "fraction", "evidence"} <= set(frame.columns)
    assert "<table>" in report._repr_html_()
    assert scan(df, sample_size=30).to_dict() == data  # seeded sampling


def test_large_column_is_sampled():
    n = 200_000
    rng = np.random.default_rng(0)
    df = pd.DataFrame({"ip": [f"10.{a}.{b}.1" for a, b in rng.integers(0, 255, (n, 2))]})
    report = scan(df, sample_size=500)
    (finding,) = report.findings
    assert finding.entity == "IP_ADDRESS" and finding.n_sampled == 500


def test_backends():
    df = pd.DataFrame({"a": [1]})
    with pytest.raises(ValidationError, match="backend"):
        scan(df, backend="nope")
    try:
        import presidio_analyzer  # noqa: F401
    except ImportError:
        with pytest.raises(MissingDependency, match=r"mlwarden\[presidio\]"):
            scan(df, backend="presidio")


def test_public_names():
    for name in privacy.__all__:
        assert hasattr(privacy, name)


def test_ordinary_columns_are_not_flagged():
    from faker import Faker

    fake = Faker("en_US")
    fake.seed_instance(3)
    n = 200
    make = {
        "city": fake.city,
        "company": fake.company,
        "job": fake.job,
        "state": fake.state,
        "country": fake.country,
        "product": fake.catch_phrase,
        "user_agent": fake.user_agent,
        "url": fake.url,
        "sku": lambda: fake.bothify("??-####"),
        "created": lambda: fake.date_this_decade().isoformat(),
        "text": fake.paragraph,
    }
    df = pd.DataFrame({c: [f() for _ in range(n)] for c, f in make.items()})
    assert scan(df).findings == []


def test_addresses_are_found_by_name_and_shape():
    from faker import Faker

    fake = Faker("en_US")
    fake.seed_instance(5)
    df = pd.DataFrame(
        {
            "home_address": [fake.address().replace("\n", ", ") for _ in range(50)],
            "ip_address": [fake.ipv4() for _ in range(50)],
        }
    )
    report = scan(df)
    assert report.entity_of("home_address") == "ADDRESS"
    assert report.entity_of("ip_address") == "IP_ADDRESS"


def test_phone_fast_path_agrees_with_phonenumbers():
    import phonenumbers
    from faker import Faker

    fake = Faker("en_US")
    fake.seed_instance(9)
    numbers = [fake.phone_number() for _ in range(1500)]
    numbers += ["1-319-748-9241", "+1 (319) 748-9241", "319 748 9241", "+44 20 7946 0018"]
    # Random area codes cover Canada, the Caribbean plans and unassigned codes.
    rng = np.random.default_rng(9)
    for a, b, c in rng.integers([200, 200, 0], [1000, 1000, 10000], size=(1500, 3)):
        numbers.append(f"+1 ({a}) {b}-{c:04d}" if c % 2 else f"{a}.{b}.{c:04d}")
    for number in numbers:
        try:
            expected = phonenumbers.is_valid_number(phonenumbers.parse(number, "US"))
        except phonenumbers.NumberParseException:
            expected = False
        assert validators.is_phone.__wrapped__(number, "US") == expected, number


def test_formats_outside_the_corpus():
    texts = [
        "reach me on 319 748 9241 or +1 (319) 748-9241 or 319.748.9241 ext. 12",
        "UK office +44 20 7946 0018, Paris +33 1 42 68 53 00",
        "Amex 3782 822463 10005 and 5500-0000-0000-0004; order 1234-5678-9012-3456",
        "IP 192.168.0.1, 2001:db8::1, fe80::1%eth0, not 999.1.1.1, version 1.2.3 at 10:30:00",
        "Mail: first.last+tag@sub.example.co.uk; Alice Johnson met Robert Brown",
        "SSN 078-05-1120 vs 219 09 9999; Gecko/6304-02-11 01:30:37 and Mozilla/5.0",
    ]
    spans = PIIScanner().find_spans(texts)
    found = [(r.row, r.entity, texts[r.row][r.start : r.end]) for r in spans.itertuples()]
    assert found == [
        (0, "PHONE", "319 748 9241"),
        (0, "PHONE", "+1 (319) 748-9241"),
        (0, "PHONE", "319.748.9241 ext. 12"),
        (1, "PHONE", "+44 20 7946 0018"),
        (1, "PHONE", "+33 1 42 68 53 00"),
        (2, "CREDIT_CARD", "3782 822463 10005"),
        (2, "CREDIT_CARD", "5500-0000-0000-0004"),
        (3, "IP_ADDRESS", "192.168.0.1"),
        (3, "IP_ADDRESS", "2001:db8::1"),
        (3, "IP_ADDRESS", "fe80::1%eth0"),
        (4, "EMAIL", "first.last+tag@sub.example.co.uk"),
        (4, "PERSON", "Alice Johnson"),
        (4, "PERSON", "Robert Brown"),
        (5, "US_SSN", "078-05-1120"),
        (5, "US_SSN", "219 09 9999"),
    ]


def test_presidio_backend_when_installed():
    pytest.importorskip("presidio_analyzer")
    df = pd.DataFrame(
        {
            "email": ["jane.doe@example.com", "bob@example.org"] * 10,
            "notes": ["Please call John Smith about card 4111 1111 1111 1111 today."] * 20,
        }
    )
    report = scan(df, backend="presidio", sample_size=20)
    assert report.backend.startswith("presidio")
    assert report.entity_of("email") == "EMAIL" and "notes" in report.free_text_features
