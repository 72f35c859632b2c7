"""The monitoring plan from installed monitoring policies, stored windows and alerts; the
policy's installation is proven in the bundle."""

from __future__ import annotations

import json
import zipfile

import pandas as pd

import mlwarden as mw
from mlwarden.reports.gaps import find_gaps

POLICY = """kind: monitoring
name: drift-watch
description: Page the model owners when features drift.
alias: production
rules:
  - id: feature-drift
    when: drift.share_drifted > 0.3
    severity: critical
    actions: [alert]
"""


def _window(wd: mw.Warden, name: str, version: int, share: float) -> None:
    start = pd.Timestamp("2026-11-01", tz="UTC")
    end = start + pd.Timedelta(days=1)
    result = {
        "start": start.isoformat(),
        "end": end.isoformat(),
        "segment": "all",
        "rows": 500,
        "labelled": 0,
        "drift": {
            "n_columns": 2,
            "n_drifted": 1,
            "share_drifted": share,
            "dataset_drifted": False,
            "drifted_columns": ["age"],
            "columns": {},
        },
        "quality": {"checks": 2, "failed": 0, "results": []},
        "performance": {},
        "estimated": {},
        "fairness": {},
        "attribution": {},
    }
    item = {
        "key": start.isoformat(),
        "start": start.to_pydatetime(),
        "end": end.to_pydatetime(),
        "segment": "all",
        "rows": 500,
        "result": result,
    }
    wd.monitoring.results.save(wd.registry.store.model_id(name), version, "1d", [item])


def test_plan_from_monitoring_policy_windows_and_alerts(warden, tmp_path):
    from sklearn.dummy import DummyClassifier

    mv = warden.register_model("scorer", DummyClassifier().fit([[0], [1]], [0, 1]))
    plan = warden.report("monitoring-plan", mv.ref)
    assert "No monitoring policy applies" in plan and "Monitoring has not run" in plan

    _window(warden, "scorer", 1, 0.5)
    plan = warden.report("monitoring-plan", mv.ref)
    assert "drawn from the stored monitoring windows configuration" in plan
    assert "| 1d | 1 | all |" in plan

    if not hasattr(warden, "install_monitoring_policy"):  # alerts not in this build
        return
    warden.set_alias("scorer", "production", 1, override=True, reason="test setup")
    path = tmp_path / "watch.yaml"
    path.write_text(POLICY)
    policy = warden.install_monitoring_policy(path)
    warden.evaluate_monitoring()
    plan = warden.report("monitoring-plan", mv.ref)
    assert "## Monitoring policies" in plan and "### drift-watch" in plan
    assert "`drift.share_drifted > 0.3`" in plan
    assert f"monitoring policy drift-watch sha256:{policy.sha256[:12]}" in plan
    assert "| drift-watch | feature-drift | critical | firing |" in plan
    gaps = find_gaps(mw.reports.gather(warden, mv.ref))
    assert "monitoring policy" not in {g.item for g in gaps}

    bundle = warden.bundle(mv.ref, tmp_path / "b.zip")
    result = mw.reports.verify_bundle(bundle, warden.audit.public_key)
    assert result.ok, result.summary()
    with zipfile.ZipFile(bundle) as zf:
        actions = {e["action"] for e in json.loads(zf.read("audit/events.json"))}
    assert "monitoring.policy.install" in actions
