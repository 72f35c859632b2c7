"""Webhooks against a real receiver (uvicorn on loopback): HMAC, retries, formats, the log."""

from __future__ import annotations

import json
import socket
import threading
import time

import pytest
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from mlwarden.alerts import WebhookVerifier, loads, sign, verify
from mlwarden.alerts.settings import AlertSettings
from mlwarden.errors import Conflict, ValidationError

SECRET = "s3cret-for-tests"
SECRET_ENV = "MLWARDEN_WEBHOOK_SECRET_TESTS"


class Receiver:
    """Verifies every request's signature; answers 503 to the first ``fail_first`` (or
    ``status`` to all, when set)."""

    def __init__(self) -> None:
        self.received: list[dict] = []
        self.fail_first = 0
        self.status: int | None = None
        self.calls = 0

        async def hook(request: Request) -> JSONResponse:
            body = await request.body()
            self.calls += 1
            ok = verify(
                SECRET,
                body,
                request.headers.get("x-warden-signature"),
                request.headers.get("x-warden-timestamp"),
                request.headers.get("x-warden-delivery"),
            )
            if not ok:
                return JSONResponse({"error": "bad signature"}, status_code=401)
            if self.status is not None:
                again = {"Location": f"{self.url}?again"}  # a redirect, never followed
                return JSONResponse({"secret": "kept out"}, status_code=self.status, headers=again)
            if self.calls <= self.fail_first:
                return JSONResponse({"error": "try later"}, status_code=503)
            self.received.append(
                {"body": json.loads(body), "delivery": request.headers.get("x-warden-delivery")}
            )
            return JSONResponse({"ok": True})

        app = Starlette(routes=[Route("/hook", hook, methods=["POST"])])
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        self.server = uvicorn.Server(
            uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="error")
        )
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hook"

    def __enter__(self) -> Receiver:
        self.thread.start()
        deadline = time.monotonic() + 10
        while not self.server.started:
            assert time.monotonic() < deadline, "receiver did not start"
            time.sleep(0.01)
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(5)


@pytest.fixture
def receiver():
    with Receiver() as r:
        yield r


@pytest.fixture
def fast_retries(served, monkeypatch):
    monkeypatch.setenv(SECRET_ENV, SECRET)
    sleeps: list[float] = []
    notifier = served.alerting.notifier
    notifier.settings = AlertSettings(
        attempts=4, backoff_s=0.5, backoff_max_s=1.5, timeout_s=2, allowed_hosts=("127.0.0.1",)
    )
    notifier._sleep = sleeps.append
    return sleeps


def watch(wd, url: str, fmt: str = "json") -> object:
    """The policy names the channel ``ops``, installed here (by the store's admin)."""
    wd.install_alert_channel("ops", url, format=fmt, secret_env=SECRET_ENV)
    return loads(
        """kind: monitoring
name: drift-watch
channels: [ops]
rules:
  - id: drift
    when: drift.share_drifted > 0.3
    severity: critical
    message: More than 30% of features drifted
"""
    )


# the delivery path does not depend on the database: SQLite only
SQLITE = pytest.mark.parametrize("store_uri", ["sqlite"], indirect=True)


@SQLITE
def test_signed_webhook_fires_and_resolves(served, put_windows, receiver, fast_retries):
    wd = served
    put_windows(wd, [0.6])
    (out,) = wd.evaluate_monitoring([watch(wd, receiver.url)]).fired
    wd.evaluate_monitoring([watch(wd, receiver.url)])  # still firing: not sent again
    put_windows(wd, [0.1], start=1)
    wd.evaluate_monitoring([watch(wd, receiver.url)])
    fired, resolved = receiver.received
    assert fired["body"]["event"] == "firing" and resolved["body"]["event"] == "resolved"
    assert fired["body"]["alert"]["values"] == {"drift.share_drifted": 0.6}
    assert fired["delivery"].startswith(f"{out.alert_id}-firing-")
    assert resolved["delivery"].startswith(f"{out.alert_id}-resolved-")
    log = wd.alert_deliveries(out.alert_id)
    assert [(d.event, d.ok, d.http_status, d.attempt) for d in log] == [
        ("resolved", True, 200, 1),
        ("firing", True, 200, 1),
    ]
    assert fast_retries == []


