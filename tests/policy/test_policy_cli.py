"""``mlwarden policy …``, ``promote``, ``rollback``, ``models history``: tables, JSON, exits."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

import mlwarden as mw
from mlwarden.cli.main import app

runner = CliRunner()


def invoke(*args: str):  # type: ignore[no-untyped-def]
    return runner.invoke(app, list(args))


@pytest.fixture
def store(tmp_path, monkeypatch, version_maker) -> mw.Warden:
    uri = f"sqlite:///{tmp_path / 'w.db'}"
    monkeypatch.setenv("MLWARDEN_URI", uri)
    monkeypatch.setenv("MLWARDEN_ARTIFACTS", str(tmp_path / "artifacts"))
    monkeypatch.setenv("MLWARDEN_ACTOR", "alice")
    wd = mw.Warden(uri, artifacts=str(tmp_path / "artifacts"), actor="alice")
    version_maker(wd, "credit-risk", di=0.9, risk_tier="low")
    version_maker(wd, "credit-risk", di=0.5, risk_tier="low")
    return wd


def test_validate_reports_every_problem_with_lines(tmp_path, gate_file):
    result = invoke("policy", "validate", str(gate_file))
    assert result.exit_code == 0, result.output
    assert "gate: valid (2 rules)" in result.stdout
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        "name: x\nrules:\n  - id: a\n    check: versoin.x > 1\n  - id: b\n    check: '1'\n"
    )
    result = invoke("policy", "validate", str(bad))
    assert result.exit_code == 1
    assert f"{bad}:4:" in result.stderr and f"{bad}:6:" in result.stderr
    result = invoke("policy", "validate", str(bad), "--json")
    out = json.loads(result.stdout)
    assert not out["valid"] and [p["line"] for p in out["problems"]] == [4, 6]


def test_check_table_json_and_exit_code(store, gate_file):
    ok = invoke("policy", "check", "credit-risk@1", "--policy", "production-gate")
    assert ok.exit_code == 0, ok.output  # low risk: the shipped gate does not apply
    result = invoke("policy", "check", "credit-risk@1", "--policy", str(gate_file), "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["results"][0]["verdict"] == "skipped"
    from sklearn.dummy import DummyClassifier  # a medium-risk version without fairness

    mv = store.register_model("medium", DummyClassifier().fit([[0], [1]], [0, 1]))
    result = invoke("policy", "check", mv.ref, "--policy", str(gate_file))
    assert result.exit_code == 1 and "FAILED" in result.stdout
    result = invoke("policy", "check", mv.ref, "--policy", str(gate_file), "--json")
    assert result.exit_code == 1
    assert "no such key: fairness.sex" in json.loads(result.stdout)["results"][0]["message"]
    decisions = invoke("policy", "decisions", "medium", "--json")
    assert json.loads(decisions.stdout)[0]["passed"] is False


def test_promote_dry_run_refusal_and_rollback(store, gate_file):
    strict = gate_file.parent / "strict.yaml"
    strict.write_text(
        "name: strict\nrules:\n  - id: di\n    check: fairness.sex.disparate_impact >= 0.8\n"
    )
    dry = invoke(
        "promote", "credit-risk@2", "--alias", "production", "-p", str(strict), "--dry-run"
    )
    assert dry.exit_code == 1 and "would be refused" in dry.stdout
    # production is protected: a policy from the command line cannot move it
    inline = invoke("promote", "credit-risk@2", "--alias", "production", "-p", str(strict))
    assert inline.exit_code == 1 and "protected alias" in inline.stderr
    assert invoke("policy", "install", str(strict)).exit_code == 0
    bound = invoke("policy", "bind", "strict", "--alias", "production")
    assert bound.exit_code == 0 and "alias:production → strict" in bound.stdout
    refused = invoke("promote", "credit-risk@2", "--alias", "production")
    assert refused.exit_code == 1 and "refused" in refused.stderr and "'di'" in refused.stderr
    refused = invoke("promote", "credit-risk@2", "-a", "production", "--json")
    assert json.loads(refused.stdout)["error"] == "policy_violation"
    assert invoke("policy", "install", str(gate_file)).exit_code == 0
    assert invoke("policy", "bind", "gate", "--alias", "production").exit_code == 0
    listed = json.loads(invoke("policy", "list", "--json").stdout)
    assert [p["name"] for p in listed["policies"]] == ["gate", "strict"]
    assert listed["protected_aliases"] == ["production"]
    for v in (1, 2):
        done = invoke("promote", f"credit-risk@{v}", "--alias", "production")
        assert done.exit_code == 0, done.output
    back = invoke("rollback", "credit-risk", "--alias", "production", "--reason", "bad", "--json")
    assert back.exit_code == 0, back.output
    assert json.loads(back.stdout)["to_version"] == 1
    history = invoke("models", "history", "credit-risk", "--alias", "production", "--json")
    assert [h["action"] for h in json.loads(history.stdout)] == ["promote", "promote", "rollback"]
    table = invoke("models", "history", "credit-risk")
    assert "rollback" in table.stdout and "bad" in table.stdout
    again = invoke("rollback", "credit-risk", "--alias", "production", "--reason", "x")
    assert again.exit_code == 1 and "no earlier version" in again.stderr
