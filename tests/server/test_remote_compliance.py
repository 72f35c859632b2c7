"""``RemoteWarden`` parity for the compliance packs (issue 20): the review queue, the findings
register, the LL144 bias audit and the validation run over HTTP on a real uvicorn server, with
the server's roles applied before any body is read."""

from __future__ import annotations

import httpx
import pytest

import mlwarden as mw
from mlwarden.errors import Conflict, PermissionDenied
from mlwarden.reports.ll144 import bias_audit, ll144_markdown


def test_review_queue_through_remote_warden(store, live, credit_data):
    _, _, Xt = credit_data
    wd = store.warden
    wd.create_user("val", "validator")
    admin = mw.connect(live.url, token=store.token)
    val = mw.connect(live.url, token=wd.create_token("val").token)
    admin.oversight.set_rule("credit", "output == '<=50K'", actor=admin.actor)
    served = admin.predict("credit", Xt.iloc[:20])
    adverse = [i for i, o in zip(served["ids"], served["outputs"], strict=True) if o == "<=50K"]
    queue = admin.oversight.queue("credit", actor=admin.actor)
    assert [i["prediction_id"] for i in queue] == sorted(adverse, key=served["ids"].index)
    assert queue[0]["flagged_at"].tzinfo is not None  # a datetime, as locally
    assert admin.oversight.flag("credit", actor=admin.actor) == 0
    with pytest.raises(PermissionDenied):  # alice registered credit@1
        admin.oversight.decide("credit", adverse[0], actor=admin.actor)
    done = val.oversight.decide("credit", adverse[0], actor=val.actor, override=">50K")
    assert done["status"] == "overridden" and done["reviewer"] == "val"
    with pytest.raises(Conflict):
        val.oversight.decide("credit", adverse[0], actor=val.actor)
    rate = val.oversight.override_rate("credit")
    assert rate == wd.oversight.override_rate("credit") and rate["override_rate"] == 1.0
    assert len(val.oversight.queue("credit", actor=val.actor, status=None)) == len(adverse)


def test_findings_register_through_remote_warden(store, live):
    wd = store.warden
    wd.create_user("val", "validator")
    wd.create_user("vic", "viewer")
    val = mw.connect(live.url, token=wd.create_token("val").token)
    vic_token = wd.create_token("vic").token
    found = val.findings.add(
        "credit@production", title="Back-test gap", severity="high", owner="risk", actor="val"
    )
    assert (found.model, found.version, found.status) == ("credit", 1, "open")
    after = val.findings.update(found.id, actor="val", status="remediated", owner=None)
    assert after.status == "remediated" and after.owner == "risk"
    assert [f.to_dict() for f in val.findings.list("credit@1")] == [
        f.to_dict() for f in wd.findings.list("credit@1")
    ]
    vic = mw.connect(live.url, token=vic_token)
    with pytest.raises(PermissionDenied):
        vic.findings.add("credit", title="x", severity="low", owner="me", actor="vic")
    # the role is checked before the body is read: a viewer's bad body is a 403, not a 422
    with httpx.Client(base_url=live.url, timeout=60) as c:
        headers = {"Authorization": f"Bearer {vic_token}", "Content-Type": "application/json"}
        assert (
            c.post("/v1/models/credit/findings", content=b"{", headers=headers).status_code == 403
        )
        assert (
            c.patch(f"/v1/findings/{found.id}", json={"nope": 1}, headers=headers).status_code
            == 403
        )
        bad = c.post("/v1/models/credit/findings", json={"title": "x"}, headers=store.headers())
        assert bad.status_code == 422 and "severity" in bad.text
        assert c.patch("/v1/findings/999", json={}, headers=store.headers()).status_code == 404
    actions = [e.action for e in wd.audit.events()]
    assert actions.count("finding.add") == 1 and actions.count("finding.update") == 1


def test_bias_audit_and_validation_through_remote_warden(store, live, credit_data):
    _, _, Xt = credit_data
    wd = store.warden
    admin = mw.connect(live.url, token=store.token)
    admin.predict("credit", Xt.iloc[:400])
    audit = admin.bias_audit("credit@1", race="race")
    here = bias_audit(wd, "credit@1", race="race", record=False)
    assert audit["tables"] == here["tables"] and audit["attached_to"] == "credit@1"
    assert wd.get_evidence("credit@1", "ll144")["min_impact_ratio"] == audit["min_impact_ratio"]
    assert "Impact ratio" in ll144_markdown(audit)
    measured = admin.validate("credit@1")
    assert measured == wd.get_evidence("credit@1", "validation")
    text = admin.report("validation", "credit@1")
    assert "Validator independence" in text and "Findings register" in text
    for kind in ("ll144", "art12", "soa"):
        assert admin.report(kind, "credit@1").startswith("#")
    wd.create_user("vic", "viewer")
    vic = mw.connect(live.url, token=wd.create_token("vic").token)
    with pytest.raises(PermissionDenied):
        vic.bias_audit("credit")
    with pytest.raises(PermissionDenied):
        vic.validate("credit@1")
