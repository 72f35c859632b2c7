"""``GET /v1/audit/verify`` is ``wd.audit.verify()``: on a log verified in parallel ranges it
answers the verdict the one-scan verifier gives, tampering included."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

import mlwarden.audit.parallel as parallel
import mlwarden.store.sql.audit as sql_audit
from mlwarden.audit.sql_log import SqlAuditLog
from mlwarden.server import ServerSettings, create_app


@pytest.mark.parametrize("tamper", [None, "UPDATE audit_events SET actor = 'm' WHERE seq = 9"])
def test_route_answers_the_one_scan_verdict_from_the_parallel_path(warden, monkeypatch, tamper):
    warden.create_user("alice", "admin")
    token = warden.create_token("alice").token
    for b in range(4):
        warden.audit.append_many([("alice", "x.y", f"s:{b}.{i}", {"i": i}) for i in range(4)])
    if tamper:
        with warden.db.engine.begin() as conn:
            conn.exec_driver_sql(tamper)
    one_scan = SqlAuditLog(warden.audit.backend, public_key=warden.audit.public_key)
    one_scan.verify_workers = 1
    expected = one_scan.verify().to_dict()
    # forced on: ranges of 4 events, every one checked in a worker process
    monkeypatch.setattr(SqlAuditLog, "parallel_min", 1)
    monkeypatch.setattr(SqlAuditLog, "verify_workers", 2)
    monkeypatch.setattr(parallel, "_LOCAL", False)
    monkeypatch.setattr(sql_audit, "_PAGE", 4)
    app = create_app(ServerSettings(), warden)
    with TestClient(app, headers={"Authorization": f"Bearer {token}"}) as api:
        got = api.get("/v1/audit/verify")
    assert got.status_code == 200 and got.json() == expected
    assert got.json()["ok"] is (tamper is None)
