"""After the demo, ``mlwarden monitor credit-risk`` shows its monitoring story: production rolled
back to a version without traffic, so the command monitors the version that served the drifted
windows and says which version it reads and why."""

from __future__ import annotations

import io
import json

from rich.console import Console
from typer.testing import CliRunner

import mlwarden as mw
from mlwarden.cli.main import app
from mlwarden.demo import run_demo


def test_monitor_after_the_demo_shows_the_drifted_windows(tmp_path, monkeypatch):
    monkeypatch.setenv("MLWARDEN_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("MLWARDEN_URI", raising=False)
    wd = mw.Warden()
    out = io.StringIO()
    results = run_demo(wd, console=Console(file=out, width=200))
    assert results["rolled_back"] and results["production"] == 2
    assert "mlwarden monitor credit-risk" in out.getvalue()
    wd.close()

    runner = CliRunner()
    shown = runner.invoke(app, ["monitor", "credit-risk"], env={"COLUMNS": "200"})
    assert shown.exit_code == 0, shown.output
    text = shown.output
    assert "Monitoring credit-risk@3" in text
    assert "credit-risk@2, the serving version, has no logged predictions" in text
    assert "credit-risk@3: 3,000 predictions" in text
    assert "No logged predictions" not in text
    assert "age" in text and "hours-per-week" in text  # the drifted window's columns

    as_json = runner.invoke(app, ["monitor", "credit-risk", "--json"])
    assert as_json.exit_code == 0, as_json.output
    report = json.loads(as_json.stdout)
    assert report["version"] == 3 and "serving version" in report["note"]
    normal, drifted = report["windows"]
    assert normal["rows"] == drifted["rows"] == 1500
    # the demo's policy fires above 30 % of the inputs drifted
    assert drifted["drift"]["share_drifted"] > 0.3 >= normal["drift"]["share_drifted"]

    # an explicit version without traffic is monitored as asked, with where the traffic is
    explicit = runner.invoke(app, ["monitor", "credit-risk", "--version", "2"])
    assert explicit.exit_code == 0, explicit.output
    assert "Monitoring credit-risk@2 (production)" in explicit.output
    assert "credit-risk@3: 3,000 predictions" in explicit.output

    # the SDK reads the same version, and its report carries the same note
    with mw.Warden() as sdk:
        report = sdk.monitor("credit-risk")
        assert report.version == 3 and "newest version with traffic" in report.note
