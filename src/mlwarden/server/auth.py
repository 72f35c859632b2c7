"""Bearer-token authentication and server-side role checks.

Every endpoint but the health checks needs ``Authorization: Bearer mlw_…``, or, when
``oidc.issuer`` is set, an access token (a JWT) from that OpenID Provider. Warden tokens are
checked by ``AccessService.authenticate`` (hash look-up, expiry, revocation); provider tokens
by ``access.oidc.Verifier`` (keys, issuer, audience, expiry), their user created or synced by
``AccessService.oidc_user``. Refusals are audited per client (``server.abuse``). A good
answer is reused for ``auth_ttl_s`` seconds so the prediction hot path does not hit the
database per request. Revoking through this server takes effect at once; a revocation made
elsewhere (CLI, another replica) within ``auth_ttl_s``.
"""

from __future__ import annotations

import threading
import time
from collections.abc import MutableMapping
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Protocol

from fastapi import Depends, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from mlwarden._time import as_utc, utcnow
from mlwarden.access import TOKEN_PREFIX, AccessService, User, hash_token
from mlwarden.errors import AuthenticationError
from mlwarden.server.abuse import FAILED

if TYPE_CHECKING:
    from mlwarden.access.oidc import Verifier
    from mlwarden.client import Warden
    from mlwarden.settings import OIDCSettings

bearer = HTTPBearer(
    auto_error=False,
    scheme_name="token",
    description="An API token (`mlwarden tokens create USER`), sent as `Bearer mlw_…`.",
)


class Authenticator:
    def __init__(
        self,
        access: AccessService,
        ttl: float,
        *,
        audit: bool = True,
        oidc: OIDCSettings | None = None,
    ) -> None:
        self.access = access
        self.ttl = ttl
        self.oidc = oidc
        self._verifier: Verifier | None = None
        if oidc is not None and oidc.issuer:
            from mlwarden.access.oidc import Verifier

            self._verifier = Verifier(oidc)
        # False in the server: refusals are aggregated per client (mlwarden.server.abuse)
        self.audit = audit
        self._cache: dict[str, tuple[float, datetime | None, User]] = {}
        self._lock = threading.Lock()

    @property
    def verifier(self) -> Verifier | None:
        """The OIDC verifier, when ``oidc.issuer`` is set."""
        return self._verifier

    def cached(self, token: str) -> User | None:
        hit = self._cache.get(hash_token(token))
        if hit is None:
            return None
        until, expires_at, user = hit
        if time.monotonic() >= until or (expires_at is not None and utcnow() >= expires_at):
            return None
        return user

    def known(self, token: str) -> bool:
        """Whether ``token`` was accepted here lately (it may since have expired: callers
        still authenticate it); lets a good client past the flood limiter."""
        return hash_token(token) in self._cache

    def authenticate(self, token: str) -> User:
        if self._verifier is not None and not token.startswith(TOKEN_PREFIX):
            return self._provider_user(token)
        user = self.access.authenticate(token, audit=self.audit)  # raises on any refusal
        if self.ttl > 0:
            key = hash_token(token)
            found = self.access.store.find_token(key)
            expires_at = as_utc(found[0].expires_at) if found else None
            self._remember(key, expires_at, user)
        return user

    def _provider_user(self, token: str) -> User:
        assert self._verifier is not None and self.oidc is not None
        identity = self._verifier.verify(token)  # raises AuthenticationError, with the reason
        user = self.access.oidc_user(identity, sync_roles=self.oidc.sync_roles, audit=self.audit)
        if user.disabled:
            raise AuthenticationError(f"user {user.name!r} is disabled", subject="token:oidc")
        if self.ttl > 0:
            expires = datetime.fromtimestamp(identity.expires_at, UTC)
            self._remember(hash_token(token), expires, user)
        return user

    def _remember(self, key: str, expires_at: datetime | None, user: User) -> None:
        with self._lock:
            if len(self._cache) > 10_000:
                self._cache.clear()
            self._cache[key] = (time.monotonic() + self.ttl, expires_at, user)

    def forget(self) -> None:
        """Drop every cached answer (a token was revoked or a user changed here)."""
        with self._lock:
            self._cache.clear()


async def current_user(
    request: Request, creds: HTTPAuthorizationCredentials | None = Depends(bearer)
) -> User:
    return await user_for(request, None if creds is None else creds.credentials)


async def user_for(request: Request, token: str | None) -> User:
    return await token_user(request.scope, request.app.state.ctx.auth, token)


async def token_user(
    scope: MutableMapping[str, Any], auth: Authenticator, token: str | None
) -> User:
    """The user ``token`` belongs to, from the cache when it was accepted lately; a refusal is
    marked on ``scope`` for ``AuthGuard`` to count per client."""
    if not token:
        scope[FAILED] = "missing bearer token"
        raise AuthenticationError(
            "missing bearer token: send `Authorization: Bearer mlw_…`", subject="token:none"
        )
    user = auth.cached(token)
    if user is None:
        try:
            user = await run_in_threadpool(auth.authenticate, token)
        except AuthenticationError as exc:
            scope[FAILED] = exc.message  # counted per client by AuthGuard
            raise
    return user


async def header_user(request: Request) -> User:
    """``current_user`` without FastAPI's dependency machinery (the prediction hot path)."""
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    return await user_for(request, token.strip() if scheme.lower() == "bearer" else None)


class Governed(Protocol):
    """What :func:`check` reads of the server's context (``ServerContext`` has it; a
    Protocol here, so that the context may import this module and not the other way)."""

    @property
    def warden(self) -> Warden: ...


def check(ctx: Governed, user: User, action: str, subject: str, **details: Any) -> None:
    """Refuse (and audit the refusal) unless ``user`` may perform ``action`` on ``subject``:
    the global role, and for a model the grants on it and its team (a deny wins)."""
    decision = ctx.warden.access.decide(user, action, subject)
    if not decision.allowed:
        ctx.warden.access.deny(
            user.name, action, subject, decision.reason, role=user.role, **details
        )


def may_unseal(ctx: Governed, user: User) -> bool:
    """Whether ``user`` reads subject-linked predictions decrypted: the global role (and
    never through a scoped service token, whose scope names models only)."""
    return ctx.warden.access.decide(user, "subject.read", "subject:*").allowed
