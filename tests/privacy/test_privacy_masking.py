"""Masking: every action, keyed pseudonyms, frame/record agreement, YAML validation, keys."""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import stat

import numpy as np
import pandas as pd
import pytest

from mlwarden.errors import NotFound, ValidationError
from mlwarden.privacy import KeyRing, MaskingPolicy, scan

KEY = b"k" * 32
POLICY = """
version: 1
default: keep
columns:
  email: pseudonymize
  ssn: drop
  name: redact
  age: {action: generalize, kind: age, width: 10, top: 90}
  zip: {action: generalize, kind: postcode, keep: 3}
  dob: {action: generalize, kind: date}
  notes: {action: redact, spans: true}
entities:
  PERSON: pseudonymize
column_entities:
  name: PERSON
"""


@pytest.fixture
def frame() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "email": ["a@example.com", "b@example.com", None, "a@example.com"],
            "ssn": ["123-45-6789"] * 4,
            "name": ["Ann Lee", None, "Bo Park", "Cy Diaz"],
            "age": [34, 95, np.nan, 40],
            "zip": [94107, 10001, 2139, None],
            "dob": ["1990-05-17", "1985-12-01", None, "2001-01-31"],
            "notes": [
                "Mail jane@example.com or call (319) 748-9241 please.",
                "Nothing to hide here.",
                None,
                "Ask Maria Garcia about card 4111 1111 1111 1111 today.",
            ],
            "score": [0.1, 0.2, 0.3, 0.4],
        }
    )


@pytest.fixture
def policy() -> MaskingPolicy:
    return MaskingPolicy.from_yaml(POLICY, keyring=KeyRing({1: KEY}))


def test_each_action(frame, policy):
    out = policy.apply(frame)
    assert "ssn" not in out.columns and out.columns[0] == "email"
    assert out["email"][0] == out["email"][3] != out["email"][1]
    assert out["email"][0].startswith("pz1:") and len(out["email"][0]) == 4 + 16
    assert out["email"][2] is None
    assert out["name"].tolist() == ["<PERSON>", None, "<PERSON>", "<PERSON>"]
    assert out["age"].tolist() == ["30-39", "90+", None, "40-49"]
    assert out["zip"].tolist() == ["941", "100", "213", None]
    assert out["dob"].tolist() == ["1990-05", "1985-12", None, "2001-01"]
    assert out["notes"][0] == "Mail <EMAIL> or call <PHONE> please."
    assert out["notes"][1] == "Nothing to hide here." and out["notes"][2] is None
    # PERSON spans follow the entity rule (pseudonymize), the card the column rule (redact).
    assert out["notes"][3].startswith("Ask pz1:") and "<CREDIT_CARD> today." in out["notes"][3]
    pd.testing.assert_series_equal(out["score"], frame["score"])


def test_pseudonyms_are_keyed_hmac_and_versioned(frame):
    ring = KeyRing({1: KEY, 2: b"q" * 32})
    mask = "columns: {email: pseudonymize}"
    v1 = MaskingPolicy.from_yaml(mask + "\nkey_version: 1", keyring=ring).apply(frame)["email"]
    v2 = MaskingPolicy.from_yaml(mask, keyring=ring).apply(frame)["email"]  # current = 2
    again = MaskingPolicy.from_yaml(mask + "\nkey_version: 1", keyring=ring).apply(frame)
    assert v1.tolist() == again["email"].tolist()  # deterministic: joinable across datasets
    assert v2[0].startswith("pz2:") and v2[0][4:] != v1[0][4:]
    expected = hmac.new(KEY, b"a@example.com", hashlib.sha256).hexdigest()[:16]
    assert v1[0] == f"pz1:{expected}"
    assert v1[0][4:] != hashlib.sha256(b"a@example.com").hexdigest()[:16]


def test_record_and_frame_agree(frame, policy):
    out = policy.apply(frame)
    for i, row in frame.iterrows():
        record = {k: (None if pd.isna(v) else v) for k, v in row.items()}
        masked = policy.apply_record(record)
        assert set(masked) == set(out.columns)
        for column, value in masked.items():
            expected = out.loc[i, column]
            if value is None or (isinstance(value, float) and np.isnan(value)):
                assert expected is None or pd.isna(expected), column
            else:
                assert value == expected, (column, value, expected)


