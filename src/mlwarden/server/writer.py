"""The prediction log's group-commit writer.

Requests hand their rows to one background thread, which gathers what has queued (waiting up
to ``max_wait_ms`` for more while other requests are about, up to ``max_rows``) and writes it
in one transaction with one audit event per (actor, model, version) of the batch. Each
request's future is resolved only after that commit returns, so with ``durability="sync"`` an
answered prediction is on disk (SQLite runs ``synchronous=FULL``; PostgreSQL commits are
durable by default): ``kill -9`` loses nothing that was acknowledged. One commit (an fsync)
is shared by every request of the batch, which is where the throughput comes from.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import queue
import threading
import time
from collections.abc import Sequence
from concurrent.futures import Future
from dataclasses import dataclass
from datetime import datetime
from functools import partial
from typing import TYPE_CHECKING, Any, Protocol

import orjson
import pandas as pd
from sqlalchemy import Connection

from mlwarden.monitor.oversight import Logged
from mlwarden.monitor.predictions import batch_payload
from mlwarden.store.sql.database import driver
from mlwarden.store.sql.predictions import records_json

if TYPE_CHECKING:
    from mlwarden.client import Warden
    from mlwarden.privacy.masking import MaskingPolicy

log = logging.getLogger("mlwarden.server.writer")


def _record_json(record: dict[str, Any]) -> str:
    """One logged row, compact like ``records_json``. orjson is a twentieth of ``json.dumps``'
    cost, paid on the writer thread, which holds the GIL the event loop needs; integers over
    64 bits (which it refuses) go the slow way."""
    try:
        return orjson.dumps(record, default=str).decode()
    except orjson.JSONEncodeError:
        return json.dumps(record, default=str, separators=(",", ":"))


def _parsed(rows: list[str], fields: frozenset[str] | None) -> list[dict[str, Any]]:
    """The logged (masked) inputs back as dicts, for a model with a review rule: only the
    fields the rule reads."""
    parsed = [orjson.loads(r) for r in rows]
    if fields is None:
        return parsed
    return [{k: row[k] for k in fields if k in row} for row in parsed]


class Masking(Protocol):
    def get(self, model: str) -> MaskingPolicy | None: ...


@dataclass
class Pending:
    """One request's predictions, waiting for a commit."""

    actor: str
    name: str
    model_id: int
    version: int
    ids: list[str]
    ts: datetime
    inputs: list[dict[str, Any]]
    outputs: list[Any]
    scores: list[float | None] | None
    latency_ms: float
    reasons: list[Any] | None = None
    subjects: list[str | None] | None = None
    traceparent: str | None = None  # the caller's W3C trace context
    #: set by :meth:`PredictionWriter.submit` (a thread's future)
    future: Future[None] | None = None
    #: set by :meth:`PredictionWriter.log` with ``wait``: the event loop's own future,
    #: settled with the rest of its batch in one call on that loop
    waiter: asyncio.Future[None] | None = None


_STOP = object()
#: PostgreSQL: the batch's commit does not wait for its WAL flush (see ``_flush_wal``)
_NO_FLUSH_WAIT = "SET LOCAL synchronous_commit = off"


#: macOS has no fdatasync
_fdatasync = getattr(os, "fdatasync", os.fsync)


def _wal_file(db: Any) -> str | None:
    """The write-ahead log of a SQLite database file; ``None`` for PostgreSQL and for
    in-memory or URI-named SQLite databases (their commits keep syncing themselves)."""
    if not db.is_sqlite:
        return None
    path = db.engine.url.database
    if not path or path == ":memory:" or path.startswith("file:"):
        return None
    return os.path.abspath(path) + "-wal"


def _resolve(futures: list[Any], exc: BaseException | None) -> None:
    """Settle thread or event-loop futures with the batch's outcome."""
    for future in futures:
        if not future.done():  # a request cancelled meanwhile (its client went away)
            if exc is None:
                future.set_result(None)
            else:
                future.set_exception(exc)


