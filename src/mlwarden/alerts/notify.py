"""Sending alert events to channels: payload formats, signing, retries, the delivery log.

Every attempt is a row in ``alert_deliveries`` (``wd.alert_deliveries()``), so a receiver that
was down shows up as failed attempts, not as silence. Retries back off exponentially
(``backoff_s`` doubling up to ``backoff_max_s``) and stop early on a 4xx other than 408/429:
the receiver understood and refused, and sending the same bytes again will not change that.

Channels are looked up by name among those an admin installed. Each delivery resolves the
channel's host once, refuses non-public addresses unless allow-listed
(:mod:`mlwarden.alerts.egress`), and connects to that address for every attempt; redirects
are not followed, proxies from the environment are not used, and only the status code and
timing of the answer are kept (its body is never read).
"""

from __future__ import annotations

import json
import logging
import os
import secrets
import time
from collections.abc import Callable
from typing import Any

import httpx

from mlwarden.alerts import signing
from mlwarden.alerts.channels import check_secret_env, lookup
from mlwarden.alerts.egress import EgressPolicy, Resolver, pinned_request, system_resolver
from mlwarden.alerts.settings import AlertSettings
from mlwarden.entities.alerts import FIRING, Alert, Channel, Delivery
from mlwarden.errors import ValidationError
from mlwarden.store.alert_store import AlertStore

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
        store: AlertStore,
        settings: AlertSettings,
        *,
        sleep: Callable[[float], None] = time.sleep,
        resolver: Resolver = system_resolver,
    ) -> None:
        self.store = store
        self.settings = settings
        self._sleep = sleep
        self._resolver = resolver

    def default_channels(self) -> tuple[Channel, ...]:
        s = self.settings
        if s.webhook_url:
            return (Channel("default", s.webhook_url, s.webhook_format),)
        return (Channel("log", None, "log"),)

    def _channels(self, names: tuple[str, ...]) -> list[Channel | str]:
        """Installed channels by name; a name nobody installed (any more) stays a name."""
        if not names:
            return list(self.default_channels())
        return [lookup(self.store, n) or n for n in names]

    def _secret(self, channel: Channel) -> str | None:
        if channel.secret_env:
            check_secret_env(channel.secret_env, self.settings)
            value = os.environ.get(channel.secret_env)
            if not value:
                raise ValidationError(
                    f"secret_env {channel.secret_env} is not set", field="secret_env"
                )
            return value
        return self.settings.secret.get_secret_value() if self.settings.secret else None

    def send(self, alert: Alert, event: str, channels: tuple[str, ...]) -> list[Delivery]:
        out: list[Delivery] = []
        for channel in self._channels(channels):
            out.extend(self._deliver(alert, event, channel))
        return out

    def refresh(self, alert: Alert, channels: tuple[str, ...]) -> list[Delivery]:
        """Re-send a still-firing alert to Alertmanager channels only. Alertmanager resolves
        an alert nobody re-sends within its ``resolve_timeout`` (5 min by default) and
        de-duplicates repeats itself; every other channel hears about an alert once."""
        out: list[Delivery] = []
        for channel in self._channels(channels):
            if isinstance(channel, Channel) and channel.format == "alertmanager":
                out.extend(self._deliver(alert, FIRING, channel))
        return out

    def _refused(
        self, alert: Alert, event: str, channel: Channel, error: str, delivery_id: str | None
    ) -> list[Delivery]:
        log.error("alert %s %s to %s refused: %s", alert.id, event, channel.name, error)
        return [self._record(alert, event, channel, 1, False, None, error, 0, delivery_id)]

    def _deliver(self, alert: Alert, event: str, channel: Channel | str) -> list[Delivery]:
        if isinstance(channel, str):
            missing = Channel(channel, None, "unknown")
            return self._refused(
                alert, event, missing, f"no installed alert channel {channel!r}", None
            )
        if channel.format == "log":
            log.warning("%s: %s", _summary(alert, event), alert.message)
            return [self._record(alert, event, channel, 1, True, None, None, 0, None)]
        # one id per event and channel, shared by its retries (a receiver dedupes on it)
        delivery_id = f"{alert.id}-{event}-{secrets.token_hex(8)}"
        try:
            secret = self._secret(channel)
            target = EgressPolicy(self.settings.allowed_hosts, self._resolver).target(
                str(channel.url)
            )
        except ValidationError as exc:
            return self._refused(alert, event, channel, exc.message, delivery_id)
        url, host, extensions = pinned_request(target)
        body = json.dumps(payload(alert, event, channel.format), default=str).encode()
        attempts: list[Delivery] = []
        delay = self.settings.backoff_s
        error: str | None = None
        with httpx.Client(
            timeout=self.settings.timeout_s, follow_redirects=False, trust_env=False
        ) as client:
            for attempt in range(1, self.settings.attempts + 1):
                started = time.perf_counter()
                status: int | None = None
                error = None
                try:
                    # signed per attempt: a retry carries a fresh timestamp, the same id
                    with client.stream(
                        "POST",
                        url,
                        content=body,
                        headers={
                            **host,
                            "Content-Type": "application/json",
                            "User-Agent": "mlwarden-alerts",
                            **signing.headers(secret, body, delivery_id),
                        },
                        extensions=extensions,
                    ) as response:
                        status = response.status_code  # the body is never read nor kept
                    if status >= 300:
                        error = f"HTTP {status}"
                except httpx.HTTPError as exc:
                    error = f"{type(exc).__name__}: {exc}"[:500]
                ms = int((time.perf_counter() - started) * 1000)
                ok = error is None
                attempts.append(
                    self._record(alert, event, channel, attempt, ok, status, error, ms, delivery_id)
                )
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
        delivery_id: str | None,
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
            delivery_id=delivery_id,
        )
