"""``mlwarden monitor run``, ``mlwarden alerts …`` and ``models block|unblock``."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from mlwarden.cli.main import app

runner = CliRunner()

POLICY = """kind: monitoring
name: drift-watch
rules:
  - id: drift
    when: drift.share_drifted > 0.3
    severity: critical
    actions: [rollback]
"""


@pytest.fixture
def cli_store(served, monkeypatch, tmp_path):
    monkeypatch.setenv("MLWARDEN_URI", served.uri)
    monkeypatch.setenv("MLWARDEN_ARTIFACTS", str(served.artifacts.root))
    monkeypatch.setenv("MLWARDEN_ACTOR", "alice")
    path = tmp_path / "watch.yaml"
    path.write_text(POLICY)
    return served, path


@pytest.mark.parametrize("store_uri", ["sqlite"], indirect=True)
def test_monitor_run_fires_rolls_back_and_lists(cli_store, put_windows):
    wd, path = cli_store
    put_windows(wd, [0.7])
    result = runner.invoke(app, ["monitor", "run", "--policy", str(path)])
    assert result.exit_code == 0, result.output
    assert "firing" in result.stdout and "fired" in result.stdout
    assert wd.get_model("scorer").aliases["production"] == 1
    listed = json.loads(runner.invoke(app, ["alerts", "list", "--json"]).stdout)
    assert [(a["ref"], a["status"]) for a in listed] == [("scorer@2", "firing")]
    assert listed[0]["actions"][1]["action"] == "rollback"
    table = runner.invoke(app, ["alerts", "list"]).stdout
    assert "scorer@2" in table and "rollback" in table
    deliveries = json.loads(runner.invoke(app, ["alerts", "deliveries", "--json"]).stdout)
    assert deliveries[0]["channel"] == "log" and deliveries[0]["ok"]


@pytest.mark.parametrize("store_uri", ["sqlite"], indirect=True)
def test_install_block_and_invalid_policy(cli_store, tmp_path):
    _, path = cli_store
    result = runner.invoke(app, ["alerts", "install", str(path)])
    assert result.exit_code == 0 and "Installed monitoring policy drift-watch" in result.stdout
    assert "drift-watch" in runner.invoke(app, ["alerts", "policies"]).stdout
    result = runner.invoke(app, ["models", "block", "scorer@1", "--reason", "bad data"])
    assert result.exit_code == 0 and "scorer@1 is blocked" in result.stdout
    result = runner.invoke(app, ["models", "unblock", "scorer@1", "--reason", "fixed"])
    assert result.exit_code == 0 and "unblocked" in result.stdout
    bad = tmp_path / "bad.yaml"
    bad.write_text(POLICY.replace("share_drifted", "shared"))
    result = runner.invoke(app, ["monitor", "run", "--policy", str(bad)])
    assert result.exit_code == 1
    assert "bad.yaml:5" in result.output and "unknown field drift.shared" in result.output


@pytest.mark.parametrize("store_uri", ["sqlite"], indirect=True)
def test_alert_channels_add_list_remove(cli_store):
    url = "https://hooks.example.com/warden"
    env = "MLWARDEN_WEBHOOK_SECRET_OPS"
    added = runner.invoke(
        app, ["alerts", "channels", "add", "ops", "--url", url, "--secret-env", env]
    )
    assert added.exit_code == 0, added.output
    listed = json.loads(runner.invoke(app, ["alerts", "channels", "list", "--json"]).stdout)
    assert [(c["name"], c["url"], c["secret_env"]) for c in listed] == [("ops", url, env)]
    refused = runner.invoke(app, ["alerts", "channels", "add", "x", "--url", "http://10.0.0.1/"])
    assert refused.exit_code == 1 and "MLWARDEN_ALERTS_ALLOWED_HOSTS" in refused.output
    assert runner.invoke(app, ["alerts", "channels", "remove", "ops"]).exit_code == 0
    assert json.loads(runner.invoke(app, ["alerts", "channels", "list", "--json"]).stdout) == []
