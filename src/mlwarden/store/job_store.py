"""The server jobs' persistence contract (``mlwarden.server.jobs``): one row per job, so any
worker or replica answers a poll."""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, ClassVar, Literal

from mlwarden.entities.wire import Wire

State = Literal["queued", "running", "succeeded", "failed"]
FINISHED: tuple[State, ...] = ("succeeded", "failed")


@dataclass
class Job(Wire):
    id: str
    kind: str
    owner: str
    subject: str
    state: State = "queued"
    progress: str = "queued"
    result: Any = None
    error: dict[str, Any] | None = None
    created_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    updated_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    #: the server process running it (``host:pid:token``); not part of the API's answer
    runner: str = ""

    wire_exclude: ClassVar[tuple[str, ...]] = ("runner",)


class JobStore(ABC):
    @abstractmethod
    def create(self, job: Job) -> None:
        """Store a new job."""

    @abstractmethod
    def update(self, job_id: str, **changes: Any) -> None:
        """Set ``state``, ``progress``, ``result`` (JSON-ready) or ``error`` of a job, and
        its ``updated_at`` to now."""

    @abstractmethod
    def get(self, job_id: str) -> Job | None:
        """The job, or ``None``."""

    @abstractmethod
    def touch(self, runner: str) -> int:
        """Set ``updated_at`` to now on the runner's unfinished jobs (its heartbeat); returns
        how many."""

    @abstractmethod
    def forget_finished(self, keep: int) -> int:
        """Delete finished jobs but the ``keep`` most recently updated; returns how many
        went."""
