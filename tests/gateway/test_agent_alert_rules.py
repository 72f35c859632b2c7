"""The shipped alert rules over the gateway's per-agent metrics: promtool checks and unit
tests them, and they read only metric names a gateway exports."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families

from mlwarden.gateway.metrics import GatewayMetrics

ROOT = Path(__file__).resolve().parents[2]
FOLDER = ROOT / "deploy" / "prometheus"
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


def exported() -> set[str]:
    m = GatewayMetrics()
    m.calls.labels("bot", "query", "deny").inc()
    m.approvals.labels("bot", "expired").inc()
    m.errors.labels("bot", "query").inc()
    m.latency.labels("bot").observe(0.01)
    return {
        s.name
        for family in text_string_to_metric_families(m.render().decode())
        for s in family.samples
    }


def test_agent_rules_use_only_exported_metrics():
    rules = yaml.safe_load((FOLDER / "agents.yml").read_text())
    exprs = [r["expr"] for g in rules["groups"] for r in g["rules"]]
    used = set().union(*(re.findall(r"\bmlwarden_[a-z0-9_]+", e) for e in exprs))
    assert len(used) == 4 and used <= exported(), sorted(used - exported())


def test_promtool_checks_and_unit_tests_the_agent_rules():
    promtool = shutil.which("promtool")
    if promtool is None:
        if IN_CI:  # CI installs it: a missing promtool there is a broken pipeline
            pytest.fail("promtool is not installed (CI=true): install the prometheus package")
        pytest.skip("promtool is not installed")
    for args in (["check", "rules", "agents.yml"], ["test", "rules", "agents-tests.yml"]):
        done = subprocess.run(
            [promtool, *args], cwd=FOLDER, capture_output=True, text=True, timeout=120
        )
        assert done.returncode == 0, done.stdout + done.stderr