class PredictionWriter:
    def __init__(
        self,
        warden: Warden,
        *,
        max_wait_ms: float = 0.1,
        max_rows: int = 2000,
        masking: Masking | None = None,
    ) -> None:
        self.warden = warden
        self.db = warden.db
        self.store = warden.prediction_log.store
        self.audit = warden.audit
        #: queues what each model's review rule flags, in the batch's transaction
        self.oversight = getattr(warden, "oversight", None)
        self.max_wait = max_wait_ms / 1000.0
        self.max_rows = max_rows
        self.masking = masking
        self._queue: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._conn: Connection | None = None  # the writer thread's own
        #: SQLite: the write-ahead log file the writer syncs itself (None: the commit does)
        self._wal_file = _wal_file(self.db)
        self._company = False  # whether the last batch saw other requests
        #: requests handed over by :meth:`log`, gathered per event loop until its next turn
        self._gathered: dict[asyncio.AbstractEventLoop, list[Pending]] = {}
        self.batches = 0
        self.rows = 0

    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(
                target=self._run, name="mlwarden-prediction-writer", daemon=True
            )
            self._thread.start()

    def stop(self, timeout: float = 30.0) -> None:
        """Commit what is queued, then stop the thread."""
        if self._thread is not None:
            self._queue.put(_STOP)
            self._thread.join(timeout)
            self._thread = None

    def submit(self, item: Pending) -> Future[None]:
        if self._thread is None:
            raise RuntimeError("the prediction writer is not running")
        item.future = Future()
        self._queue.put(item)
        return item.future

    def log(self, item: Pending, *, wait: bool) -> asyncio.Future[None] | None:
        """From the event loop: queue ``item``; with ``wait``, the future of its commit for
        the loop to await (without, nothing waits: async durability).

        The hand-overs between threads are what a request paid for here, not the queueing:
        waking the writer thread (which then wants the GIL) per request, and the writer waking
        the loop per request. So the requests of one turn of the loop go over as one list,
        when the loop gets to the callback scheduled by the first of them, and the writer
        settles each batch's futures with one call on the loop.
        """
        if self._thread is None:
            raise RuntimeError("the prediction writer is not running")
        loop = asyncio.get_running_loop()
        if wait:
            item.waiter = loop.create_future()
        gathered = self._gathered.get(loop)
        if gathered is None:
            gathered = self._gathered[loop] = []
            loop.call_soon(self._hand_over, loop)
        gathered.append(item)
        return item.waiter

    def _hand_over(self, loop: asyncio.AbstractEventLoop) -> None:
        self._queue.put(self._gathered.pop(loop))

    # ---- the writer thread

    def _run(self) -> None:
        try:
            while self._next_batch():
                pass
        finally:
            self._close()

    def _next_batch(self) -> bool:
        """Gather one batch and commit it; ``False`` once asked to stop.

        With other requests about (the last batch had company, or more arrived while it
        committed), wait up to ``max_wait`` for more before committing: at 2 connections that
        pairs the requests into one commit instead of each waiting for the other's. A lone
        client never waits.
        """
        first = self._queue.get()
        if first is _STOP:
            return False
        batch: list[Pending] = []
        rows = self._add(batch, first)
        deadline = time.monotonic() + (self.max_wait if self._company else 0.0)
        while rows < self.max_rows:
            remaining = deadline - time.monotonic()
            try:
                if remaining > 0:
                    item = self._queue.get(timeout=remaining)
                else:
                    item = self._queue.get_nowait()
            except queue.Empty:
                break
            if item is _STOP:
                self._commit(batch)
                return False
            rows += self._add(batch, item)
        self._commit(batch)
        self._company = len(batch) > 1 or not self._queue.empty()
        return True

    @staticmethod
    def _add(batch: list[Pending], item: Pending | list[Pending]) -> int:
        """Append one request (``submit``) or one turn's requests (``log``); rows added."""
        if isinstance(item, list):
            batch.extend(item)
            return sum(len(i.ids) for i in item)
        batch.append(item)
        return len(item.ids)

    def _commit(self, batch: list[Pending]) -> None:
        try:
            rows, entries, logged, texts = self._rows(batch)
            columns: dict[str, Sequence[Any]] = dict(rows)  # the store reads, never appends
            if self._conn is None:  # kept across batches: no pool checkout per commit
                self._conn = self._connect()
            with self.db.transaction(on=self._conn) as conn:
                if not self.db.is_sqlite:
                    conn.exec_driver_sql(_NO_FLUSH_WAIT)
                self.store.insert(columns)
                events = self.audit.append_many(entries)
                # each group's batch key is its event's first_id: a receipt finds the event
                self.store.link_batches(
                    [
                        (e[3]["first_id"], ev.seq, text)
                        for e, ev, text in zip(entries, events, texts, strict=True)
                    ]
                )
                if self.oversight is not None:
                    self.oversight.flag_logged(logged)
            if self.db.is_sqlite:
                self._sync_wal_file()
            else:
                self._flush_wal()
        except Exception as exc:  # every waiting request learns the batch failed
            log.exception("prediction log batch of %d requests failed", len(batch))
            self._close()  # the next batch starts on a fresh connection
            self._settle(batch, exc)
            return
        self.batches += 1
        self.rows += len(rows["id"])
        self._settle(batch, None)

    @staticmethod
    def _settle(batch: list[Pending], exc: BaseException | None) -> None:
        """Resolve the batch's futures: ``submit``'s here, ``log``'s with one call on each
        event loop they came from."""
        by_loop: dict[asyncio.AbstractEventLoop, list[asyncio.Future[None]]] = {}
        for item in batch:
            if item.waiter is not None:
                by_loop.setdefault(item.waiter.get_loop(), []).append(item.waiter)
            elif item.future is not None:
                _resolve([item.future], exc)
        for loop, waiters in by_loop.items():
            with contextlib.suppress(RuntimeError):  # a closed loop: no one waits any more
                loop.call_soon_threadsafe(_resolve, waiters, exc)

    def _flush_wal(self) -> None:
        """Wait until the batch's commit is durable (PostgreSQL).

        The batch commits without waiting for its WAL flush, so the audit lock it holds to
        commit is not held through the fsync: with two workers or replicas, each one's fsync
        otherwise ran while the other waited for the lock, and their commits queued one by
        one. This barrier then commits an empty transaction that has an id, durably (the
        server's ``synchronous_commit``): its commit record follows the batch's in the one
        WAL stream, so once it is flushed the batch is too, and concurrent barriers share
        one flush. Only then are the requests answered. A crash before the flush loses a
        tail of the WAL (never the middle): unacknowledged batches, the audit order intact.
        """
        assert self._conn is not None
        with self.db.transaction(on=self._conn) as conn:
            conn.exec_driver_sql("SELECT pg_current_xact_id()")

    def _connect(self) -> Connection:
        """The writer thread's connection. SQLite (a file in WAL mode): its commits do not
        sync (``synchronous=NORMAL``); :meth:`_sync_wal_file` does, after the write lock is
        released, as PostgreSQL's :meth:`_flush_wal` does after its commit."""
        conn = self.db.writer_connection()
        if self._wal_file is not None:  # on the driver: outside any transaction
            driver(conn).execute("PRAGMA synchronous=NORMAL")
        return conn

    def _sync_wal_file(self) -> None:
        """Wait until the batch's commit is durable (SQLite).

        With two workers, each one's ``synchronous=FULL`` commit held the database's write
        lock through its fsync, so their batches took turns at the disk. Committed with
        ``synchronous=NORMAL``, the batch's frames are in the write-ahead log file (the
        operating system's cache) when the lock is released; this ``fdatasync`` of that file
        then makes them durable before the requests are answered, while the other worker
        writes. Frames a checkpoint has already moved were synced by it (SQLite syncs the log
        before and the database after a checkpoint), and a log that was reset or removed
        holds nothing of ours unsynced. A crash before the sync loses a tail of the log,
        never the middle (its frames are checksummed in a chain): unacknowledged batches.
        """
        if self._wal_file is None:
            return
        try:
            fd = os.open(self._wal_file, os.O_RDONLY)
        except FileNotFoundError:  # removed after a checkpoint: nothing left to sync
            return
        try:
            _fdatasync(fd)
        finally:
            os.close(fd)

    def _close(self) -> None:
        if self._conn is not None:
            conn, self._conn = self._conn, None
            try:
                if self._wal_file is not None:  # never pool a connection that skips syncs
                    conn.invalidate()
                conn.close()
            except Exception:  # a broken connection: the pool discards it
                log.debug("closing the writer's connection failed", exc_info=True)

    def _rows(
        self, batch: list[Pending]
    ) -> tuple[dict[str, list[Any]], list[tuple], list[Logged], list[str | None]]:
        cols: dict[str, list[Any]] = {
            k: []
            for k in (
                "id", "model_id", "version", "ts", "day", "inputs", "output", "score",
                "latency_ms", "reasons", "subject", "traceparent", "batch",
            )
        }  # fmt: skip
        groups: dict[tuple[str, str, int], list[str]] = {}
        logged: list[Logged] = []
        sqlite = self.db.is_sqlite
        for item in batch:
            n = len(item.ids)
            # SQLite's text form; isoformat is a third cheaper than strftime
            ts = item.ts.isoformat(" ", "microseconds")[:26] if sqlite else item.ts
            cols["id"].extend(item.ids)
            cols["model_id"].extend([item.model_id] * n)
            cols["version"].extend([item.version] * n)
            cols["ts"].extend([ts] * n)
            cols["day"].extend([item.ts.year * 10000 + item.ts.month * 100 + item.ts.day] * n)
            inputs = self._inputs(item)
            outputs = [str(v) for v in item.outputs]
            cols["inputs"].extend(inputs)
            cols["output"].extend(outputs)
            cols["score"].extend(item.scores if item.scores is not None else [None] * n)
            cols["latency_ms"].extend([item.latency_ms] * n)
            cols["reasons"].extend(
                [None] * n
                if item.reasons is None
                else [None if r is None else json.dumps(r) for r in item.reasons]
            )
            cols["subject"].extend(item.subjects if item.subjects is not None else [None] * n)
            cols["traceparent"].extend([item.traceparent] * n)
            # a group's rows are one batch, named by its first id as its audit event is
            group = groups.setdefault((item.actor, item.name, item.version), [])
            group.extend(item.ids)
            cols["batch"].extend(group[:1] * n)
            logged.append(
                Logged(item.actor, item.name, item.model_id, item.version, item.ids, outputs,
                       item.scores, partial(_parsed, inputs))
            )  # fmt: skip
        # one audit event per actor and version in the batch: the ids' digest commits to
        # exactly which predictions were logged (the same payload as PredictionLog.log)
        entries, texts = [], []
        for (actor, name, version), ids in groups.items():
            payload, text = batch_payload(ids)  # the same payload as PredictionLog.log
            entries.append((actor, "predictions.log", f"model:{name}/{version}", payload))
            texts.append(text)
        return cols, entries, logged, texts

    def _inputs(self, item: Pending) -> list[str]:
        policy = None if self.masking is None else self.masking.get(item.name)  # cached
        if policy is None:
            return [_record_json(r) for r in item.inputs]
        # nothing unmasked reaches the database
        return records_json(policy.apply(pd.DataFrame.from_records(item.inputs)))
