"""The persistence contract of inference-logger halves waiting for their pair
(``mlwarden.monitor.kserve``): shared by every server process on one store."""

from __future__ import annotations

from abc import ABC, abstractmethod
from datetime import datetime
from typing import Literal

Kind = Literal["request", "response"]


class IngestStore(ABC):
    @abstractmethod
    def file_half(
        self,
        model: str,
        event_id: str,
        kind: Kind,
        event: str,
        *,
        now: datetime,
        expire_before: datetime,
        max_pending: int,
    ) -> tuple[str | None, str | None] | None:
        """File one half (``event``: its text) of ``(model, event_id)``, atomically: returns
        ``(request, response)`` as they now stand, and once both are in, forgets them; or
        ``None`` when a half of this kind is already waiting (a duplicate; nothing changes).
        Halves filed before ``expire_before`` are forgotten first, then the oldest beyond
        ``max_pending``."""
