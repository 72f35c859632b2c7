"""Dashboard sessions: sign in once with an API token, then a signed, HttpOnly cookie.

The cookie never holds the token. It holds the user's name, the id of the token used to sign
in, an expiry and a random session id, signed with HMAC-SHA256. Each request re-reads the
user and the token, so disabling the user or revoking that token ends the session at once
(the same rules as bearer auth, without caching). Signing out adds the session id to a
deny-list until the cookie would have expired anyway.

The signing key comes from ``MLWARDEN_DASHBOARD_SECRET`` (any string, 32+ characters); else
from a key file beside the audit signing key (``dashboard-session.key``, created on first use,
mode 0600), which every worker of one host shares; else a random key per process. Servers on
several hosts behind one address need the variable (or the same file) on every host.

CSRF: every state-changing request carries a per-session token (a hidden field and an
``X-CSRF-Token`` header) derived from the session id with the same key, compared in constant
time. The cookie is ``SameSite=Strict`` too, and every dashboard POST body is JSON, which a
cross-site form cannot send without a CORS preflight this server never grants.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import secrets
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mlwarden.access import User
from mlwarden.errors import AuthenticationError, NotFound

COOKIE = "mlw_session"
#: Eight hours: a working day. Signing in again only needs the token.
MAX_AGE_S = 8 * 3600
SECRET_ENV = "MLWARDEN_DASHBOARD_SECRET"


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


@dataclass(frozen=True)
class Session:
    user: User
    sid: str
    token_id: int
    expires: int
    csrf: str


class Sessions:
    """Issues, checks and revokes session cookies for one app."""

    def __init__(
        self,
        access: Any,
        secret: str | bytes | None = None,
        secret_file: Path | None = None,
    ) -> None:
        self.access = access
        raw = secret if secret is not None else os.environ.get(SECRET_ENV)
        if not raw and secret_file is not None:
            raw = shared_secret(secret_file)
        if isinstance(raw, str):
            raw = raw.encode()
        self._key = hashlib.sha256(raw).digest() if raw else secrets.token_bytes(32)
        self._revoked: dict[str, int] = {}
        self._lock = threading.Lock()

    # ---- signing

    def _mac(self, purpose: bytes, data: bytes) -> bytes:
        return hmac.new(self._key, purpose + b"\x00" + data, hashlib.sha256).digest()

    def csrf_for(self, sid: str) -> str:
        return _b64(self._mac(b"csrf", sid.encode()))

    # ---- sign in and out

    def sign_in(self, token: str) -> tuple[str, Session]:
        """Check an API token (audited on refusal) and return ``(cookie value, session)``."""
        token = token.strip()
        user = self.access.authenticate(token)  # raises AuthenticationError (audited)
        found = self.access.store.find_token(_hash(token))
        if found is None:  # revoked between the two reads
            raise AuthenticationError("unknown API token", subject="token:unknown")
        info, _ = found
        sid = secrets.token_urlsafe(18)
        expires = int(time.time()) + MAX_AGE_S
        body = json.dumps(
            {"u": user.name, "t": info.id, "e": expires, "s": sid}, separators=(",", ":")
        ).encode()
        value = f"{_b64(body)}.{_b64(self._mac(b'session', body))}"
        return value, Session(user, sid, info.id, expires, self.csrf_for(sid))

    def sign_out(self, session: Session) -> None:
        now = int(time.time())
        with self._lock:
            self._revoked = {s: e for s, e in self._revoked.items() if e > now}
            self._revoked[session.sid] = session.expires

    # ---- each request

    def read(self, cookie: str | None) -> Session | None:
        """The session of a cookie, or ``None`` (absent, forged, expired, signed out, or its
        user or token no longer valid)."""
        if not cookie or "." not in cookie or len(cookie) > 2048:
            return None
        body_b64, _, mac_b64 = cookie.partition(".")
        try:
            body = _unb64(body_b64)
            mac = _unb64(mac_b64)
        except (ValueError, TypeError):
            return None
        if not hmac.compare_digest(mac, self._mac(b"session", body)):
            return None
        try:
            data = json.loads(body)
            name, token_id, expires, sid = data["u"], int(data["t"]), int(data["e"]), data["s"]
        except (ValueError, KeyError, TypeError):
            return None
        if expires <= time.time() or sid in self._revoked:
            return None
        try:
            user = self.access.get_user(name)
            token = self.access.store.get_token(token_id)
        except NotFound:
            return None
        now = _utcnow()
        if user.disabled or token.user != user.name or not token.active(now):
            return None
        return Session(user, sid, token_id, expires, self.csrf_for(sid))

    def check_csrf(self, session: Session, sent: str | None) -> bool:
        return bool(sent) and hmac.compare_digest(str(sent), session.csrf)


def shared_secret(path: Path) -> bytes | None:
    """The key file's bytes, creating it (32 random bytes, 0600) if absent; ``None`` when
    the folder cannot be written (a read-only deployment falls back to a per-process key)."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        pass
    except OSError:
        return None
    else:
        # exclusive create: of several workers starting at once, exactly one writes it
        with os.fdopen(fd, "wb") as f:
            f.write(secrets.token_bytes(32))
    for _ in range(50):  # another worker may be between its create and its write
        try:
            data = path.read_bytes()
        except OSError:
            return None
        if len(data) >= 32:
            return data
        time.sleep(0.01)
    return None


def _hash(token: str) -> str:
    from mlwarden.access import hash_token

    return hash_token(token)


def _utcnow() -> Any:
    from mlwarden.store.sql.database import utcnow

    return utcnow()
