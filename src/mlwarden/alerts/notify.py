"""Sending alert events to channels: payload formats, signing, retries, the delivery log.

Every attempt is a row in ``alert_deliveries`` (``wd.alert_deliveries()``), so a receiver that
was down shows up as failed attempts, not as silence. Retries back off exponentially
(``backoff_s`` doubling up to ``backoff_max_s``) and stop early on a 4xx other than 408/429:
the receiver understood and refused, and sending the same bytes again will not change that.
"""

from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import Callable
from typing import Any

import httpx

from mlwarden.alerts import signing
from mlwarden.alerts.policy import Channel
from mlwarden.alerts.settings import AlertSettings
from mlwarden.alerts.types import FIRING, Alert, Delivery
from mlwarden.store.sql.alerts import SqlAlertStore

log = logging.getLogger("mlwarden.alerts")
ZERO_TIME = "0001-01-01T00:00:00Z"  # Alertmanager's "not set" for endsAt


def _labels(alert: Alert) -> dict[str, str]:
    return {
        "alertname": f"{alert.policy}/{alert.rule}",
        "model": alert.model,
        "version": str(alert.version),
        "policy": alert.policy,
        "rule": alert.rule,
        "severity": alert.severity,
        "source": "mlwarden",
    }


def _summary(alert: Alert, event: str) -> str:
    state = "FIRING" if event == FIRING else "RESOLVED"
    return f"[{state}] {alert.severity}: {alert.ref} — {alert.policy}/{alert.rule}"


def _actions_text(alert: Alert) -> str:
    done = [a for a in alert.actions if a.get("action") != "alert"]
    return "; ".join(
        f"{a['action']} {'done' if a.get('ok') else 'FAILED'}: {a.get('detail', '')}" for a in done
    )


def payload(alert: Alert, event: str, fmt: str) -> Any:
    """The body for ``fmt``: ``json`` (Warden's own), ``slack`` or ``alertmanager``."""
    if fmt == "slack":
        lines = [f"*{_summary(alert, event)}*", alert.message]
        actions = _actions_text(alert)
        if actions:
            lines.append(f"Actions: {actions}")
        if alert.values:
            shown = ", ".join(f"`{k}` = {v}" for k, v in list(alert.values.items())[:8])
            lines.append(f"Values: {shown}")
        return {
            "text": _summary(alert, event) + f": {alert.message}",
            "blocks": [
                {"type": "header", "text": {"type": "plain_text", "text": _summary(alert, event)}},
                {"type": "section", "text": {"type": "mrkdwn", "text": "\n".join(lines[1:])}},
                {
                    "type": "context",
                    "elements": [
                        {
                            "type": "mrkdwn",
                            "text": f"alert #{alert.id} · started "
                            f"{alert.started_at:%Y-%m-%d %H:%M} UTC",
                        }
                    ],
                },
            ],
        }
    if fmt == "alertmanager":
        ended = alert.ended_at.isoformat() if alert.ended_at is not None else ZERO_TIME
        return [
            {
                "labels": _labels(alert),
                "annotations": {
                    "summary": _summary(alert, event),
                    "description": alert.message,
                    "actions": _actions_text(alert),
                    "values": json.dumps(alert.values, default=str),
                },
                "startsAt": alert.started_at.isoformat(),
                "endsAt": ended if event != FIRING else ZERO_TIME,
            }
        ]
    return {"version": 1, "event": event, "alert": alert.to_dict()}


class Notifier:
    def __init__(
        self,
        store: SqlAlertStore,
        settings: AlertSettings | None = None,
        *,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.store = store
        self.settings = settings or AlertSettings()
        self._sleep = sleep

    def default_channels(self) -> tuple[Channel, ...]:
        s = self.settings
        if s.webhook_url:
            return (Channel("default", s.webhook_url, s.webhook_format),)
        return (Channel("log", None, "log"),)

    def _secret(self, channel: Channel) -> str | None:
        if channel.secret_env:
            return os.environ.get(channel.secret_env)
        return self.settings.secret.get_secret_value() if self.settings.secret else None

    def send(self, alert: Alert, event: str, channels: tuple[Channel, ...]) -> list[Delivery]:
        out: list[Delivery] = []
        for channel in channels or self.default_channels():
            out.extend(self._deliver(alert, event, channel))
        return out

    def refresh(self, alert: Alert, channels: tuple[Channel, ...]) -> list[Delivery]:
        """Re-send a still-firing alert to Alertmanager channels only. Alertmanager resolves
        an alert nobody re-sends within its ``resolve_timeout`` (5 min by default) and
        de-duplicates repeats itself; every other channel hears about an alert once."""
        out: list[Delivery] = []
        for channel in channels or self.default_channels():
            if channel.format == "alertmanager":
                out.extend(self._deliver(alert, FIRING, channel))
        return out

    def _deliver(self, alert: Alert, event: str, channel: Channel) -> list[Delivery]:
        if channel.format == "log":
            log.warning("%s: %s", _summary(alert, event), alert.message)
            return [self._record(alert, event, channel, 1, True, None, None, 0)]
        body = json.dumps(payload(alert, event, channel.format), default=str).encode()
        secret = self._secret(channel)
        attempts: list[Delivery] = []
        delay = self.settings.backoff_s
        with httpx.Client(timeout=self.settings.timeout_s) as client:
            for attempt in range(1, self.settings.attempts + 1):
                started = time.perf_counter()
                status: int | None = None
                error: str | None = None
                try:
                    # signed per attempt: a retry carries a fresh timestamp
                    response = client.post(
                        str(channel.url),
                        content=body,
                        headers={
                            "Content-Type": "application/json",
                            "User-Agent": "mlwarden-alerts",
                            signing.DELIVERY_HEADER: f"{alert.id}-{event}",
                            **signing.headers(secret, body),
                        },
                    )
                    status = response.status_code
                    if status >= 300:
                        error = f"HTTP {status}: {response.text[:200]}"
                except httpx.HTTPError as exc:
                    error = f"{type(exc).__name__}: {exc}"[:500]
                ms = int((time.perf_counter() - started) * 1000)
                ok = error is None
                attempts.append(self._record(alert, event, channel, attempt, ok, status, error, ms))
                retryable = status is None or status >= 500 or status in (408, 429)
                if ok or not retryable or attempt == self.settings.attempts:
                    break
                self._sleep(delay)
                delay = min(delay * 2, self.settings.backoff_max_s)
        if not attempts[-1].ok:
            log.error("alert %s %s to %s failed: %s", alert.id, event, channel.name, error)
        return attempts

    def _record(
        self,
        alert: Alert,
        event: str,
        channel: Channel,
        attempt: int,
        ok: bool,
        status: int | None,
        error: str | None,
        ms: int,
    ) -> Delivery:
        return self.store.add_delivery(
            alert.id,
            event=event,
            channel=channel.name,
            format=channel.format,
            url=channel.url,
            attempt=attempt,
            ok=ok,
            http_status=status,
            error=error,
            duration_ms=ms,
        )
