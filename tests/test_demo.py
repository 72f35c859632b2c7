"""``mlwarden demo``: the story holds end to end, and again on the same store."""

from __future__ import annotations

import io

from rich.console import Console

import mlwarden as mw
from mlwarden.demo import run_demo


def test_demo_tells_the_whole_story_and_reruns(tmp_path):
    wd = mw.Warden(f"sqlite:///{tmp_path / 'w.db'}", artifacts=str(tmp_path / "a"))
    out = io.StringIO()
    results = run_demo(wd, console=Console(file=out, width=120))
    text = out.getvalue()
    name = results["model"]
    assert name == "credit-risk"
    # a weak candidate is blocked with readable reasons
    assert results["blocked"] and results["block_rules"] == ["min-auc"]
    assert "ROC AUC must be at least 0.85" in results["block_message"]
    # the good one is approved by a second person and promoted
    assert results["approved_by"] == "bob" and results["promoted"] == f"{name}@3"
    assert [a.approver for a in wd.approvals(f"{name}@3")] == ["bob"]
    # drifted traffic fires an alert, which rolls production back to the previous version
    assert results["alert_fired"] and results["rolled_back"]
    (alert,) = wd.alerts(name)
    assert (alert.rule, alert.severity, alert.ref) == ("input-drift", "critical", f"{name}@3")
    assert results["production"] == 2 == wd.get_model(name).aliases["production"]
    assert results["failed_deliveries"] >= 1  # the webhook to nowhere, logged
    # every step is in the audit log, which verifies
    actions = [e.action for e in wd.audit.events(model=name)]
    for step in ("access.denied", "version.approve", "alias.promote", "alert.fired"):
        assert step in actions
    assert actions[-1] == "alias.rollback"
    assert results["audit_verified"] and wd.audit.verify().ok
    assert "Audit trail of credit-risk" in text and "audit log verifies: True" in text
    # again on the same store: a fresh model name, the same users
    again = run_demo(wd, console=Console(file=io.StringIO()))
    assert again["model"] == "credit-risk-2" and again["rolled_back"]
    assert sorted(u.name for u in wd.list_users()) == ["admin", "alice", "bob"]
    wd.close()


def test_demo_stores_no_raw_personal_data(tmp_path):
    """Run the demo, then search the database file and the artifact folder for the
    applicants' raw e-mails and customer ids: masking and pseudonymization happen first."""
    from pathlib import Path

    from mlwarden.demo import TRAFFIC_ROWS, with_contacts

    wd = mw.Warden(f"sqlite:///{tmp_path / 'w.db'}", artifacts=str(tmp_path / "a"))
    run_demo(wd, console=Console(file=io.StringIO()))
    name = "credit-risk"
    logged = wd.predictions(name)
    assert logged["applicant_email"].str.startswith("pz").all()
    assert logged["subject"].notna().all() and "customer_id" not in logged.columns
    wd.close()
    sample = with_contacts(mw.datasets.load_adult()[1].head(3), offset=2 * TRAFFIC_ROWS)
    raw = [*sample["applicant_email"], *sample["customer_id"]]
    blob = b"".join(p.read_bytes() for p in Path(tmp_path).rglob("*") if p.is_file())
    for value in raw:
        assert value.encode() not in blob, value
