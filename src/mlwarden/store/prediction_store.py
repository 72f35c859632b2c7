"""The prediction-log persistence contracts: logged predictions with their labels, data
subjects' rights over them, and monitoring results as a time series."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from contextlib import AbstractContextManager
from datetime import datetime
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pandas as pd


class PredictionStore(ABC):
    """What logging, look-up, monitoring and subject rights need from storage.

    Rows are column-oriented (``{column: sequence}``, the columns of
    ``mlwarden.store.sql.predictions.COLUMNS``). ``subject`` holds a raw identifier on the way
    in and a pseudonym in storage; a store with a subject vault seals those rows' payloads.
    """

    @abstractmethod
    def transaction(self) -> AbstractContextManager[Any]:
        """The unit of work that this store's writes and the caller's audit event share:
        both commit, or neither."""

    @abstractmethod
    def timestamps(self, ts: pd.Series) -> list[Any]:
        """``ts`` (timezone-aware) in the form this store writes fastest, for ``insert``."""

    @abstractmethod
    def insert(self, rows: dict[str, Sequence[Any]]) -> None:
        """Insert the rows, all or none; ``AlreadyExists`` (field ``ids``) if an id is
        already logged."""

    @abstractmethod
    def id_versions(self, model_id: int, ids: Sequence[str]) -> dict[str, int]:
        """The version each of ``ids`` was logged under; unknown ids are absent."""

    @abstractmethod
    def version_counts(
        self, model_id: int, *, since: datetime | None = None, until: datetime | None = None
    ) -> dict[int, int]:
        """Logged predictions per version in [since, until), versions in ascending order."""

    @abstractmethod
    def upsert_labels(self, model_id: int, ids: Sequence[str], values: Sequence[str]) -> None:
        """Set the label of each prediction, replacing an earlier one."""

    @abstractmethod
    def read(
        self,
        model_id: int | None,
        *,
        since: datetime | None = None,
        until: datetime | None = None,
        version: int | None = None,
        ids: Sequence[str] | None = None,
        subject: str | None = None,
        limit: int | None = None,
        offset: int = 0,
        unseal: bool = True,
        columns: Sequence[str] | None = None,
    ) -> pd.DataFrame:
        """Predictions with their labels, ordered by time then id, inputs expanded into
        columns; ``since`` inclusive, ``until`` exclusive; empty frame when none match.
        ``columns`` narrows the stored columns read (``id``, ``ts``, ``subject`` always)."""

    @abstractmethod
    def get(self, prediction_id: str, *, unseal: bool = True) -> dict[str, Any] | None:
        """One prediction with its model's name and label, or ``None``."""

    @abstractmethod
    def link_batches(self, links: Sequence[tuple[str, int, str | None]]) -> None:
        """Record each ``(batch, seq, ids)`` in the current transaction: a batch (its rows'
        ``batch``), the seq of its ``predictions.log`` audit event, and its ids in logged
        order joined by newlines (the text the event's ``ids_sha256`` hashes), or None."""

    @abstractmethod
    def batch_link(self, batch: str) -> tuple[int, list[str] | None] | None:
        """``(seq, ids)`` recorded for ``batch`` by :meth:`link_batches`, or ``None``."""

    @abstractmethod
    def positions(self, model_id: int, version: int, ids: Sequence[str]) -> dict[str, Any]:
        """Each known id's insertion position among the version's rows (comparable values,
        for :meth:`ids_between`); unknown ids are absent. For rows that name no batch
        (logged before migration 0026)."""

    @abstractmethod
    def ids_between(self, model_id: int, version: int, first: Any, last: Any) -> list[str]:
        """The version's ids inserted from position ``first`` to ``last`` (both included),
        in insertion order."""

    @abstractmethod
    def erase_subject(self, subject: str) -> int:
        """Shred one subject (by pseudonym): its payloads become unreadable, its scores and
        labels are dropped, its rows keep id, time and version. Returns the rows affected."""

    @abstractmethod
    def scrub(self, *, vacuum: bool = False) -> dict[str, bool]:
        """After an erasure: leave no copy of erased data in the database's own files."""

    @abstractmethod
    def purge(self, model_id: int, before_day: int) -> int:
        """Delete the model's predictions (and labels) logged before day ``yyyymmdd``;
        returns how many predictions went."""

    @abstractmethod
    def set_retention(self, model: str, days: int, actor: str) -> None:
        """Keep ``model``'s predictions ``days`` days (replacing an earlier setting)."""

    @abstractmethod
    def retention_rules(self) -> list[tuple[str, int]]:
        """``(model, days)`` of every retention setting, ordered by model."""


class MonitorStore(ABC):
    """Monitoring results as a time series: one record per model, version, window size,
    segment and window key."""

    def save(self, model_id: int, version: int, window: str, items: list[dict[str, Any]]) -> None:
        """Store the items (``key, start, end, segment, rows, result``, optional
        ``profile_sha256`` and ``read_at``, when its rows were read) atomically; an item with
        the same key replaces the stored one."""
        self.save_many([(model_id, version, window, items)])

    @abstractmethod
    def save_many(self, batches: list[tuple[int, int, str, list[dict[str, Any]]]]) -> None:
        """``save`` for many ``(model_id, version, window, items)`` in one transaction: a
        fleet job stores a chunk of models' windows at once instead of a transaction each."""

    @abstractmethod
    def history(
        self,
        model_id: int,
        *,
        window: str | None = None,
        segment: str | None = None,
        version: int | None = None,
    ) -> list[dict[str, Any]]:
        """Stored items matching the filters, ordered by window start; ``result`` decoded."""

    @abstractmethod
    def stored_windows(
        self, model_id: int, version: int, window: str
    ) -> list[tuple[datetime, datetime]]:
        """``(end, computed_at)`` (UTC) of each stored overall window of that size: what a
        fleet run needs to know which windows are final, without decoding any result."""

    @abstractmethod
    def stored_windows_of(
        self, keys: list[tuple[int, int, str]]
    ) -> dict[tuple[int, int, str], list[tuple[datetime, datetime]]]:
        """``stored_windows`` of many ``(model_id, version, window)`` in one read; a key
        without stored windows is absent."""
