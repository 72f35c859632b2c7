"""The validation-findings persistence contract (``mlwarden.reports.findings``)."""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

SEVERITIES = ("low", "medium", "high", "critical")
STATUSES = ("open", "in_progress", "remediated", "accepted", "closed")
#: Statuses that still need work: a validation report counts them as outstanding.
OPEN_STATUSES = ("open", "in_progress")
#: Fields a finding update may change.
EDITABLE = ("title", "description", "severity", "status", "owner")


@dataclass(frozen=True)
class Finding:
    id: int
    model: str
    version: int | None
    title: str
    description: str | None
    severity: str
    status: str
    owner: str
    created_by: str
    created_at: datetime
    updated_by: str
    updated_at: datetime

    @property
    def ref(self) -> str:
        return self.model if self.version is None else f"{self.model}@{self.version}"

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "ref": self.ref}


class FindingStore(ABC):
    """Each method is one atomic step and joins the caller's open transaction."""

    @abstractmethod
    def add(
        self,
        model: str,
        version: int | None,
        fields: dict[str, Any],
        actor: str,
        now: datetime,
    ) -> Finding:
        """Store a new finding (``fields``: the ``EDITABLE`` ones); ids increase."""

    @abstractmethod
    def get(self, finding_id: int) -> Finding:
        """One finding; ``NotFound`` if there is none with that id."""

    @abstractmethod
    def update(
        self, finding_id: int, changes: dict[str, Any], actor: str, now: datetime
    ) -> Finding:
        """Apply ``changes`` (``EDITABLE`` fields) and return the finding; ``NotFound``."""

    @abstractmethod
    def list(self, model: str, version: int | None = None) -> list[Finding]:
        """A model's findings by id; with ``version``, that version's and the model-wide
        ones (``version`` null)."""