@SQLITE
def test_failures_are_retried_with_backoff_and_logged(served, put_windows, receiver, fast_retries):
    wd = served
    receiver.fail_first = 3
    put_windows(wd, [0.6])
    (out,) = wd.evaluate_monitoring([watch(wd, receiver.url)]).fired
    log = list(reversed(wd.alert_deliveries(out.alert_id)))
    assert [(d.attempt, d.ok, d.http_status) for d in log] == [
        (1, False, 503),
        (2, False, 503),
        (3, False, 503),
        (4, True, 200),
    ]
    assert log[0].error == "HTTP 503"  # the status only: the receiver's body is never kept
    assert fast_retries == [0.5, 1.0, 1.5]  # doubling, capped at backoff_max_s
    assert len(receiver.received) == 1
    assert wd.alert_deliveries(failed=True)[0].http_status == 503


@SQLITE
def test_refusals_are_not_retried_and_dead_receivers_exhaust_attempts(
    served, put_windows, receiver, fast_retries
):
    wd = served
    receiver.status = 400
    put_windows(wd, [0.6])
    (out,) = wd.evaluate_monitoring([watch(wd, receiver.url)]).fired
    assert [(d.attempt, d.http_status) for d in wd.alert_deliveries(out.alert_id)] == [(1, 400)]
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{s.getsockname()[1]}/hook"
    put_windows(wd, [0.1], start=1)
    wd.evaluate_monitoring([watch(wd, dead)])
    resolved = [d for d in wd.alert_deliveries(out.alert_id) if d.event == "resolved"]
    assert len(resolved) == 4 and not any(d.ok for d in resolved)
    assert all(d.http_status is None and "ConnectError" in d.error for d in resolved)


@SQLITE
def test_slack_and_alertmanager_payloads(served, put_windows, receiver, fast_retries):
    wd = served
    put_windows(wd, [0.6])
    wd.evaluate_monitoring([watch(wd, receiver.url, "slack")])
    slack = receiver.received[-1]["body"]
    assert "FIRING" in slack["text"] and "scorer@2" in slack["text"]
    assert [b["type"] for b in slack["blocks"]] == ["header", "section", "context"]
    # Alertmanager forgets alerts not re-sent within resolve_timeout: firing ones are
    # re-sent on every evaluation there (and only there)
    before = len(receiver.received)
    wd.evaluate_monitoring([watch(wd, receiver.url, "slack")])
    assert len(receiver.received) == before
    wd.evaluate_monitoring([watch(wd, receiver.url, "alertmanager")])
    (again,) = receiver.received[-1]["body"]
    assert again["labels"]["alertname"] == "drift-watch/drift"
    assert again["endsAt"] == "0001-01-01T00:00:00Z"
    put_windows(wd, [0.1], start=1)
    wd.evaluate_monitoring([watch(wd, receiver.url, "alertmanager")])
    (am,) = receiver.received[-1]["body"]
    assert am["labels"] == {
        "alertname": "drift-watch/drift",
        "model": "scorer",
        "version": "2",
        "policy": "drift-watch",
        "rule": "drift",
        "severity": "critical",
        "source": "mlwarden",
    }
    assert am["annotations"]["description"] == "More than 30% of features drifted"
    assert am["startsAt"] < am["endsAt"] and not am["endsAt"].startswith("0001")


