"""``/metrics``: values from the store, live prediction counters, auth; the shipped
Prometheus rules (promtool) and Grafana dashboard use exactly the exported names."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families

from mlwarden.alerts import loads, metrics

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")
SQLITE = pytest.mark.parametrize("store_uri", ["sqlite"], indirect=True)

WATCH = loads(
    """kind: monitoring
name: drift-watch
rules:
  - id: drift
    when: drift.share_drifted > 0.3
    severity: critical
"""
)
EXTRA = {
    "performance": {"accuracy": 0.71, "confusion": [[1, 2], [3, 4]]},
    "estimated": {"accuracy": 0.8},
    "fairness": {"sex": {"disparate_impact": 0.62, "interval": [0.5, 0.7]}},
    "quality": {
        "checks": 1,
        "failed": 1,
        "results": [{"rule": "null_rate", "column": "age", "passed": False, "value": 0.2}],
    },
    "attribution": {"distance": 0.12},
}


def app_for(wd):
    """The real server app: ``create_app`` includes ``/metrics`` (settings from the env)."""
    from mlwarden.server import create_app
    from mlwarden.server.settings import ServerSettings

    return create_app(ServerSettings(log_predictions=False), wd)


@pytest.fixture
def populated(served, put_windows):
    put_windows(served, [0.6], extra=EXTRA)
    served.evaluate_monitoring([WATCH])
    metrics.observe_prediction("scorer", 2, 0.004, rows=3)
    served.block("scorer@1", reason="a metric for every dashboard panel")
    return served


def scrape(wd) -> dict[str, list]:
    """Sample name -> [(labels, value)], from the store collector and the live counters."""
    text = metrics.render(wd).decode()
    out: dict[str, list] = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            out.setdefault(s.name, []).append((s.labels, s.value))
    return out


def value(samples, name, **labels):
    (hit,) = [v for lab, v in samples[name] if all(lab.get(k) == x for k, x in labels.items())]
    return hit


@SQLITE
def test_metrics_read_the_store_and_count_predictions(populated):
    s = scrape(populated)
    mv = {"model": "scorer", "version": "2"}
    assert value(s, "mlwarden_drift_score", feature="age", **mv) == 0.6
    assert value(s, "mlwarden_drift_detected", feature="age", **mv) == 1
    assert value(s, "mlwarden_drift_share", **mv) == 0.6
    assert value(s, "mlwarden_dataset_drift", **mv) == 1
    assert value(s, "mlwarden_null_rate", feature="age", **mv) == 0.2
    assert value(s, "mlwarden_performance", metric="accuracy", **mv) == 0.71
    assert [lab["metric"] for lab, _ in s["mlwarden_performance"]] == ["accuracy"]
    assert value(s, "mlwarden_estimated_performance", metric="accuracy", **mv) == 0.8
    assert value(s, "mlwarden_fairness", attribute="sex", metric="disparate_impact", **mv) == 0.62
    assert value(s, "mlwarden_attribution_drift", **mv) == 0.12
    assert value(s, "mlwarden_alert_firing", policy="drift-watch", severity="critical", **mv) == 1
    assert value(s, "mlwarden_alerts_total", policy="drift-watch") == 1
    assert value(s, "mlwarden_alert_deliveries_total", channel="log", outcome="ok") == 1
    assert value(s, "mlwarden_alias_version", model="scorer", alias="production") == 2
    assert value(s, "mlwarden_audit_log_size") == populated.audit.size
    assert value(s, "mlwarden_predictions_total", **mv) >= 3
    assert value(s, "mlwarden_prediction_latency_seconds_bucket", le="0.005", **mv) >= 1
    assert value(s, "mlwarden_monitor_window_rows", **mv) == 500
    assert value(s, "mlwarden_version_blocked", model="scorer", version="1") == 1


@SQLITE
def test_metrics_need_a_token_of_any_role_unless_turned_off(populated, monkeypatch):
    wd = populated
    wd.create_user("root", "admin")
    wd.settings = wd.settings.model_copy(update={"actor": "root"})
    wd.create_user("grafana", "viewer")
    token = wd.create_token("grafana").token
    with TestClient(app_for(wd)) as client:
        assert client.get("/metrics").status_code == 401
        ok = client.get("/metrics", headers={"Authorization": f"Bearer {token}"})
        assert ok.status_code == 200 and ok.headers["content-type"].startswith("text/plain")
        assert "mlwarden_drift_share" in ok.text
    alerts = wd.settings.alerts.model_copy(update={"metrics_auth": False})
    wd.settings = wd.settings.model_copy(update={"alerts": alerts})  # the tree create_app reads
    with TestClient(app_for(wd)) as client:
        assert client.get("/metrics").status_code == 200


def exported_names(samples: dict[str, list]) -> set[str]:
    return set(samples)


def metric_names(expr: str) -> set[str]:
    return set(re.findall(r"\bmlwarden_[a-z0-9_]+", expr))


@SQLITE
def test_grafana_dashboard_queries_only_exported_metrics(populated):
    dashboard = json.loads((DEPLOY / "grafana" / "warden.json").read_text())
    exprs = [t["expr"] for p in dashboard["panels"] for t in p["targets"]]
    exprs += [v["definition"] for v in dashboard["templating"]["list"] if "definition" in v]
    used = set().union(*(metric_names(e) for e in exprs))
    exported = exported_names(scrape(populated))
    assert used and used <= exported, sorted(used - exported)
    assert len(used) >= 15


@SQLITE
def test_prometheus_rules_use_only_exported_metrics(populated):
    rules = yaml.safe_load((DEPLOY / "prometheus" / "rules.yml").read_text())
    used = set().union(*(metric_names(r["expr"]) for g in rules["groups"] for r in g["rules"]))
    exported = exported_names(scrape(populated))
    assert used <= exported, sorted(used - exported)


def _promtool() -> str:
    path = shutil.which("promtool")
    if path is None:
        if IN_CI:  # CI installs it: a missing promtool there is a broken pipeline
            pytest.fail("promtool is not installed (CI=true): install the prometheus package")
        pytest.skip("promtool is not installed")
    return path


def test_promtool_checks_and_unit_tests_the_rules():
    promtool = _promtool()
    folder = DEPLOY / "prometheus"
    checked = subprocess.run(
        [promtool, "check", "rules", "rules.yml"],
        cwd=folder,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr
    tested = subprocess.run(
        [promtool, "test", "rules", "tests.yml"],
        cwd=folder,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert tested.returncode == 0, tested.stdout + tested.stderr
