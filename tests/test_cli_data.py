"""CLI commands over logged data: monitor, scan, erase, export, retention."""

from __future__ import annotations

import json

import pandas as pd
import pytest
from typer.testing import CliRunner

import mlwarden as mw
from mlwarden.cli.main import app

runner = CliRunner()


@pytest.fixture
def home(tmp_path, monkeypatch, fitted_pipeline, small_adult):
    monkeypatch.setenv("MLWARDEN_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("MLWARDEN_URI", raising=False)
    train, test = small_adult
    wd = mw.Warden()
    wd.register_model(
        "credit", fitted_pipeline, train=mw.Dataset(train.drop(columns="income"), train["income"])
    )
    X = test.drop(columns="income").iloc[:200].assign(customer=[f"c{i % 4}" for i in range(200)])
    wd.log_predictions(
        "credit",
        X,
        fitted_pipeline.predict(X.drop(columns="customer")),
        scores=fitted_pipeline.predict_proba(X.drop(columns="customer"))[:, 1],
        subject_column="customer",
    )
    wd.close()
    return tmp_path


def test_monitor_prints_a_table_and_writes_html(home):
    result = runner.invoke(
        app, ["monitor", "credit", "--window", "100rows", "--html", str(home / "r.html")]
    )
    assert result.exit_code == 0, result.output
    assert "credit@1 — window 100rows" in result.stdout
    assert (home / "r.html").exists()
    data = json.loads(runner.invoke(app, ["monitor", "credit", "--json"]).stdout)
    assert data["windows"][0]["rows"] == 200


def test_scan_erase_export_and_retention(home):
    frame = pd.DataFrame(
        {"email": [f"user{i}@example.com" for i in range(50)], "amount": range(50)}
    )
    frame.to_csv(home / "people.csv", index=False)
    scanned = json.loads(runner.invoke(app, ["scan", str(home / "people.csv"), "--json"]).stdout)
    assert scanned["pii_features"] == ["email"]

    exported = json.loads(runner.invoke(app, ["export", "--subject", "c1"]).stdout)
    assert len(exported["predictions"]) == 50
    erased = runner.invoke(app, ["erase", "--subject", "c1", "--json"])
    assert erased.exit_code == 0 and json.loads(erased.stdout)["predictions"] == 50
    again = json.loads(runner.invoke(app, ["export", "--subject", "c1"]).stdout)
    assert all(p["erased"] for p in again["predictions"])

    assert runner.invoke(app, ["retention", "set", "credit", "30"]).exit_code == 0
    assert json.loads(runner.invoke(app, ["retention", "apply", "--json"]).stdout) == {"credit": 0}
    bad = runner.invoke(app, ["retention", "set", "credit", "0"])
    assert bad.exit_code == 1 and "positive number of days" in bad.stderr