@pytest.mark.parametrize(
    ("yaml_text", "needle"),
    [
        ("columns: {email: hash}", "column 'email': unknown action 'hash'"),
        ("columns: {age: generalize}", "column 'age': action 'generalize' needs kind"),
        ("columns: {age: {action: generalize, kind: age, width: 0}}", "column 'age'"),
        ("columns: {ssn: {action: drop, keep: 3}}", "column 'ssn'"),
        ("entities: {EMAIL: {action: nope}}", "entity 'EMAIL': unknown action 'nope'"),
        ("default: pseudonymize", "default: action 'pseudonymize'"),
        ("colums: {}", "unknown masking-policy key"),
        ("columns: [email]", "columns must be a mapping"),
        ("columns: {notes: {action: redact, spans: maybe}}", "column 'notes'"),
    ],
)
def test_policy_validation_names_the_fault(yaml_text, needle):
    with pytest.raises(ValidationError) as err:
        MaskingPolicy.from_yaml(yaml_text)
    assert needle in str(err.value)


def test_pseudonymize_needs_a_keyring(frame):
    with pytest.raises(ValidationError, match="column 'email': action 'pseudonymize'"):
        MaskingPolicy.from_yaml("columns: {email: pseudonymize}").apply(frame)


def test_policy_from_file_and_round_trip(tmp_path, frame, policy):
    path = tmp_path / "mask.yaml"
    path.write_text(policy.to_yaml())
    again = MaskingPolicy.from_yaml(path, keyring=policy.keyring)
    assert again.to_dict() == policy.to_dict()
    pd.testing.assert_frame_equal(again.apply(frame), policy.apply(frame))


def test_default_policy_from_report():
    df = pd.DataFrame(
        {
            "email": ["x@example.com", "y@example.org"] * 20,
            "date_of_birth": ["1980-02-03", "1999-09-09"] * 20,
            "postcode": ["94107", "10001"] * 20,
            "comment": ["Please reach me at x@example.com or later today."] * 40,
            "amount": np.arange(40.0),
        }
    )
    report = scan(df)
    policy = MaskingPolicy.from_report(report, keyring=KeyRing({1: KEY}))
    assert policy.rule_for("email").action == "pseudonymize"
    assert policy.rule_for("date_of_birth").kind == "date"
    assert policy.rule_for("postcode").kind == "postcode"
    assert policy.rule_for("comment").spans and policy.rule_for("amount").action == "keep"
    out = policy.apply(df)
    assert out["comment"][0] == "Please reach me at <EMAIL> or later today."
    assert out["date_of_birth"][0] == "1980-02" and out["postcode"][0] == "941"
    # The default policy is editable YAML that reloads to the same thing.
    assert MaskingPolicy.from_yaml(policy.to_yaml()).to_dict() == policy.to_dict()


def test_keyring_file_permissions_and_rotation(tmp_path):
    path = tmp_path / "keys" / "privacy.json"
    ring = KeyRing.create(path)
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    with pytest.raises(FileExistsError):
        KeyRing.create(path)
    first = ring.pseudonymize(["x"])
    assert ring.rotate() == 2
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    loaded = KeyRing.load(path)
    assert loaded.versions == [1, 2] and loaded.current == 2
    assert loaded.pseudonymize(["x"], version=1) == first
    assert loaded.pseudonymize(["x"])[0].startswith("pz2:")
    secret = base64_keys(path)
    assert all(s not in repr(loaded) for s in secret)
    with pytest.raises(NotFound):
        loaded.key(7)
    os.chmod(path, 0o644)
    with pytest.raises(ValidationError, match="chmod 600") as err:
        KeyRing.load(path)
    assert all(s not in str(err.value) for s in secret)
    assert KeyRing.load_or_create(tmp_path / "new.json").versions == [1]


def base64_keys(path) -> list[str]:
    return list(json.loads(path.read_text())["keys"].values())
