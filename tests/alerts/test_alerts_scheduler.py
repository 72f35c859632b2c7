"""The background evaluation ``mlwarden serve`` runs: installed policies, on a schedule."""

from __future__ import annotations

import time

import pytest

from mlwarden.alerts import scheduler
from mlwarden.alerts.settings import AlertSettings

POLICY = """kind: monitoring
name: drift-watch
rules:
  - id: drift
    when: drift.share_drifted > 0.3
"""


@pytest.mark.parametrize("store_uri", ["sqlite"], indirect=True)
def test_scheduler_evaluates_installed_policies_until_stopped(served, put_windows, tmp_path):
    wd = served
    path = tmp_path / "watch.yaml"
    path.write_text(POLICY)
    wd.install_monitoring_policy(path)
    put_windows(wd, [0.9])
    assert scheduler.start(wd, AlertSettings(interval_s=0)) is None  # off
    running = scheduler.start(wd, AlertSettings(interval_s=0.05, refresh=False))
    try:
        deadline = time.monotonic() + 20
        while running.runs < 2:
            assert time.monotonic() < deadline, running.last_error
            time.sleep(0.02)
    finally:
        scheduler.stop(running)
    runs = running.runs
    time.sleep(0.15)
    assert running.runs == runs  # stopped
    (alert,) = wd.alerts()
    assert alert.status == "firing" and alert.rule == "drift"  # fired once, not per run


@pytest.mark.parametrize("store_uri", ["sqlite"], indirect=True)
def test_a_failing_evaluation_is_logged_not_fatal(served, caplog):
    class Broken:
        def evaluate(self, **kw):
            raise RuntimeError("database went away")

    served.alerting = Broken()
    s = scheduler.Scheduler(served, AlertSettings(interval_s=1))
    assert s.run_once() is None and "database went away" in s.last_error


@pytest.mark.parametrize("store_uri", ["sqlite"], indirect=True)
def test_the_server_runs_the_scheduler_for_its_lifetime(served, put_windows, tmp_path, monkeypatch):
    from fastapi.testclient import TestClient

    from mlwarden.server import create_app
    from mlwarden.server.settings import ServerSettings

    wd = served
    path = tmp_path / "watch.yaml"
    path.write_text(POLICY)
    wd.install_monitoring_policy(path)
    put_windows(wd, [0.9])
    tree = wd.settings.model_copy(
        update={
            "server": ServerSettings(log_predictions=False),
            "alerts": AlertSettings(interval_s=0.05, refresh=False),
        }
    )
    with TestClient(create_app(tree, wd)):
        deadline = time.monotonic() + 20
        while not wd.alerts():
            assert time.monotonic() < deadline, "the scheduler never evaluated"
            time.sleep(0.02)
    assert [a.rule for a in wd.alerts()] == ["drift"]
