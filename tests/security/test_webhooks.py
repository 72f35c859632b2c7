"""Finding 7 (server-side request forgery through alert channels) and the unsigned delivery id
of finding 12, against a real ``mlwarden serve`` on SQLite and PostgreSQL.

A listener on 127.0.0.1 stands for an internal service: after each attack it must have
received nothing, and nothing it answers may become readable through the API."""

from __future__ import annotations

from collections.abc import Iterator

import pandas as pd
import pytest
from security_support import Answer, Listener, SecureServer, open_store

from mlwarden.alerts import WebhookVerifier

INTERNAL_ANSWER = "internal-service-says-hunter2"
SECRET_ENV = "MLWARDEN_WEBHOOK_SECRET_OPS"
SECRET = "ops-hook-key"
T0 = pd.Timestamp("2026-11-01", tz="UTC")


def internal_answer(path: str, body: bytes, port: int) -> Answer:
    return 200, {}, INTERNAL_ANSWER.encode()


@pytest.fixture
def listener() -> Iterator[Listener]:
    lst = Listener(internal_answer, path="/hook")
    try:
        yield lst
    finally:
        lst.close()


def policy(channels: str) -> str:
    return f"""kind: monitoring
name: watch
channels:
{channels}
rules:
  - id: drift
    when: drift.share_drifted > 0.3
    message: drifted
"""


INLINE = """  - name: ops
    url: {url}
    secret_env: MLWARDEN_MASTER_KEY
"""


def put_window(srv: SecureServer, share: float, day: int) -> None:
    """One stored monitoring window of ``credit`` v1, straight into the store."""
    begin = T0 + pd.Timedelta(days=day)
    end = begin + pd.Timedelta(days=1)
    result = {
        "start": begin.isoformat(),
        "end": end.isoformat(),
        "segment": "all",
        "rows": 500,
        "labelled": 0,
        "drift": {"share_drifted": share, "drifted_columns": [], "columns": {}},
        "quality": {"checks": 0, "failed": 0, "results": []},
    }
    item = {
        "key": begin.isoformat(),
        "start": begin.to_pydatetime(),
        "end": end.to_pydatetime(),
        "segment": "all",
        "rows": 500,
        "result": result,
    }
    with open_store(srv) as wd:
        wd.monitoring.results.save(wd.registry.store.model_id("credit"), 1, "1d", [item])


def assert_untouched(srv: SecureServer, listener: Listener) -> None:
    srv.assert_alive()
    assert listener.requests == []
    with open_store(srv) as wd:
        assert wd.get_model("credit").aliases == {"production": 1}
        assert wd.alert_deliveries() == []
        assert wd.alerts() == []


@pytest.mark.parametrize("role", ["viewer", "developer", "validator", "admin"])
def test_adhoc_evaluation_cannot_name_urls_or_environment_variables(server, listener, role):
    attacks = [
        policy(INLINE.format(url=listener.url())),
        policy(f"  - {listener.url()}"),  # a URL where a channel name goes
        policy("  - name: ops\n    secret_env: PATH"),
    ]
    for text in attacks:
        r = server.request(
            role, "POST", "/v1/monitoring/evaluate", json={"policies": [{"source": text}]}
        )
        assert r.status_code in (403, 422), r.text
        if role in ("viewer", "developer"):
            assert r.status_code == 403  # refused before the policy text is read
        else:
            assert "channel" in r.json()["message"]
    assert_untouched(server, listener)


