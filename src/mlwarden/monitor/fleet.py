"""Monitoring a fleet: every model's new windows in one job, each window evaluated once.

A window that was already closed (its end passed) when its result was stored is final: its
profile and result stay in ``monitor_windows`` and later runs start after it, so the raw rows
of a day are read, profiled and scored once. Longer windows come from merging those stored
profiles (``MonitorService.rollup``), never from the raw rows again. The models are
independent, so the job maps over them with whatever ``map`` the caller brings: the builtin
(one after another), a thread pool's, or (through the facade) processes or a Dask cluster.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from mlwarden.entities.wire import Wire
from mlwarden.errors import WardenError

Map = Callable[[Callable[[Any], Any], Iterable[Any]], Iterator[Any]]


@dataclass(frozen=True)
class ModelOutcome(Wire):
    """What one fleet job did for one model version."""

    name: str
    version: int
    window: str
    new_windows: int = 0  # evaluated now (profiled, compared, scored, stored)
    kept_windows: int = 0  # closed windows stored earlier, not read again
    rows: int = 0  # raw predictions read now
    drifted: bool | None = None  # the newest window's dataset drift; None: no window
    seconds: float = 0.0
    error: str | None = None  # why this model was skipped (no reference profile, say)


@dataclass(frozen=True)
class FleetReport:
    window: str
    models: tuple[ModelOutcome, ...]
    seconds: float
    executor: str = "serial"
    workers: int = 1

    @property
    def rows(self) -> int:
        return sum(m.rows for m in self.models)

    @property
    def drifted(self) -> list[str]:
        return [m.name for m in self.models if m.drifted]

    @property
    def errors(self) -> dict[str, str]:
        return {m.name: m.error for m in self.models if m.error}

    def to_dict(self) -> dict[str, Any]:
        # a summary, not the fields: totals over the models, then each model's outcome
        return {
            "window": self.window,
            "seconds": self.seconds,
            "executor": self.executor,
            "workers": self.workers,
            "models": len(self.models),
            "rows": self.rows,
            "new_windows": sum(m.new_windows for m in self.models),
            "kept_windows": sum(m.kept_windows for m in self.models),
            "drifted": self.drifted,
            "errors": self.errors,
            "outcomes": [m.to_dict() for m in self.models],
        }

    def __repr__(self) -> str:
        return (
            f"FleetReport({len(self.models)} models, window={self.window!r}, "
            f"{self.rows} rows in {self.seconds:.1f} s, {len(self.drifted)} drifted, "
            f"{len(self.errors)} errors)"
        )


def resume_after(closed: list[tuple[datetime, datetime]]) -> tuple[datetime | None, int]:
    """``(start, kept)``: where evaluation resumes, after the newest window that was closed
    when stored (``closed`` holds ``(end, computed_at)`` of each stored window), and how many
    stored windows that keeps. Windows stored while still open are evaluated again."""
    final = [end for end, computed in closed if computed >= end]
    return (max(final), len(final)) if final else (None, 0)


def guarded(task: Callable[[], ModelOutcome], name: str, version: int, window: str) -> ModelOutcome:
    """Run ``task`` for one model; an error becomes that model's outcome, never the fleet's."""
    started = time.perf_counter()
    try:
        return task()
    except WardenError as exc:
        error = exc.message
    except Exception as exc:  # one model's bad data must not stop 499 others
        error = f"{type(exc).__name__}: {exc}"
    return ModelOutcome(name, version, window, seconds=time.perf_counter() - started, error=error)
