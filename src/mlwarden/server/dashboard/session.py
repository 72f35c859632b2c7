"""Dashboard sessions: sign in once with an API token, then an HttpOnly cookie.

The cookie never holds the token. It holds a random session secret (32 bytes); the store keeps
only its SHA-256 in ``dashboard_sessions`` with the user, the id of the token used to sign in,
an expiry and, once signed out, ``revoked_at``. Each request re-reads the session, the user
and the token in one query, so signing out, disabling the user or revoking that token ends the
session at once, on every worker and replica, and across restarts (issue 14, finding 9).
No key is involved: there is nothing to share between workers or hosts but the database.

CSRF: every state-changing request carries a per-session token (a hidden field and an
``X-CSRF-Token`` header), a hash of the session secret under its own label (it reveals
nothing of the secret), compared in constant time. The cookie is ``SameSite=Strict`` too, and
every dashboard POST body is JSON, which a cross-site form cannot send without a CORS
preflight this server never grants.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import time
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

from mlwarden.access import User
from mlwarden.errors import AuthenticationError

COOKIE = "mlw_session"
#: Eight hours: a working day. Signing in again only needs the token.
MAX_AGE_S = 8 * 3600
_SECRET_BYTES = 32
_COOKIE_CHARS = 43  # unpadded base64 of 32 bytes


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _digest(purpose: bytes, secret: str) -> bytes:
    return hashlib.sha256(b"mlwarden-dashboard-" + purpose + b"\x00" + secret.encode()).digest()


@dataclass(frozen=True)
class Session:
    user: User
    sid: str
    token_id: int
    expires: int
    csrf: str


class Sessions:
    """Issues, checks and revokes dashboard sessions, kept in the store."""

    def __init__(self, access: Any) -> None:
        self.access = access

    @staticmethod
    def _id(sid: str) -> str:
        return _digest(b"session", sid).hex()

    def csrf_for(self, sid: str) -> str:
        return _b64(_digest(b"csrf", sid))

    # ---- sign in and out

    def sign_in(self, token: str, *, audit: bool = True) -> tuple[str, Session]:
        """Check an API token (audited on refusal unless ``audit`` is false: the server
        aggregates refusals per client) and return ``(cookie value, session)``."""
        token = token.strip()
        user = self.access.authenticate(token, audit=audit)  # raises AuthenticationError
        found = self.access.store.find_token(_hash(token))
        if found is None:  # revoked between the two reads
            raise AuthenticationError("unknown API token", subject="token:unknown")
        info, _ = found
        sid = _b64(secrets.token_bytes(_SECRET_BYTES))
        expires = int(time.time()) + MAX_AGE_S
        self.access.store.create_session(
            self._id(sid), user.id, info.id, datetime.fromtimestamp(expires, UTC)
        )
        return sid, Session(user, sid, info.id, expires, self.csrf_for(sid))

    def sign_out(self, session: Session) -> None:
        self.access.store.revoke_session(self._id(session.sid))

    # ---- each request

    def read(self, cookie: str | None) -> Session | None:
        """The session of a cookie, or ``None`` (absent, unknown, expired, signed out, or its
        user or token no longer valid)."""
        if not cookie or len(cookie) != _COOKIE_CHARS:  # not ours: no database read
            return None
        found = self.access.store.find_session(self._id(cookie))
        if found is None:
            return None
        expires_at, revoked_at, token, user = found
        now = _utcnow()
        if revoked_at is not None or expires_at <= now:
            return None
        if user.disabled or token.user != user.name or not token.active(now):
            return None
        if token.scope is not None:  # signed in with a service token: still only its scope
            user = replace(user, scope=token.scope)
        return Session(user, cookie, token.id, int(expires_at.timestamp()), self.csrf_for(cookie))

    def check_csrf(self, session: Session, sent: str | None) -> bool:
        return bool(sent) and hmac.compare_digest(str(sent), session.csrf)


def _hash(token: str) -> str:
    from mlwarden.access import hash_token

    return hash_token(token)


def _utcnow() -> Any:
    from mlwarden._time import utcnow

    return utcnow()
