"""Users, API tokens and approvals as the access services hand them out."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from mlwarden.entities.wire import Wire


@dataclass(frozen=True)
class User(Wire):
    """A person or service account with one role."""

    id: int
    name: str
    role: str
    created_at: datetime
    created_by: str
    disabled: bool = False
    #: set only on the user an API token authenticated, when that token has a scope
    #: (``access.scopes``): what the request may do is then also limited by it
    scope: str | None = None


@dataclass(frozen=True)
class Token(Wire):
    """An API token's record. The secret itself is never stored, only its SHA-256."""

    id: int
    user: str
    prefix: str
    created_at: datetime
    expires_at: datetime | None = None
    revoked_at: datetime | None = None
    last_used_at: datetime | None = None
    description: str | None = None
    #: what the token may do at most (``model:NAME:ACTION,…;…``), or ``None``: all its user may
    scope: str | None = None

    def active(self, now: datetime) -> bool:
        return self.revoked_at is None and (self.expires_at is None or now < self.expires_at)


@dataclass(frozen=True)
class NewToken(Wire):
    """What ``create_token`` returns: the record and the secret, shown this once."""

    token: str = field(repr=False)
    info: Token

    def __repr__(self) -> str:
        return f"NewToken(id={self.info.id}, user={self.info.user!r}, prefix={self.info.prefix!r})"


@dataclass(frozen=True)
class Approval(Wire):
    model: str
    version: int
    approver: str
    role: str
    comment: str | None
    created_at: datetime

    wire_derived = ("ref",)

    @property
    def ref(self) -> str:
        return f"{self.model}@{self.version}"


@dataclass(frozen=True)
class ApprovalStatus(Wire):
    """How many distinct approvals a version's risk tier requires and how many it has."""

    ref: str
    risk_tier: str
    required: int
    have: int
    approvers: tuple[str, ...]
    registered_by: str

    wire_derived = ("missing", "approved")

    @property
    def missing(self) -> int:
        return max(0, self.required - self.have)

    @property
    def approved(self) -> bool:
        return self.missing == 0


@dataclass(frozen=True)
class Grant(Wire):
    """A role allowed (``effect`` allow, ``what`` a role) or an action denied (``effect``
    deny, ``what`` an action or ``*``) to a user on a team's models or on one model."""

    user: str
    scope: str  # "team" | "model"
    target: str
    effect: str  # "allow" | "deny"
    what: str
    created_at: datetime | None = None
    created_by: str | None = None

    wire_derived = ("where",)

    @property
    def where(self) -> str:
        return f"{self.scope}:{self.target}"


@dataclass(frozen=True)
class AccessDecision(Wire):
    """Whether a user may perform an action (on a model), and the rule that decided:
    ``deny``, ``global``, ``grant``, ``scope``, ``none`` or ``disabled``."""

    allowed: bool
    role: str  # the role the user acts in
    reason: str
    rule: str
