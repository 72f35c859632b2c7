"""Who is acting and what they may do: users, API tokens, role checks, audited refusals.

Embedded mode: identity is the OS user (or ``MLWARDEN_ACTOR``), asserted, not authenticated.
While the ``users`` table is empty every actor has every role (single-user mode); once any
user exists, roles come from the table and unknown actors are refused. Separation of duties
applies in both modes, by identity. A server authenticates API tokens (:meth:`authenticate`)
and checks roles with the same table. See docs/access.md.
"""

from __future__ import annotations

import hashlib
import re
import secrets
import time
from collections.abc import Callable
from dataclasses import replace
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, NoReturn

from mlwarden._time import utcnow
from mlwarden.access.decisions import Decision, decide, model_of
from mlwarden.access.recorder import Recorder
from mlwarden.access.roles import ADMIN, NO_ROLE, check_role
from mlwarden.access.scopes import normalize_scope, scope_allows
from mlwarden.entities.access import Grant, NewToken, Token, User
from mlwarden.errors import (
    AlreadyExists,
    AuthenticationError,
    NotFound,
    PermissionDenied,
    ValidationError,
)
from mlwarden.store.access_store import AccessStore

if TYPE_CHECKING:
    from mlwarden.access.oidc import Identity
    from mlwarden.store.permission_store import PermissionStore

#: Tokens start with this, so scanners (and people) recognise a leaked Warden token.
TOKEN_PREFIX = "mlw_"
#: Characters of a token kept in clear to identify it in lists and the audit log.
SHOWN_CHARS = 12
#: The effective role recorded for actors in single-user mode (no users exist yet).
SINGLE_USER = "single-user"

_TOUCH_EVERY = timedelta(minutes=1)
_USER_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@+-]{0,255}$")
_DURATION_RE = re.compile(r"^\s*(\d+)\s*([smhdw])\s*$")
_MAX_TTL = timedelta(days=36_525)
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


def parse_duration(value: str | timedelta | None) -> timedelta | None:
    """``"30d"``, ``"12h"``, ``"2w"``, ``"90m"`` or a ``timedelta``; ``None`` never expires."""
    if value is None or isinstance(value, timedelta):
        return value
    m = _DURATION_RE.fullmatch(value)
    if not m or int(m.group(1)) == 0:
        raise ValidationError(
            f"invalid duration {value!r}: use a positive number and s, m, h, d or w (e.g. 30d)",
            field="expires_in",
        )
    try:
        ttl = timedelta(**{_UNITS[m.group(2)]: int(m.group(1))})
    except OverflowError:
        ttl = _MAX_TTL + _MAX_TTL
    if ttl > _MAX_TTL:  # a later date overflows the clock and the database column
        raise ValidationError(f"invalid duration {value!r}: at most 100 years", field="expires_in")
    return ttl


def hash_token(token: str) -> str:
    # A plain SHA-256 is right here, unlike for passwords: the token carries 256 random bits,
    # so there is nothing to guess and slow hashing (bcrypt, argon2) would only slow down
    # every authenticated request. A stolen table reveals no usable token.
    return hashlib.sha256(token.encode()).hexdigest()


