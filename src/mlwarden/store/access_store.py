"""The access-control persistence contract: users, API tokens, dashboard sessions, approvals.

Only primitives: the rules (roles, separation of duties, expiry) live in ``mlwarden.access``.
Each method is one atomic step; a write joins the caller's open transaction when there is one.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from datetime import datetime

from mlwarden.entities.access import Approval, Token, User


class AccessStore(ABC):
    """What the access services need from storage."""

    # ---- users

    @abstractmethod
    def any_users(self) -> bool:
        """Whether at least one user exists (bootstrap is allowed only before)."""

    @abstractmethod
    def count_users(self) -> int: ...

    @abstractmethod
    def create_user(self, name: str, role: str, created_by: str) -> User:
        """Create an enabled user; ``AlreadyExists`` (field ``name``) if the name is taken."""

    @abstractmethod
    def get_user(self, name: str) -> User | None:
        """The user, or ``None`` if there is none by that name."""

    @abstractmethod
    def list_users(self) -> list[User]:
        """All users, ordered by name."""

    @abstractmethod
    def set_role(self, name: str, role: str) -> User:
        """Change a user's role; ``NotFound`` (field ``name``) if there is no such user."""

    # ---- tokens (only their SHA-256 is stored)

    @abstractmethod
    def create_token(
        self,
        user_id: int,
        prefix: str,
        sha256: str,
        expires_at: datetime | None,
        description: str | None,
        scope: str | None = None,
    ) -> Token:
        """Store a token's hash (and its scope); it is neither revoked nor used yet."""

    @abstractmethod
    def get_token(self, token_id: int) -> Token:
        """The token; ``NotFound`` (field ``id``) for an unknown id."""

    @abstractmethod
    def find_token(self, sha256: str) -> tuple[Token, User] | None:
        """The token with this hash and its user, or ``None``."""

    @abstractmethod
    def list_tokens(self, user: str | None = None) -> list[Token]:
        """Tokens (of one user's name, or all), in creation order."""

    @abstractmethod
    def revoke_token(self, token_id: int) -> Token:
        """Set ``revoked_at`` once (a second revocation keeps the first time); ``NotFound``
        for an unknown id."""

    @abstractmethod
    def touch_token(self, token_id: int) -> None:
        """Record a use (``last_used_at``)."""

    # ---- dashboard sessions (the rules are in mlwarden.server.dashboard.session)

    @abstractmethod
    def create_session(
        self, sha256: str, user_id: int, token_id: int, expires_at: datetime
    ) -> None: ...

    @abstractmethod
    def find_session(self, sha256: str) -> tuple[datetime, datetime | None, Token, User] | None:
        """``(expires_at, revoked_at, token, user)`` of a session, or ``None``."""

    @abstractmethod
    def revoke_session(self, sha256: str) -> None:
        """Set the session's ``revoked_at`` once; unknown sessions are ignored."""

    # ---- approvals

    @abstractmethod
    def add_approval(
        self, name: str, version: int, approver: str, role: str, comment: str | None
    ) -> Approval:
        """Record one approval; ``AlreadyExists`` (field ``approver``) if this approver has
        approved this version already."""

    @abstractmethod
    def list_approvals(self, name: str, version: int) -> list[Approval]:
        """A version's approvals, in the order they were given."""
