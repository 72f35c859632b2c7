"""The tool-call persistence contract: the MCP gateway's log of agents' calls and the
approvals of the calls a policy held for a person to decide."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from mlwarden.entities.agents import ToolCall, Verdict


class ToolCallStore(ABC):
    """Payloads (``arguments``, ``result``) are stored as given: text the caller masked and,
    for a data subject, sealed. Every method is one atomic step."""

    @abstractmethod
    def insert(self, call: ToolCall) -> None:
        """Log a call (joins the caller's transaction); ``AlreadyExists`` for a known id."""

    @abstractmethod
    def insert_many(self, calls: Sequence[ToolCall]) -> None:
        """Log several calls in one statement (joins the caller's transaction)."""

    @abstractmethod
    def finish(
        self,
        call_id: str,
        *,
        status: str,
        result: str | None = None,
        error: str | None = None,
        latency_ms: float | None = None,
        audit_seq: int | None = None,
    ) -> None:
        """Record how a call ended; ``NotFound`` for an unknown id."""

    @abstractmethod
    def get(self, call_id: str) -> ToolCall:
        """The call as stored (payloads as stored text); ``NotFound`` for an unknown id."""

    @abstractmethod
    def find(
        self, *, agent: str | None = None, status: str | None = None, limit: int = 100
    ) -> list[ToolCall]:
        """Calls newest first, optionally of one agent and one status."""

    @abstractmethod
    def recent(self, agent: str, since: datetime) -> list[tuple[str, str]]:
        """``(tool, decision)`` of the agent's calls at or after ``since``, oldest first."""

    @abstractmethod
    def set_status(self, call_id: str, status: str, *, expected: str) -> bool:
        """Move a call from ``expected`` to ``status`` (compare and set); whether it moved."""

    @abstractmethod
    def add_verdict(self, verdict: Verdict) -> None:
        """Record one person's verdict; ``AlreadyExists`` if that person already gave one."""

    @abstractmethod
    def verdicts(self, call_id: str) -> list[Verdict]:
        """Verdicts on a call, oldest first."""

    @abstractmethod
    def subject_calls(self, subject: str) -> Sequence[dict[str, Any]]:
        """``{id, arguments, result}`` rows of every call logged for a subject pseudonym."""
