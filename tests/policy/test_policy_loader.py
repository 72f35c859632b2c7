"""Loading policies: every problem is reported at load time with its file and line."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

import mlwarden as mw
from mlwarden import policy as mwp


def problems(text: str) -> list[dict]:
    with pytest.raises(mw.ValidationError) as info:
        mwp.loads(text, "p.yaml")
    return info.value.details["problems"]


def test_shipped_example_loads_by_name_and_hashes_its_bytes():
    pol = mwp.load("production-gate")
    assert pol.name == "production-gate" and "production-gate" in mwp.examples()
    assert pol.applies_to == {"risk_tier": ["medium", "high"]}
    rules = {r.id: r for r in pol.rules}
    assert rules["min-auc"].paths == ("version.metrics.roc_auc",)
    assert rules["four-fifths"].paths == ("fairness.sex.disparate_impact",)
    assert rules["card-complete"].severity == "warn"
    assert rules["min-auc"].message == "ROC AUC must be at least 0.80"
    assert pol.sha256 == hashlib.sha256(Path(pol.path).read_bytes()).hexdigest()
    assert mwp.load(pol) is pol and mwp.load(pol.path).sha256 == pol.sha256


def test_unknown_policy_name_is_not_found():
    with pytest.raises(mw.NotFound, match="production-gate"):
        mwp.load("no-such-gate")


def test_syntax_error_names_file_line_and_column():
    (p,) = problems("name: x\nrules:\n  - id: a\n    check: version.metrics.auc >= \n")
    assert p["line"] == 4 and p["rule"] == "a" and p["column"] > 10
    assert p["message"].startswith("p.yaml:4:") and "syntax error" in p["message"]


def test_syntax_error_in_block_scalar_points_into_the_block():
    text = "name: x\nrules:\n  - id: a\n    check: |\n      version.number > 1 &&\n      (\n"
    (p,) = problems(text)
    assert p["line"] == 6


def test_unknown_root_key_and_unknown_field_are_load_errors():
    found = problems(
        "name: x\nrules:\n"
        "  - id: a\n    check: versoin.metrics.auc >= 0.8\n"
        "  - id: b\n    check: version.metrix.auc >= 0.8\n"
        "  - id: c\n    check: has(card.foo)\n"
        "  - id: d\n    check: version.ref.length > 1\n"
    )
    by_rule = {p["rule"]: p for p in found}
    assert "unknown context key 'versoin'" in by_rule["a"]["message"]
    assert by_rule["a"]["line"] == 4
    assert "unknown field version.metrix" in by_rule["b"]["message"]
    assert by_rule["b"]["line"] == 6
    assert "unknown field card.foo" in by_rule["c"]["message"]
    assert "version.ref is a string" in by_rule["d"]["message"]


@pytest.mark.parametrize(
    "check, kind",
    [
        ("version.metrics.roc_auc", "double"),
        ("version.metrics.roc_auc + 1", "number"),
        ("'yes'", "string"),
        ("approvals.count", "int"),
        ("size(version.aliases)", "int"),
    ],
)
def test_non_boolean_rules_are_load_errors(check, kind):
    (p,) = problems(f'name: x\nrules:\n  - id: a\n    check: "{check}"\n')
    assert f"yields a {kind}" in p["message"] and p["line"] == 4


@pytest.mark.parametrize(
    "check",
    [
        "fairness.race.equal_opportunity_difference < 0.1",  # open keys: any attribute
        "has(version.lineage.code.dirty) && !version.lineage.code.dirty",
        "version.lineage.sensitive_features.exists(f, f == 'sex')",
        "explain.importance.all(k, explain.importance[k] < 0.9)",
        "now - model.created_at < duration('720h')",
        "approvals.approved || model.risk_tier == 'low'",
        "'fairness' in version.evidence ? fairness.sex.disparate_impact > 0.8 : false",
        "drift.max_psi < 0.2",  # filled by monitoring, open keys
    ],
)
def test_valid_rules_load(check):
    pol = mwp.loads(f'name: x\nrules:\n  - id: a\n    check: "{check}"\n')
    assert pol.rules[0].check == check


def test_structure_errors_are_all_reported():
    found = problems(
        "name: x\nowner: me\napplies_to: {risk_tier: [extreme], colour: red}\nrules:\n"
        "  - id: a\n    check: 'true'\n    severity: fatal\n"
        "  - id: a\n    check: 'true'\n    mesage: typo\n"
        "  - check: 'true'\n"
    )
    text = " | ".join(p["message"] for p in found)
    assert "unknown key 'owner'" in text and "unknown key 'colour'" in text
    assert "unknown risk tier 'extreme'" in text
    assert "severity must be one of" in text and "duplicate rule id 'a'" in text
    assert "unknown key 'mesage'" in text and "needs an 'id'" in text


def test_yaml_error_and_empty_rules():
    (p,) = problems("name: x\nrules: [\n")
    assert "YAML error" in p["message"]
    (p,) = problems("name: x\nrules: []\n")
    assert "non-empty list" in p["message"]
    with pytest.raises(mw.ValidationError, match="the policy file is empty"):
        mwp.loads("")


def test_error_message_is_one_line_with_the_first_problem():
    with pytest.raises(mw.ValidationError) as info:
        mwp.loads("name: x\nrules:\n  - id: a\n    check: nope > 1\n  - id: b\n    check: '1'\n")
    assert info.value.message.startswith("invalid policy p.yaml:4:") or "<string>" in str(
        info.value
    )
    assert "(and 1 more problems)" in info.value.message and "\n" not in info.value.message


def test_applies_to_matches_tier_name_and_tags():
    pol = mwp.loads(
        "name: x\napplies_to: {risk_tier: high, name: ['credit-*'], tags: {team: risk}}\n"
        "rules:\n  - id: a\n    check: 'true'\n"
    )

    class M:
        def __init__(self, name, tier, tags):
            self.name, self.risk_tier, self.tags = name, tier, tags

    assert pol.applies(M("credit-risk", "high", {"team": "risk"}))
    assert not pol.applies(M("credit-risk", "low", {"team": "risk"}))
    assert not pol.applies(M("fraud", "high", {"team": "risk"}))
    assert not pol.applies(M("credit-risk", "high", {}))


def test_block_scalar_positions_include_the_indentation():
    (p,) = problems("name: x\nrules:\n  - id: a\n    check: |\n      versoin.number > 1\n")
    assert (p["line"], p["column"]) == (5, 7)


def test_unknown_functions_are_load_errors():
    (p,) = problems("name: x\nrules:\n  - id: a\n    check: max(version.number, 2) > 1\n")
    assert "unknown function 'max'" in p["message"] and (p["line"], p["column"]) == (4, 12)
