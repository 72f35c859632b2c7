"""The human-oversight persistence contract: each model's review rule and the review queue."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from datetime import datetime
from typing import Any

#: A flagged prediction: (prediction_id, version, output).
Flagged = tuple[str, int, Any]


class ReviewStore(ABC):
    """What ``mlwarden.monitor.oversight`` needs from storage. Every method is one atomic step
    and joins the caller's open transaction."""

    @abstractmethod
    def set_rule(self, model_id: int, rule: str, actor: str, now: datetime) -> None:
        """Set (or replace) the model's review rule."""

    @abstractmethod
    def rule(self, model_id: int) -> dict[str, Any] | None:
        """``{"rule", "set_by", "set_at"}`` or ``None`` when the model has none."""

    def rule_text(self, model_id: int) -> str | None:
        """Only the rule's text: what the prediction writer reads for every batch."""
        found = self.rule(model_id)
        return None if found is None else found["rule"]

    @abstractmethod
    def enqueue(self, model_id: int, items: Sequence[Flagged], now: datetime) -> int:
        """Queue predictions as ``pending``; one already queued is left as it is. Returns how
        many were added."""

    @abstractmethod
    def items(
        self, model_id: int, status: str | None = None, limit: int = 100
    ) -> list[dict[str, Any]]:
        """Queued predictions, oldest first: prediction_id, version, output, status,
        decided_output, reviewer, comment, flagged_at, decided_at."""

    @abstractmethod
    def decide(
        self,
        prediction_id: str,
        status: str,
        decided_output: Any,
        reviewer: str,
        comment: str | None,
        now: datetime,
    ) -> dict[str, Any]:
        """Record a reviewer's decision on a pending item and return it; ``NotFound`` when the
        prediction is not queued, ``Conflict`` when it was already decided."""

    @abstractmethod
    def counts(self, model_id: int) -> dict[str, int]:
        """Items per status: pending, confirmed, overridden (zeros included)."""