def test_verify_refuses_tampering_replays_and_wrong_keys():
    body = b'{"event": "firing"}'
    now = int(time.time())
    sig = sign(SECRET, body, now, "7-firing-ab")
    assert sig.startswith("sha256=") and len(sig) == 7 + 64
    assert verify(SECRET, body, sig, str(now), "7-firing-ab")
    assert not verify(SECRET, body + b" ", sig, str(now), "7-firing-ab")
    assert not verify("other", body, sig, str(now), "7-firing-ab")
    assert not verify(SECRET, body, sig, str(now + 1), "7-firing-ab")  # the timestamp is signed
    assert not verify(SECRET, body, sig, str(now), "8-firing-ab")  # so is the delivery id
    old = now - 3600
    assert not verify(SECRET, body, sign(SECRET, body, old, "x"), str(old), "x")  # stale
    assert not verify(SECRET, body, None, str(now), "7-firing-ab")
    assert not verify(SECRET, body, sig, str(now), None)


def test_webhook_verifier_rejects_a_replay_within_the_tolerance():
    body = b'{"event": "firing"}'
    now = int(time.time())
    headers = {
        "X-Warden-Timestamp": str(now),
        "X-Warden-Delivery": "7-firing-ab",
        "X-Warden-Signature": sign(SECRET, body, now, "7-firing-ab"),
    }
    receiver = WebhookVerifier(SECRET)
    assert receiver.check(body, headers) == "7-firing-ab"
    assert not receiver.verify(body, headers)  # the same request again: a replay
    assert not WebhookVerifier("other").verify(body, headers)
    # ids older than the tolerance are forgotten: their timestamps refuse them anyway
    assert not receiver.verify(body, headers, now=now + 301)
    assert receiver.seen == {}


@SQLITE
def test_redirects_are_not_followed_and_unset_secrets_send_nothing(
    served, put_windows, receiver, fast_retries, monkeypatch
):
    wd = served
    receiver.status = 307
    put_windows(wd, [0.6])
    (out,) = wd.evaluate_monitoring([watch(wd, receiver.url)]).fired
    (only,) = wd.alert_deliveries(out.alert_id)
    assert receiver.calls == 1 and only.http_status == 307 and only.error == "HTTP 307"
    # a channel whose secret is not in the environment sends nothing unsigned
    monkeypatch.delenv(SECRET_ENV)
    put_windows(wd, [0.1], start=1)
    wd.evaluate_monitoring([watch(wd, receiver.url)])
    resolved = [d for d in wd.alert_deliveries(out.alert_id) if d.event == "resolved"]
    assert receiver.calls == 1
    assert [(d.ok, d.error) for d in resolved] == [(False, f"secret_env {SECRET_ENV} is not set")]


@SQLITE
def test_policies_name_installed_channels_only(served, put_windows, fast_retries):
    inline = """kind: monitoring
name: w
channels:
  - name: ops
    url: http://127.0.0.1:1/x
rules:
  - id: r
    when: drift.share_drifted > 0.3
"""
    with pytest.raises(ValidationError, match="names installed channels only"):
        loads(inline)
    with pytest.raises(ValidationError, match="no installed alert channel 'ops'"):
        served.evaluate_monitoring([loads(inline.replace("    url: http://127.0.0.1:1/x\n", ""))])
    with pytest.raises(ValidationError, match="secret_env 'PATH' is not a webhook secret"):
        served.install_alert_channel("ops", "http://127.0.0.1:1/x", secret_env="PATH")
    served.install_alert_channel("ops", "http://127.0.0.1:1/x")
    assert [c.name for c in served.alert_channels()] == ["ops"]
    pol = loads(inline.replace("    url: http://127.0.0.1:1/x\n", ""))
    served.install_monitoring_policy(pol)
    with pytest.raises(Conflict, match="named by installed monitoring policies"):
        served.remove_alert_channel("ops")
    served.alerting.uninstall("w", actor=served.actor)
    served.remove_alert_channel("ops")
    assert served.alert_channels() == []
    actions = [e.action for e in served.audit.events()][-4:]
    assert "alert.channel.install" in actions and actions[-1] == "alert.channel.remove"
