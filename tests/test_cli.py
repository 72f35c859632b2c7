"""The command line: JSON output, tables, and one-line errors with non-zero exits."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from mlwarden.cli.main import app

runner = CliRunner()


@pytest.fixture
def env(tmp_path, monkeypatch) -> dict[str, str]:
    monkeypatch.setenv("MLWARDEN_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("MLWARDEN_URI", raising=False)
    return {"MLWARDEN_HOME": str(tmp_path / "home")}


def invoke(*args: str):  # type: ignore[no-untyped-def]
    return runner.invoke(app, list(args))


def test_init_creates_the_store(env, tmp_path):
    result = invoke("init", "--json")
    assert result.exit_code == 0, result.output
    info = json.loads(result.stdout)
    assert info["uri"].endswith("home/warden.db")
    assert (tmp_path / "home" / "warden.db").exists()


def test_register_show_and_list(env, tmp_path, small_adult):
    import skops.io as sio
    from sklearn.linear_model import LogisticRegression

    train, test = small_adult
    cols = ["age", "hours-per-week", "income"]
    train[cols].to_csv(tmp_path / "train.csv", index=False)
    test[cols].to_parquet(tmp_path / "eval.parquet")
    model = LogisticRegression().fit(train[cols[:2]], train["income"])
    sio.dump(model, tmp_path / "model.skops")

    result = invoke(
        "models",
        "register",
        "cli-model",
        "--model-file",
        str(tmp_path / "model.skops"),
        "--train",
        str(tmp_path / "train.csv"),
        "--eval",
        str(tmp_path / "eval.parquet"),
        "--target",
        "income",
        "--risk-tier",
        "low",
        "--json",
    )
    assert result.exit_code == 0, result.output
    mv = json.loads(result.stdout)
    assert mv["version"] == 1 and mv["lineage"]["datasets"]["eval"]["name"] == "eval.parquet"

    shown = invoke("models", "show", "cli-model@1")
    assert shown.exit_code == 0 and "roc_auc" in shown.stdout and "Datasets" in shown.stdout
    listed = json.loads(invoke("models", "list", "--json").stdout)
    assert [m["name"] for m in listed] == ["cli-model"]
    assert "cli-model" in invoke("models", "list").stdout


def test_errors_are_one_line_without_traceback(env):
    assert invoke("init").exit_code == 0
    for args, message in (
        (["models", "show", "nope@1"], "model 'nope' does not exist"),
        (["models", "show", "x@@1"], "invalid reference"),
    ):
        result = invoke(*args)
        assert result.exit_code == 1
        assert message in result.stderr
        assert "Traceback" not in result.output
        assert len(result.stderr.strip().splitlines()) == 1


def test_real_process_exit_code_and_stderr(env, tmp_path):
    """Through the installed console script, as a user runs it."""
    exe = Path(sys.executable).with_name("mlwarden")
    proc = subprocess.run(
        [str(exe), "models", "show", "missing@2"],
        capture_output=True,
        text=True,
        env={**os.environ, **env},
        timeout=120,
    )
    assert proc.returncode == 1
    assert proc.stderr.strip() == "error: model 'missing' does not exist"


def test_db_upgrade_and_current(env):
    result = invoke("db", "upgrade", "--json")
    assert result.exit_code == 0, result.output
    assert (
        json.loads(result.stdout)["to"]
        == json.loads(invoke("db", "current", "--json").stdout)["head"]
    )
