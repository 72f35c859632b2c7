"""The persistence contract of permissions per team and model: teams, model ownership, grants.

Only primitives: the rules (deny wins, which role allows what) live in
``mlwarden.access.permissions``.
"""

from __future__ import annotations

from abc import ABC, abstractmethod

from mlwarden.entities.access import Grant


class PermissionStore(ABC):
    @abstractmethod
    def create_team(self, name: str, created_by: str) -> None:
        """``AlreadyExists`` (field ``name``) if the team exists."""

    @abstractmethod
    def list_teams(self) -> list[str]:
        """Team names, ordered."""

    @abstractmethod
    def set_model_team(self, model: str, team: str) -> None:
        """Make ``team`` the owner of ``model``; ``NotFound`` (field ``model`` or ``team``)."""

    @abstractmethod
    def model_team(self, model: str) -> str | None:
        """The team that owns ``model``, or ``None``."""

    @abstractmethod
    def model_teams(self) -> dict[str, str]:
        """Every owned model's name -> its team's name (one query: for filtering lists)."""

    @abstractmethod
    def add_grant(self, grant: Grant) -> Grant:
        """Store a grant; ``AlreadyExists`` (field ``grant``) if the same one exists."""

    @abstractmethod
    def remove_grant(self, grant: Grant) -> bool:
        """Delete the grant equal to ``grant`` (user, scope, target, effect, what)."""

    @abstractmethod
    def grants_on(self, user: str, model: str) -> list[Grant]:
        """``user``'s grants on ``model`` and on the team that owns it."""

    @abstractmethod
    def list_grants(self, user: str | None = None) -> list[Grant]:
        """All grants (of ``user``), ordered by user, scope, target."""
