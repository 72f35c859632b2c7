"""The policy-decision persistence contract: one record per gate evaluation."""

from __future__ import annotations

from abc import ABC, abstractmethod

from mlwarden.entities.policy import Decision


class DecisionStore(ABC):
    """What the policy service needs from storage. Every method is one atomic step."""

    @abstractmethod
    def add(self, name: str, version: int, decision: Decision) -> Decision:
        """Store ``decision`` (joins the caller's transaction); returns it with its new id.
        ``NotFound`` if the model does not exist."""

    @abstractmethod
    def get(self, decision_id: int) -> Decision:
        """The decision as stored; ``NotFound`` for an unknown id."""

    @abstractmethod
    def list(
        self, name: str, version: int | None = None, *, limit: int | None = None
    ) -> list[Decision]:
        """Decisions for a model (or one version), newest first, at most ``limit``."""
