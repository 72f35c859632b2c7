"""Failed authentications: limited per client address, aggregated in the audit log.

Before, every refused token appended its own signed (and, on SQLite, fsynced) ``access.denied``
event: one client sending bad tokens wrote 100 events a second and slowed predictions by 20%
(issue 14, finding 8). Now:

- ``AuthFailures`` counts refusals per client address in one-minute windows and keeps a tally
  per address for the audit log. Every ``audit_interval_s`` (and when the server stops) a
  background thread appends **one** ``access.denied`` event per address, with the count, the
  reasons and the requests answered 429 meanwhile.
- ``AuthGuard``, a raw ASGI middleware outside every other layer, answers a client over its
  limit with 429 and ``Retry-After`` before any routing, body parsing or database work: a
  flood costs one dictionary look-up per request. Health checks, and requests whose bearer
  token this worker recently accepted, pass, so a valid client behind the same address (a NAT,
  a proxy) keeps working while the flood is refused.

A refusal is whatever set ``scope[FAILED]`` on its way out (``server.auth`` does for bearer
tokens, the dashboard for a bad sign-in). The client address is the socket peer: behind a
reverse proxy run uvicorn with ``--forwarded-allow-ips`` so that it is the real client. Each
worker process counts for itself.
"""

from __future__ import annotations

import json
import logging
import math
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from starlette.types import ASGIApp, Receive, Scope, Send

from mlwarden.access.recorder import DENIED

log = logging.getLogger("mlwarden.server")

#: The scope key a refused authentication sets (to its reason), for ``AuthGuard`` to count.
FAILED = "mlwarden.auth_failed"
WINDOW_S = 60.0
#: Paths never refused: load balancers' health checks come from shared addresses.
_OPEN_PATHS = frozenset({"/healthz", "/readyz"})
#: Addresses tracked at most; past it the oldest windows go (an attacker with many addresses
#: costs memory, never correctness: an address forgotten starts a new window).
_MAX_CLIENTS = 100_000
#: Audit events per flush at most; the rest of the addresses share one summary event.
_MAX_EVENTS = 100


@dataclass
class _Tally:
    first: float
    last: float
    failures: int = 0
    limited: int = 0
    reasons: Counter[str] = field(default_factory=Counter)


class AuthFailures:
    """Counts refused authentications per client address (see the module's docstring)."""

    def __init__(
        self,
        recorder: Any,
        per_minute: int,
        audit_interval_s: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.recorder = recorder
        self.per_minute = per_minute
        self.audit_interval_s = audit_interval_s
        self._clock = clock
        self._windows: dict[str, list[float]] = {}  # address -> [window start, failures]
        self._pending: dict[str, _Tally] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # ---- on the request path (cheap: the event loop calls these per request)

    def retry_after(self, client: str) -> int | None:
        """Seconds until ``client`` may try again, or ``None`` when it is under its limit."""
        window = self._windows.get(client)
        if window is None or self.per_minute <= 0 or window[1] < self.per_minute:
            return None
        left = window[0] + WINDOW_S - self._clock()
        return math.ceil(left) if left > 0 else None

    def failed(self, client: str, reason: str) -> None:
        now = self._clock()
        with self._lock:
            window = self._windows.get(client)
            if window is None or now - window[0] >= WINDOW_S:
                if len(self._windows) >= _MAX_CLIENTS:
                    self._prune(now)
                self._windows[client] = [now, 1]
            else:
                window[1] += 1
            tally = self._tally(client, now)
            tally.failures += 1
            if len(tally.reasons) < 8 or reason in tally.reasons:
                tally.reasons[reason] += 1

    def limited(self, client: str) -> None:
        with self._lock:
            self._tally(client, self._clock()).limited += 1

    def _tally(self, client: str, now: float) -> _Tally:
        tally = self._pending.get(client)
        if tally is None:
            tally = self._pending[client] = _Tally(now, now)
        tally.last = now
        return tally

    def _prune(self, now: float) -> None:
        self._windows = {c: w for c, w in self._windows.items() if now - w[0] < WINDOW_S}
        if len(self._windows) >= _MAX_CLIENTS:
            self._windows.clear()

    # ---- the audit log

    def flush(self) -> int:
        """Append one ``access.denied`` event per client seen since the last flush; returns
        how many were appended."""
        with self._lock:
            pending, self._pending = self._pending, {}
            self._prune(self._clock())
        if not pending:
            return 0
        ranked = sorted(pending.items(), key=lambda kv: -(kv[1].failures + kv[1].limited))
        shown, rest = ranked[:_MAX_EVENTS], ranked[_MAX_EVENTS:]
        if rest:
            merged = _Tally(min(t.first for _, t in rest), max(t.last for _, t in rest))
            for _, t in rest:
                merged.failures += t.failures
                merged.limited += t.limited
                merged.reasons.update(t.reasons)
            shown.append((f"{len(rest)} other addresses", merged))
        wall, mono = time.time(), self._clock()
        for client, tally in shown:
            reasons = dict(tally.reasons.most_common(8))
            payload = {
                "action": "authenticate",
                "reason": next(iter(reasons), "rate limited"),
                "client": client,
                "count": tally.failures + tally.limited,
                "failures": tally.failures,
                "rate_limited": tally.limited,
                "reasons": reasons,
                "first_at": _iso(wall - (mono - tally.first)),
                "last_at": _iso(wall - (mono - tally.last)),
            }
            try:
                self.recorder.record("anonymous", DENIED, f"client:{client}", payload)
            except Exception:  # the audit log being down must not take the limiter with it
                log.exception("could not record %d failed authentications", payload["count"])
        return len(shown)

    def start(self) -> None:
        if self._thread is not None:
            return
        self._stop.clear()
        self._thread = threading.Thread(
            target=self._run, name="mlwarden-auth-failures", daemon=True
        )
        self._thread.start()

    def stop(self) -> None:
        """Stop the thread and record what is pending (called when the server stops)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(10)
            self._thread = None
        self.flush()

    def _run(self) -> None:
        while not self._stop.wait(self.audit_interval_s):
            self.flush()


def _iso(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).isoformat()


class AuthGuard:
    """Raw ASGI: 429 before any other work for a client over its limit; counts refusals."""

    def __init__(self, app: ASGIApp, failures: AuthFailures, known: Callable[[str], bool]) -> None:
        self.app = app
        self.failures = failures
        self.known = known

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        peer = scope.get("client")
        client = peer[0] if peer else "unknown"
        wait = self.failures.retry_after(client)
        if wait is not None and not self._passes(scope):
            self.failures.limited(client)
            await _too_many(send, wait)
            return
        try:
            await self.app(scope, receive, send)
        finally:
            reason = scope.get(FAILED)
            if reason is not None:
                self.failures.failed(client, reason)

    def _passes(self, scope: Scope) -> bool:
        if scope["path"] in _OPEN_PATHS:
            return True
        for name, value in scope["headers"]:
            if name == b"authorization":
                scheme, _, token = value.decode("latin-1").partition(" ")
                return scheme.lower() == "bearer" and self.known(token.strip())
        return False


async def _too_many(send: Send, wait: int) -> None:
    body = json.dumps(
        {
            "error": "too_many_requests",
            "message": f"too many failed authentications from this address: retry in {wait} s",
            "details": {"retry_after_s": wait},
        }
    ).encode()
    await send(
        {
            "type": "http.response.start",
            "status": 429,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                (b"retry-after", str(wait).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
