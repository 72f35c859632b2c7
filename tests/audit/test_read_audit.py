"""Issue 18 item 5: the read audit. Views of prediction inputs and evidence of models in the
chosen risk tiers are recorded, counted per user, model and hour (one ``read.view`` event
each), when the hour is over or the server stops; other tiers are not recorded."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from mlwarden.audit.reads import READ_VIEW, ReadAudit
from mlwarden.errors import ValidationError
from mlwarden.server import create_app


def test_views_are_counted_per_user_model_and_hour(warden):
    warden.create_user("alice", "admin")  # any event: the log is real
    now = [10 * 3600 + 5.0]
    tiers = {"credit": "high", "churn": "low"}
    reads = ReadAudit(warden.audit.append, ["high"], tiers.__getitem__, clock=lambda: now[0])
    for _ in range(3):
        reads.seen("vic", "credit", "prediction")
    reads.seen("vic", "credit", "evidence")
    reads.seen("vic", "churn", "prediction")  # low tier: not recorded
    assert warden.audit.events(action=READ_VIEW) == []  # nothing until the hour is over
    now[0] += 3600
    reads.seen("bob", "credit", "prediction")  # the next hour: the last one's counts go out
    got = [
        (e.actor, e.subject, e.payload["kind"], e.payload["count"])
        for e in warden.audit.events(action=READ_VIEW)
    ]
    assert got == [("vic", "model:credit", "evidence", 1), ("vic", "model:credit", "prediction", 3)]
    assert warden.audit.events(action=READ_VIEW)[0].payload["hour"] == "1970-01-01T10:00:00+00:00"
    assert reads.flush() == 1  # bob's, at stop


def test_unknown_tiers_are_refused():
    with pytest.raises(ValidationError, match="audit_reads"):
        ReadAudit(lambda *a: None, ["critical"], lambda m: "high")


def test_the_server_records_evidence_views_when_the_tier_is_chosen(warden, registered):
    tree = warden.settings.model_copy(update={"audit_reads": ("high",)})
    warden.create_user("alice", "admin")
    token = warden.create_token("alice").token
    with TestClient(create_app(tree, warden), headers={"Authorization": f"Bearer {token}"}) as c:
        for _ in range(2):
            assert (
                c.get(f"/v1/models/{registered.name}/versions/1/evidence/fairness").status_code
                == 200
            )
    (event,) = warden.audit.events(action=READ_VIEW)
    assert (event.actor, event.subject) == ("alice", f"model:{registered.name}")
    assert event.payload["kind"] == "evidence" and event.payload["count"] == 2
