"""The failed-authentication limiter and its audit aggregate (mlwarden.server.abuse), in
process: windows, Retry-After, the known-token pass, one event per address and flush."""

from __future__ import annotations

from mlwarden.server import ServerSettings, create_app
from mlwarden.server.abuse import AuthFailures


class FakeRecorder:
    def __init__(self) -> None:
        self.events: list[tuple[str, str, str, dict]] = []

    def record(self, actor, action, subject, payload=None):
        self.events.append((actor, action, subject, payload))


def test_window_limit_and_retry_after():
    now = [1000.0]
    rec = FakeRecorder()
    f = AuthFailures(rec, per_minute=3, clock=lambda: now[0])
    for _ in range(3):
        assert f.retry_after("10.0.0.1") is None
        f.failed("10.0.0.1", "unknown API token")
    now[0] += 10
    assert f.retry_after("10.0.0.1") == 50
    assert f.retry_after("10.0.0.2") is None  # per address
    f.limited("10.0.0.1")
    now[0] += 50  # the window is over
    assert f.retry_after("10.0.0.1") is None
    f.failed("10.0.0.1", "unknown API token")
    assert f.retry_after("10.0.0.1") is None  # a new window, one failure


def test_one_event_per_address_and_flush():
    rec = FakeRecorder()
    f = AuthFailures(rec, per_minute=2)
    for i in range(50):
        f.failed("10.0.0.1", "unknown API token" if i % 2 else "missing bearer token")
    for _ in range(7):
        f.limited("10.0.0.1")
    f.failed("10.0.0.9", "API token 3 expired")
    assert f.flush() == 2
    assert f.flush() == 0  # nothing pending: nothing written
    by = {subject: payload for _, _, subject, payload in rec.events}
    one = by["client:10.0.0.1"]
    assert one["count"] == 57 and one["failures"] == 50 and one["rate_limited"] == 7
    assert one["reasons"] == {"unknown API token": 25, "missing bearer token": 25}
    assert by["client:10.0.0.9"]["reasons"] == {"API token 3 expired": 1}
    assert {action for _, action, _, _ in rec.events} == {"access.denied"}


def test_many_addresses_share_one_summary_event():
    rec = FakeRecorder()
    f = AuthFailures(rec, per_minute=5)
    for i in range(250):
        f.failed(f"10.1.{i // 256}.{i % 256}", "unknown API token")
    assert f.flush() == 101
    assert rec.events[-1][2] == "client:150 other addresses"
    assert sum(p["count"] for *_, p in rec.events) == 250


def test_distinct_reasons_are_capped():
    rec = FakeRecorder()
    f = AuthFailures(rec, per_minute=0)  # 0: never limited, still aggregated
    for i in range(40):
        f.failed("10.0.0.1", f"API token {i} was revoked")
    assert f.retry_after("10.0.0.1") is None
    f.flush()
    (payload,) = [p for *_, p in rec.events]
    assert payload["failures"] == 40 and len(payload["reasons"]) == 8


def test_the_app_limits_bad_tokens_and_lets_a_known_token_pass(store):
    from fastapi.testclient import TestClient

    settings = ServerSettings(auth_failures_per_min=5, auth_audit_interval_s=3600)
    app = create_app(settings, store.warden)
    before = len(store.warden.audit.events(action="access.denied"))
    with TestClient(app) as c:
        assert c.get("/v1/models", headers=store.headers()).status_code == 200
        codes = [
            c.get("/v1/models", headers={"Authorization": f"Bearer mlw_bad{i}"}).status_code
            for i in range(12)
        ]
        assert codes == [401] * 5 + [429] * 7
        r = c.get("/v1/models", headers={"Authorization": "Bearer mlw_bad"})
        assert r.status_code == 429 and 0 < int(r.headers["retry-after"]) <= 60
        assert r.json()["details"]["retry_after_s"] == int(r.headers["retry-after"])
        assert c.get("/v1/models").status_code == 429  # no token at all
        assert c.get("/healthz").status_code == 200
        assert c.get("/v1/models", headers=store.headers()).status_code == 200
        # not audited per request: nothing yet (the interval is an hour)
        assert len(store.warden.audit.events(action="access.denied")) == before
    # stopping the server records what was pending: one event for this address
    events = store.warden.audit.events(action="access.denied")[before:]
    assert len(events) == 1
    assert events[0].subject == "client:testclient"
    assert events[0].payload["failures"] == 5 and events[0].payload["rate_limited"] == 9


def test_a_zero_limit_never_refuses(store):
    from fastapi.testclient import TestClient

    app = create_app(ServerSettings(auth_failures_per_min=0), store.warden)
    with TestClient(app) as c:
        codes = {c.get("/v1/models", headers={"Authorization": "Bearer x"}).status_code
                 for _ in range(30)}  # fmt: skip
    assert codes == {401}