def test_installing_channels_is_admin_only_and_checked(server, listener):
    body = {"name": "ops", "url": listener.url()}
    for role in ("viewer", "developer", "validator"):
        assert server.request(role, "POST", "/v1/alerts/channels", json=body).status_code == 403
        assert server.request(role, "GET", "/v1/alerts/channels").status_code == 403
    bad = [
        ({"name": "ops", "url": listener.url()}, "MLWARDEN_ALERTS_ALLOWED_HOSTS"),
        ({"name": "ops", "url": "http://localhost:8080/x"}, "loopback"),
        ({"name": "ops", "url": "http://2130706433/x"}, "loopback"),
        ({"name": "ops", "url": "http://[::ffff:169.254.169.254]/x"}, "link-local"),
        ({"name": "ops", "url": "http://10.0.0.7/x"}, "private"),
        ({"name": "ops", "url": "file:///etc/passwd"}, "url"),
        ({"name": "ops", "url": "https://hooks.example.com/x", "secret_env": "PATH"}, "PATH"),
        (
            {
                "name": "ops",
                "url": "https://hooks.example.com/x",
                "secret_env": "MLWARDEN_MASTER_KEY",
            },
            "MLWARDEN_MASTER_KEY",
        ),
        ({"name": "../ops", "url": "https://hooks.example.com/x"}, "name"),
    ]
    for payload, word in bad:
        r = server.request("admin", "POST", "/v1/alerts/channels", json=payload)
        assert r.status_code == 422, r.text
        assert word in r.json()["message"] or r.json()["details"].get("field") == word
    assert server.request("admin", "GET", "/v1/alerts/channels").json() == []
    # a policy naming a channel nobody installed is refused at install
    r = server.request(
        "admin", "POST", "/v1/monitoring/policies", json={"source": policy("  - nowhere")}
    )
    assert r.status_code == 422 and "no installed alert channel" in r.json()["message"]
    assert_untouched(server, listener)


def test_deliveries_go_only_to_allow_listed_internal_hosts_signed_and_bodiless(
    fresh_server, listener
):
    srv = fresh_server
    quiet = {"MLWARDEN_ALERTS_INTERVAL_S": "0", SECRET_ENV: SECRET}
    channel = {"name": "ops", "url": listener.url(), "secret_env": SECRET_ENV}
    srv.start(**quiet)
    r = srv.request("admin", "POST", "/v1/alerts/channels", json=channel)
    assert r.status_code == 422 and "MLWARDEN_ALERTS_ALLOWED_HOSTS" in r.json()["message"]

    srv.restart(MLWARDEN_ALERTS_ALLOWED_HOSTS="127.0.0.1", **quiet)
    assert srv.request("admin", "POST", "/v1/alerts/channels", json=channel).status_code == 201
    r = srv.request("admin", "POST", "/v1/monitoring/policies", json={"source": policy("  - ops")})
    assert r.status_code == 201, r.text
    put_window(srv, 0.6, 0)
    r = srv.request("validator", "POST", "/v1/monitoring/evaluate", json={})
    assert [o["change"] for o in r.json()["outcomes"]] == ["fired"]
    (hit,) = listener.requests
    receiver = WebhookVerifier(SECRET)
    delivery = receiver.check(hit["body"], hit["headers"])
    assert delivery.startswith("1-firing-")
    assert not receiver.verify(hit["body"], hit["headers"])  # the same request replayed
    forged = {**hit["headers"], "X-Warden-Delivery": "1-firing-other"}
    assert not WebhookVerifier(SECRET).verify(hit["body"], forged)  # the id is signed
    deliveries = srv.request("admin", "GET", "/v1/alerts/deliveries")
    assert INTERNAL_ANSWER not in deliveries.text
    (row,) = deliveries.json()
    assert row["ok"] and row["http_status"] == 200 and row["delivery_id"] == delivery

    # the operator withdraws the allowance: the next delivery is refused, nothing is sent
    srv.restart(**quiet)
    put_window(srv, 0.1, 1)
    r = srv.request("validator", "POST", "/v1/monitoring/evaluate", json={})
    assert [o["change"] for o in r.json()["outcomes"]] == ["resolved"]
    assert len(listener.requests) == 1
    newest = srv.request("admin", "GET", "/v1/alerts/deliveries").json()[0]
    assert newest["event"] == "resolved" and not newest["ok"] and newest["http_status"] is None
    assert "refused" in newest["error"] and "loopback" in newest["error"]
    srv.assert_alive()
    with open_store(srv) as wd:
        assert wd.get_model("credit").aliases == {"production": 1}
