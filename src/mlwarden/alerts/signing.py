"""Webhook signatures: HMAC-SHA256 over ``"{timestamp}.{delivery_id}." + raw body``.

The timestamp and the delivery id are signed with the body (either header alone could be
swapped). A receiver that checks the signature, refuses stale timestamps and remembers the
delivery ids it accepted within the tolerance rejects every replay of a captured request:
:class:`WebhookVerifier` does the three (docs/alerts.md shows a receiver). Retries of one
delivery carry the same id with a fresh timestamp, so a receiver that already processed it
(and whose answer was lost) sees a replay and can answer 2xx without acting twice.
"""

from __future__ import annotations

import hashlib
import hmac
import threading
import time
from collections.abc import Mapping

SIGNATURE_HEADER = "X-Warden-Signature"
TIMESTAMP_HEADER = "X-Warden-Timestamp"
DELIVERY_HEADER = "X-Warden-Delivery"
TOLERANCE_S = 300
MAX_DELIVERY_ID = 128


def sign(secret: str | bytes, body: bytes, timestamp: int, delivery_id: str) -> str:
    key = secret.encode() if isinstance(secret, str) else secret
    signed = f"{timestamp}.{delivery_id}.".encode() + body
    return "sha256=" + hmac.new(key, signed, hashlib.sha256).hexdigest()


def headers(
    secret: str | bytes | None, body: bytes, delivery_id: str, timestamp: int | None = None
) -> dict[str, str]:
    ts = int(time.time()) if timestamp is None else timestamp
    out = {TIMESTAMP_HEADER: str(ts), DELIVERY_HEADER: delivery_id}
    if secret:
        out[SIGNATURE_HEADER] = sign(secret, body, ts, delivery_id)
    return out


def verify(
    secret: str | bytes,
    body: bytes,
    signature: str | None,
    timestamp: str | None,
    delivery_id: str | None,
    *,
    tolerance_s: float = TOLERANCE_S,
    now: float | None = None,
) -> bool:
    """Whether ``signature`` is valid for ``body``, ``timestamp`` and ``delivery_id`` and the
    timestamp is fresh. Replays within the tolerance need :class:`WebhookVerifier`."""
    if not signature or not timestamp or not delivery_id or len(delivery_id) > MAX_DELIVERY_ID:
        return False
    try:
        ts = int(timestamp)
    except ValueError:
        return False
    if abs((time.time() if now is None else now) - ts) > tolerance_s:
        return False
    return hmac.compare_digest(sign(secret, body, ts, delivery_id), signature)


class WebhookRejected(Exception):
    """Why a receiver refused a webhook: ``reason`` is ``signature`` or ``replay``."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


class WebhookVerifier:
    """A receiver's check: valid signature, fresh timestamp, delivery id not seen before.

    ``seen`` holds the accepted delivery ids with their timestamps; ids older than the
    tolerance are dropped (their timestamp alone refuses them now). One verifier per
    receiver process; several processes share state by passing a dict-like ``seen`` (or
    by recording ids in their own database with a unique key)."""

    def __init__(
        self,
        secret: str | bytes,
        *,
        tolerance_s: float = TOLERANCE_S,
        seen: dict[str, int] | None = None,
    ) -> None:
        self.secret = secret
        self.tolerance_s = tolerance_s
        self.seen: dict[str, int] = {} if seen is None else seen
        self._lock = threading.Lock()

    def check(self, body: bytes, headers: Mapping[str, str], *, now: float | None = None) -> str:
        """The delivery id of an authentic first delivery; else ``WebhookRejected``.
        ``headers`` is case-insensitive when it is Starlette's or httpx's."""
        now = time.time() if now is None else now
        with self._lock:
            horizon = now - self.tolerance_s
            for old in [k for k, ts in self.seen.items() if ts < horizon]:
                del self.seen[old]
        delivery = _header(headers, DELIVERY_HEADER)
        timestamp = _header(headers, TIMESTAMP_HEADER)
        ok = verify(
            self.secret,
            body,
            _header(headers, SIGNATURE_HEADER),
            timestamp,
            delivery,
            tolerance_s=self.tolerance_s,
            now=now,
        )
        if not ok or delivery is None or timestamp is None:
            raise WebhookRejected("signature", "bad signature or stale timestamp")
        with self._lock:
            if delivery in self.seen:
                raise WebhookRejected("replay", f"delivery {delivery} was already received")
            self.seen[delivery] = int(timestamp)
        return delivery

    def verify(self, body: bytes, headers: Mapping[str, str], *, now: float | None = None) -> bool:
        try:
            self.check(body, headers, now=now)
        except WebhookRejected:
            return False
        return True


def _header(headers: Mapping[str, str], name: str) -> str | None:
    value = headers.get(name)
    if value is None:
        value = headers.get(name.lower())
    return value