class AccessService:
    def __init__(
        self,
        store: AccessStore,
        recorder: Recorder,
        *,
        transaction: Callable[[], Any],
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.store = store
        self.recorder = recorder
        self._transaction = transaction
        self._clock = clock
        #: set by the facade: grants per team and model (access/permissions.py)
        self.grants: PermissionStore | None = None
        #: how long grants are reused in this process: 0 (always read) unless a server sets
        #: its auth_ttl_s (changes made here apply at once; elsewhere within this time)
        self.grants_ttl_s = 0.0
        self._grants_cache: dict[tuple[str, str], tuple[float, list[Grant]]] = {}

    # ---- role checks

    def single_user(self) -> bool:
        return not self.store.any_users()

    def require(self, actor: str, action: str, subject: str) -> str:
        """Check ``actor`` may perform ``action`` on ``subject``; return the role it acts in.

        A refusal is audited (in its own transaction) and raised as ``PermissionDenied``.
        Call it before opening the transaction of the action itself.
        """
        if self.single_user():
            return SINGLE_USER
        user = self.store.get_user(actor)
        if user is None:
            self.deny(
                actor,
                action,
                subject,
                f"{actor} is not a registered user (users exist, so roles are enforced: "
                f"an admin runs `mlwarden users add {actor} --role …`)",
            )
        decision = self.decide(user, action, subject)
        if not decision.allowed:
            self.deny(actor, action, subject, decision.reason, role=user.role)
        return decision.role

    def decide(self, user: User, action: str, subject: str) -> Decision:
        """Whether ``user`` may perform ``action`` on ``subject``: the global role, and for a
        model the grants on it and its team (an explicit deny wins). Pure: no audit."""
        if user.scope is not None and not scope_allows(user.scope, action, subject):
            return Decision(
                False,
                user.role,
                f"{user.name}'s token is scoped to {user.scope!r}: not {action} on {subject}",
                "scope",
            )
        model = model_of(subject)
        grants = self._grants_on(user.name, model) if model else []
        return decide(user, action, grants, model)

    def _grants_on(self, user: str, model: str) -> list[Grant]:
        if self.grants is None:
            return []
        if self.grants_ttl_s <= 0:
            return self.grants.grants_on(user, model)
        # reused briefly: the server checks on every request, predictions included
        now = time.monotonic()
        hit = self._grants_cache.get((user, model))
        if hit is not None and hit[0] > now:
            return hit[1]
        found = self.grants.grants_on(user, model)
        if len(self._grants_cache) > 10_000:
            self._grants_cache.clear()
        self._grants_cache[(user, model)] = (now + self.grants_ttl_s, found)
        return found

    def forget_grants(self) -> None:
        self._grants_cache.clear()

    def readable(self, user: User, models: list[str], action: str = "read") -> set[str]:
        """The names in ``models`` that ``user`` may ``action``: what lists show them. A few
        queries in all (the user's grants, and model ownership if a team grant exists), not
        one per model."""
        store = self.grants
        every = store.list_grants(user.name) if store is not None else []
        teams = store.model_teams() if store and any(g.scope == "team" for g in every) else {}
        shown = set()
        for name in models:
            on = [g for g in every if g.target == (name if g.scope == "model" else teams.get(name))]
            subject = f"model:{name}"
            if user.scope is not None and not scope_allows(user.scope, action, subject):
                continue
            if decide(user, action, on, name).allowed:
                shown.add(name)
        return shown

    def deny(self, actor: str, action: str, subject: str, reason: str, **details: Any) -> NoReturn:
        """Record the refused attempt, then raise ``PermissionDenied`` with the reason."""
        self.recorder.denied(actor, action, subject, reason, **details)
        raise PermissionDenied(reason, actor=actor, action=action, subject=subject, **details)

    # ---- users

    def create_user(self, name: str, role: str, *, actor: str) -> User:
        if not isinstance(name, str) or not _USER_RE.fullmatch(name):
            raise ValidationError(
                f"invalid user name {name!r}: letters, digits and . _ @ + - (max 256)",
                field="name",
            )
        check_role(role)
        subject = f"user:{name}"
        if self.single_user() and role != ADMIN:
            # The first user ends single-user mode; if it were not an admin, nobody could
            # add the next one.
            raise ValidationError(
                "the first user must have role 'admin' (it turns on role enforcement)",
                field="role",
            )
        self.require(actor, "user.create", subject)
        with self._transaction():
            user = self.store.create_user(name, role, actor)
            self.recorder.record(actor, "user.create", subject, {"role": role})
        return user

    def oidc_user(self, identity: Identity, *, sync_roles: bool = True, audit: bool = True) -> User:
        """The user a verified OIDC token names, created on first sign-in with the role the
        provider's groups map to, or none (default deny); audited. A local user of the same
        name is not taken over: a provider's ``preferred_username`` is not proof of it."""
        via = f"oidc:{identity.issuer}"
        subject = f"user:{identity.name}"
        if not _USER_RE.fullmatch(identity.name):
            self._refuse(
                subject, f"the provider's user name {identity.name!r} is not valid here", None, True
            )
        user = self.store.get_user(identity.name)
        role = identity.mapped_role or NO_ROLE
        details = {
            "via": "oidc",
            "issuer": identity.issuer,
            "sub": identity.subject,
            "groups": list(identity.groups),
        }
        if user is None:
            try:
                with self._transaction():
                    user = self.store.create_user(identity.name, role, via)
                    self.recorder.record(via, "user.create", subject, {"role": role, **details})
                return user
            except AlreadyExists:  # signed in twice at once: the other request created it
                user = self.get_user(identity.name)
        if user.created_by != via:
            self._refuse(
                subject,
                f"user {identity.name!r} was not created by {via}: a "
                "provider sign-in does not take over another account",
                None,
                True,
            )
        if sync_roles and user.role != role:
            with self._transaction():
                user = self.store.set_role(identity.name, role)
                self.recorder.record(via, "user.role", subject, {"role": role, **details})
        return user

    def set_role(self, name: str, role: str, *, actor: str) -> User:
        """Change a user's role (``none`` takes every permission away); admins only, audited.
        For users the provider created, ``oidc.sync_roles`` overrides it at their next
        sign-in: grant through ``oidc.role_map`` there."""
        check_role(role)
        subject = f"user:{name}"
        self.get_user(name)
        self.require(actor, "user.create", subject)
        with self._transaction():
            user = self.store.set_role(name, role)
            self.recorder.record(actor, "user.role", subject, {"role": role})
        return user

    def get_user(self, name: str) -> User:
        user = self.store.get_user(name)
        if user is None:
            raise NotFound(f"no user {name!r}", field="name", name=name)
        return user

    def list_users(self) -> list[User]:
        return self.store.list_users()

    # ---- tokens

    def create_token(
        self,
        user: str,
        *,
        actor: str,
        expires_in: str | timedelta | None = None,
        description: str | None = None,
        parent: Token | None = None,
        scope: str | None = None,
    ) -> NewToken:
        """A new API token for ``user``. Its secret is in the result only: keep it now.

        ``parent`` is the token the request was authenticated with (over HTTP): the new
        token never outlives it, so a stolen short-lived token cannot mint a lasting one.
        ``scope`` (``access.scopes``) limits it to some models and actions: a service token.
        """
        owner = self.get_user(user)
        ttl = parse_duration(expires_in)
        scope = normalize_scope(scope)
        subject = f"user:{user}"
        self.require(actor, "token.create" if actor == user else "token.manage", subject)
        secret = TOKEN_PREFIX + secrets.token_urlsafe(32)  # 32 random bytes
        expires_at = None if ttl is None else self._clock() + ttl
        capped_by = None
        limit = None if parent is None else parent.expires_at
        if limit is not None and (expires_at is None or expires_at > limit):
            expires_at, capped_by = limit, parent.id  # type: ignore[union-attr]
        with self._transaction():
            info = self.store.create_token(
                owner.id, secret[:SHOWN_CHARS], hash_token(secret), expires_at, description, scope
            )
            # Never the secret, nor its hash: the id and the shown prefix identify it.
            self.recorder.record(
                actor,
                "token.create",
                f"token:{info.id}",
                {
                    "user": user,
                    "prefix": info.prefix,
                    "expires_at": None if expires_at is None else expires_at.isoformat(),
                    "description": description,
                    **({"scope": scope} if scope is not None else {}),
                    **({"capped_by": f"token:{capped_by}"} if capped_by is not None else {}),
                },
            )
        return NewToken(secret, info)

    def revoke_token(self, token_id: int, *, actor: str) -> Token:
        token = self.store.get_token(token_id)
        subject = f"token:{token_id}"
        self.require(actor, "token.revoke" if actor == token.user else "token.manage", subject)
        with self._transaction():
            revoked = self.store.revoke_token(token_id)
            self.recorder.record(
                actor, "token.revoke", subject, {"user": token.user, "prefix": token.prefix}
            )
        return revoked

    def list_tokens(self, user: str | None = None) -> list[Token]:
        return self.store.list_tokens(user)

    def find_token(self, token: str) -> Token | None:
        """The record of the token whose secret is ``token``, or ``None``: no check of
        expiry or revocation (``authenticate`` does those)."""
        found = self.store.find_token(hash_token(token))
        return None if found is None else found[0]

    def authenticate(self, token: str, *, audit: bool = True) -> User:
        """The user a bearer token belongs to; ``AuthenticationError`` otherwise, audited
        unless ``audit`` is false (the server aggregates refusals per client and minute
        instead of one signed event per request: ``mlwarden.server.abuse``)."""
        if not isinstance(token, str) or not token.startswith(TOKEN_PREFIX):
            self._refuse("token:unknown", "not a Warden API token", None, audit)
        found = self.store.find_token(hash_token(token))
        if found is None:
            self._refuse("token:unknown", "unknown API token", token[:SHOWN_CHARS], audit)
        info, user = found
        now = self._clock()
        subject = f"token:{info.id}"
        if info.revoked_at is not None:
            self._refuse(subject, f"API token {info.id} was revoked", info.prefix, audit)
        if info.expires_at is not None and now >= info.expires_at:
            self._refuse(subject, f"API token {info.id} expired", info.prefix, audit)
        if user.disabled:
            self._refuse(subject, f"user {user.name!r} is disabled", info.prefix, audit)
        # Not audited: it would add one signed event per request. The log has the token's
        # creation and revocation; the server's access log has its use. Written at most once
        # a minute per token: a write (and on SQLite an fsync) per request would cap the server.
        if info.last_used_at is None or now - info.last_used_at >= _TOUCH_EVERY:
            self.store.touch_token(info.id)
        # a service token acts as its user, narrowed to its scope (checked in ``decide``)
        return user if info.scope is None else replace(user, scope=info.scope)

    def _refuse(self, subject: str, reason: str, prefix: str | None, audit: bool) -> NoReturn:
        if audit:
            self.recorder.denied("anonymous", "authenticate", subject, reason, prefix=prefix)
        raise AuthenticationError(reason, subject=subject)
