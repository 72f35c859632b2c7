"""Webhook signatures: HMAC-SHA256 over ``"{timestamp}." + raw body``.

The timestamp is signed with the body (the ``X-Warden-Timestamp`` header alone could be
swapped), so a receiver that checks the signature and refuses stale timestamps is safe from
replays of captured requests. Receivers verify with :func:`verify` (or the ten lines in
docs/alerts.md).
"""

from __future__ import annotations

import hashlib
import hmac
import time

SIGNATURE_HEADER = "X-Warden-Signature"
TIMESTAMP_HEADER = "X-Warden-Timestamp"
DELIVERY_HEADER = "X-Warden-Delivery"
TOLERANCE_S = 300


def sign(secret: str | bytes, body: bytes, timestamp: int) -> str:
    key = secret.encode() if isinstance(secret, str) else secret
    mac = hmac.new(key, f"{timestamp}.".encode() + body, hashlib.sha256)
    return "sha256=" + mac.hexdigest()


def headers(secret: str | bytes | None, body: bytes, timestamp: int | None = None) -> dict:
    ts = int(time.time()) if timestamp is None else timestamp
    out = {TIMESTAMP_HEADER: str(ts)}
    if secret:
        out[SIGNATURE_HEADER] = sign(secret, body, ts)
    return out


def verify(
    secret: str | bytes,
    body: bytes,
    signature: str | None,
    timestamp: str | None,
    *,
    tolerance_s: float = TOLERANCE_S,
    now: float | None = None,
) -> bool:
    """Whether ``signature`` is valid for ``body`` and ``timestamp`` is fresh."""
    if not signature or not timestamp:
        return False
    try:
        ts = int(timestamp)
    except ValueError:
        return False
    if abs((time.time() if now is None else now) - ts) > tolerance_s:
        return False
    return hmac.compare_digest(sign(secret, body, ts), signature)
