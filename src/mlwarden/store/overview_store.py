"""The dashboard's read model: every model, or every version of one, with what its pages
show beside it (production version, latest gate decision, last monitored window, firing
alerts, approvals, last activity).

Only primitives, each a fixed number of batched queries whatever the number of rows (one per
table, never one per row), so the inventory of 500 models renders in well under 300 ms
(bench/ui.py). Nothing here changes state.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any


@dataclass(frozen=True)
class ModelOverview:
    """One inventory line: the model's row and the latest of everything around it."""

    name: str
    owner: str | None
    risk_tier: str
    intended_use: str | None
    description: str | None
    tags: dict[str, str]
    latest_version: int | None
    created_at: datetime | None
    production: int | None = None
    #: the model's latest gate decision: version, passed, policy (``None``: never checked)
    gate: tuple[int, bool, str | None] | None = None
    #: the latest monitored window of segment ``all``: its size, start and stored
    #: ``drift`` verdict (``dataset_drifted``, ``share_drifted``, …)
    window: str | None = None
    window_start: datetime | None = None
    window_drift: dict[str, Any] = field(default_factory=dict)
    firing_alerts: int = 0
    #: the newest change across versions, alias moves, decisions, approvals and windows
    last_activity: datetime | None = None


@dataclass(frozen=True)
class VersionOverview:
    """One line of a model's versions table: only the columns it shows."""

    version: int
    created_at: datetime
    created_by: str
    lineage: dict[str, Any]
    metrics: dict[str, Any]
    metrics_provenance: dict[str, str]
    gate_passed: bool | None  # the version's latest decision (``None``: never checked)
    approvals: int


class OverviewStore(ABC):
    """What the dashboard's inventory and model pages read."""

    @abstractmethod
    def model_overviews(self) -> list[ModelOverview]:
        """Every model, ordered by name."""

    @abstractmethod
    def version_overviews(self, name: str) -> list[VersionOverview]:
        """Every version of model ``name``, newest first; ``NotFound`` for no such model."""
