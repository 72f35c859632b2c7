"""The prediction log and labels: bulk writes (COPY on PostgreSQL, executemany on SQLite)."""

from __future__ import annotations

import json
import math
import sqlite3
from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager
from datetime import UTC, datetime
from typing import Any

import numpy as np
import orjson
import pandas as pd
from sqlalchemy import (
    BigInteger,
    Connection,
    cast,
    extract,
    func,
    literal_column,
    select,
    text,
    tuple_,
)

from mlwarden._time import as_utc, utcnow
from mlwarden.errors import AlreadyExists, IntegrityError
from mlwarden.store.prediction_store import MonitorStore, PredictionStore
from mlwarden.store.sql.database import Database, driver
from mlwarden.store.sql.records import decode_inputs, records_frame
from mlwarden.store.sql.schema import (
    MONITOR_WINDOW_COLUMNS,
    labels,
    models,
    monitor_windows,
    prediction_batches,
    predictions,
    retention,
)
from mlwarden.store.sql.vault import SubjectVault

IN_CHUNK = 500  # keys per IN list of a many-model statement (bounded parameter count)
COLUMNS = (
    "id",
    "model_id",
    "version",
    "ts",
    "day",
    "inputs",
    "output",
    "score",
    "latency_ms",
    "reasons",
    "subject",
    "traceparent",
    "batch",
)
#: COLUMNS' PostgreSQL types, for binary COPY
PG_TYPES = (
    "varchar", "int8", "int4", "timestamptz", "int4", "text", "text", "float8", "float8",
    "text", "varchar", "varchar", "varchar",
)  # fmt: skip


def new_ids(n: int, at: datetime | None = None) -> list[str]:
    """UUIDv7 strings (time-ordered, 74 random bits), generated and formatted in bulk.

    Sorted within the batch, so row ``i`` gets the ``i``-th smallest: the primary-key index
    then takes the batch as one ascending run (about 15% more rows/s on SQLite than random
    order), and id order is row order.
    """
    ms = int((at or utcnow()).timestamp() * 1000)
    raw = np.frombuffer(np.random.default_rng().bytes(16 * n), dtype=np.uint8).reshape(n, 16)
    raw = raw.copy()
    raw[:, :6] = np.frombuffer(ms.to_bytes(6, "big"), dtype=np.uint8)
    raw[:, 6] = (raw[:, 6] & 0x0F) | 0x70  # version 7
    raw[:, 8] = (raw[:, 8] & 0x3F) | 0x80  # RFC 4122 variant
    # fixed-width byte strings sort lexicographically, which is the ids' text order
    hexed = np.frombuffer(
        np.sort(raw.view("S16").ravel()).tobytes().hex().encode("ascii"), dtype=np.uint8
    ).reshape(n, 32)
    chars = np.full((n, 36), ord("-"), dtype=np.uint8)  # 8-4-4-4-12, dashes between
    for start, stop, col in ((0, 8, 0), (8, 12, 9), (12, 16, 14), (16, 20, 19), (20, 32, 24)):
        chars[:, col : col + stop - start] = hexed[:, start:stop]
    joined = chars.tobytes().decode("ascii")
    return [joined[i : i + 36] for i in range(0, 36 * n, 36)]


def timestamps_for(db: Database, ts: pd.Series) -> list[Any]:
    """Timestamps in the form each database's driver writes fastest, formatted in bulk.

    SQLite keeps text: we write exactly SQLAlchemy's format (UTC, no offset) so range queries
    bound through SQLAlchemy compare correctly as strings.
    """
    utc = ts.dt.tz_convert("UTC")
    if len(utc) and (utc.iloc[0] == utc).all():  # one batch, one time: format it once
        first = utc.iloc[0]
        value = first.strftime("%Y-%m-%d %H:%M:%S.%f") if db.is_sqlite else first.to_pydatetime()
        return [value] * len(utc)
    if db.is_sqlite:
        return utc.dt.strftime("%Y-%m-%d %H:%M:%S.%f").tolist()
    return utc.dt.to_pydatetime().tolist()


def records_json(frame: pd.DataFrame) -> list[str]:
    """One JSON object per row, serialised by pandas in C.

    The array form is split at its record boundaries (``},{``): every boundary is one, so
    exactly ``n`` pieces means no string value contained the separator; otherwise the
    slower line-delimited form is used.
    """
    n = len(frame)
    if frame.shape[1] == 0 or n == 0:
        return ["{}"] * n
    frame = frame.reset_index(drop=True)
    # pandas' default keeps 10 decimals (1e-12 would be logged as 0.0); 15 is its most
    text = frame.to_json(orient="records", date_format="iso", double_precision=15)
    pieces = text[2:-2].split("},{")
    if len(pieces) == n:
        return [f"{{{p}}}" for p in pieces]
    text = frame.to_json(orient="records", lines=True, date_format="iso", double_precision=15)
    return text.rstrip("\n").split("\n")


class RecordsJSON:
    """``records_json(frame)`` made ``chunk`` rows at a time, as it is iterated.

    ``insert`` streams it: a PostgreSQL COPY sends the first rows while later ones are still
    being serialised, so the server's work overlaps the client's instead of following it.
    """

    def __init__(self, frame: pd.DataFrame, chunk: int = 4096) -> None:
        self.frame = frame
        self.chunk = chunk

    def __len__(self) -> int:
        return len(self.frame)

    def __iter__(self) -> Iterator[str]:
        for start in range(0, len(self.frame), self.chunk):
            yield from records_json(self.frame.iloc[start : start + self.chunk])


class SqlPredictionStore(PredictionStore):
    """Every write path (batch logging, the server's group-commit writer) goes through
    ``insert``, so subject pseudonymization and payload sealing happen in one place."""

    def __init__(self, db: Database, vault: SubjectVault | None = None) -> None:
        self.db = db
        self.vault = vault

    def transaction(self) -> AbstractContextManager[Connection]:
        return self.db.transaction()

    def timestamps(self, ts: pd.Series) -> list[Any]:
        return timestamps_for(self.db, ts)

    def _seal(self, rows: dict[str, Sequence[Any]]) -> dict[str, Sequence[Any]]:
        subjects = rows.get("subject") or []
        if self.vault is None or not any(subjects):
            return rows
        pseudonyms = [None if s is None else self.vault.pseudonym(s) for s in subjects]
        sealed = dict(rows, subject=pseudonyms)
        for column in ("inputs", "output", "reasons"):
            sealed[column] = self.vault.seal(pseudonyms, rows[column])
        return sealed

    def insert(self, rows: dict[str, Sequence[Any]]) -> None:
        """Insert column-oriented rows (keys = ``COLUMNS``) in the current transaction.
        ``subject`` holds raw subject identifiers; they are stored pseudonymized, and the
        rows' payloads sealed with the subject's key. Without ``batch`` the rows are one
        batch."""
        rows = self._seal(rows)
        if not len(rows["id"]):
            return
        n = len(rows["id"])
        if "traceparent" not in rows:  # only served predictions carry a caller's trace
            rows = dict(rows, traceparent=[None] * n)
        if "batch" not in rows:  # one batch: named by its first id, as its audit event is
            rows = dict(rows, batch=[rows["id"][0]] * n)
        tuples = zip(*(rows[c] for c in COLUMNS), strict=True)  # lazily: see RecordsJSON
        try:
            self._insert(tuples)
        except Exception as exc:
            # SQLite's IntegrityError, PostgreSQL's unique_violation: an id already logged
            if isinstance(exc, sqlite3.IntegrityError) or getattr(exc, "sqlstate", "") == "23505":
                raise AlreadyExists(
                    "a prediction with one of these ids is already logged", field="ids"
                ) from None
            raise

    def _insert(self, tuples: Any) -> None:
        with self.db.transaction() as conn:
            # on the driver's cursor: SQLAlchemy adds nothing to one bulk statement
            raw = driver(conn)
            if self.db.is_sqlite:
                placeholders = ",".join("?" * len(COLUMNS))
                raw.executemany(
                    f"INSERT INTO predictions ({','.join(COLUMNS)}) VALUES ({placeholders})",
                    tuples,
                ).close()
            else:
                # binary COPY: no text escaping of the JSON payloads on either side
                sql = f"COPY predictions ({','.join(COLUMNS)}) FROM STDIN (FORMAT BINARY)"
                with raw.cursor() as cur, cur.copy(sql) as copy:
                    copy.set_types(PG_TYPES)
                    for row in tuples:
                        copy.write_row(row)

    def id_versions(self, model_id: int, ids: Sequence[str]) -> dict[str, int]:
        """The version each of ``ids`` was logged under; unknown ids are absent."""
        found: dict[str, int] = {}
        with self.db.reading() as conn:
            for start in range(0, len(ids), 5000):
                chunk = list(ids[start : start + 5000])
                rows = conn.execute(
                    select(predictions.c.id, predictions.c.version).where(
                        predictions.c.model_id == model_id, predictions.c.id.in_(chunk)
                    )
                )
                found.update({row.id: row.version for row in rows})
        return found

    def version_counts(
        self, model_id: int, *, since: datetime | None = None, until: datetime | None = None
    ) -> dict[int, int]:
        """Logged predictions per version in [since, until), versions in ascending order."""
        query = (
            select(predictions.c.version, func.count())
            .where(predictions.c.model_id == model_id)
            .group_by(predictions.c.version)
            .order_by(predictions.c.version)
        )
        if since is not None:
            query = query.where(predictions.c.ts >= since)
        if until is not None:
            query = query.where(predictions.c.ts < until)
        with self.db.reading() as conn:
            return {int(v): int(n) for v, n in conn.execute(query)}

    def upsert_labels(self, model_id: int, ids: Sequence[str], values: Sequence[str]) -> None:
        now = utcnow()
        with self.db.transaction() as conn:
            for start in range(0, len(ids), 5000):
                chunk = list(ids[start : start + 5000])
                conn.execute(labels.delete().where(labels.c.prediction_id.in_(chunk)))
            conn.execute(
                labels.insert(),
                [
                    {"prediction_id": i, "model_id": model_id, "label": v, "ts": now}
                    for i, v in zip(ids, values, strict=True)
                ],
            )

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
        """Predictions (with their labels, when known) ordered by time; inputs expanded into
        columns, so monitoring sees the same frame shape the model saw. Without ``unseal``,
        subject-linked rows stay sealed: their inputs, output and reasons are left out and
        ``sealed`` is true (what a reader without ``subject.read`` gets). ``columns`` narrows
        the stored columns read besides the inputs (``id``, ``ts`` and ``subject`` always)."""
        names = [c.name for c in predictions.columns]
        if columns is not None:
            unknown = set(columns) - set(names)
            if unknown:
                raise ValueError(f"not prediction columns: {sorted(unknown)}")
            always = {"id", "ts", "subject", "inputs", *columns}
            names = [n for n in names if n in always]
        query = (
            select(*(predictions.c[n] for n in names), labels.c.label.label("label"))
            # a label's model is its prediction's (log_labels resolves ids within the
            # model): the second condition lets PostgreSQL hash-join the model's labels
            # through ix_labels_model_id instead of probing the key once per prediction
            .outerjoin(
                labels,
                (labels.c.prediction_id == predictions.c.id)
                & (labels.c.model_id == predictions.c.model_id),
            )
            .order_by(predictions.c.ts, predictions.c.id)
        )
        if model_id is not None:  # None: across models (a data subject's access request)
            query = query.where(predictions.c.model_id == model_id)
        if since is not None:
            query = query.where(predictions.c.ts >= since)
        if until is not None:
            query = query.where(predictions.c.ts < until)
        if version is not None:
            query = query.where(predictions.c.version == version)
        if ids is not None:
            query = query.where(predictions.c.id.in_(list(ids)))
        if subject is not None:  # a pseudonym (see SubjectVault.pseudonym)
            query = query.where(predictions.c.subject == subject)
        if limit is not None:
            query = query.limit(limit)
        if offset:
            query = query.offset(offset)
        if columns is not None and ids is None and limit is None and not offset:
            found = self._read_columns(query, names)
            if found is not None:
                return found
        with self.db.reading() as conn:
            result = conn.execute(query)
            keys, rows = list(result.keys()), result.all()
        # built column by column: a frame from 10,000 mappings (or Row objects, which pandas
        # probes one by one) costs more than the query
        if not rows:
            return pd.DataFrame()
        columnwise = {k: list(c) for k, c in zip(keys, zip(*rows, strict=True), strict=True)}
        return self._frame(columnwise, unseal)

    def _read_columns(self, query: Any, names: list[str]) -> pd.DataFrame | None:
        """PostgreSQL: the rows of ``query`` as one row of arrays (one per column) and the
        inputs as one JSON array text, so no Python object is made per row and cell; None
        (read row by row) on SQLite or when a row is subject-linked (sealed: the vault opens
        it row by row).

        The aggregates take no ORDER BY: PostgreSQL 15 sorts the input of each ordered
        aggregate separately (one sort per column); all aggregates of one pass see the rows
        in the same sequence, so the arrays stay aligned and ``_time_order`` puts them in
        ``(ts, id)`` order (when they are not already). Times come as whole microseconds since
        the epoch (exact, ``numeric`` cast to ``int8``), not as one datetime object per row;
        the row comes in binary format (no text form of 10,000 array elements made by the
        server and parsed by the client)."""
        if self.db.is_sqlite:
            return None
        rows = query.order_by(None).subquery()
        kept = [n for n in names if n not in ("inputs", "subject")] + ["label"]

        def column(n: str) -> Any:
            if n == "ts":
                return cast(extract("epoch", rows.c.ts) * 1_000_000, BigInteger)
            return rows.c[n]

        aggregated = select(
            func.bool_or(rows.c.subject.is_not(None)),
            func.string_agg(rows.c.inputs, literal_column("','")),
            *(func.array_agg(column(n)) for n in kept),
        ).execution_options(binary_results=True)  # see engine._result_format
        with self.db.reading() as conn:
            linked, inputs, *arrays = conn.execute(aggregated).one()
        if inputs is None:  # no row matched
            return pd.DataFrame()
        if linked:
            return None
        columnwise = dict(zip(kept, arrays, strict=True))
        micros = np.asarray(columnwise["ts"], dtype=np.int64)
        try:
            records = orjson.loads(f"[{inputs}]")
        except orjson.JSONDecodeError:  # integers beyond 64 bits: pandas' parser, row by row
            return None
        order = _time_order(micros, columnwise["id"])
        if order is not None:
            records = [records[i] for i in order]
            columnwise = {n: [columnwise[n][i] for i in order] for n in kept if n != "ts"}
            micros = micros[order]
        ordered: dict[str, Any] = {n: columnwise[n] for n in kept if n != "ts"}
        ordered["ts"] = pd.to_datetime(micros, unit="us", utc=True)
        ordered["subject"] = [None] * len(micros)
        meta = self._frame({n: ordered[n] for n in [*names, "label"] if n != "inputs"}, True)
        return pd.concat([meta, records_frame(records)], axis=1)

    def _frame(self, columnwise: dict[str, list[Any]], unseal: bool) -> pd.DataFrame:
        meta = pd.DataFrame(columnwise)
        meta["ts"] = pd.to_datetime(meta["ts"], utc=True)
        if "inputs" not in meta.columns:
            return meta
        if not unseal and meta["subject"].notna().any():
            linked = meta["subject"].notna()
            meta["sealed"] = linked
            for column in ("output", "reasons"):
                if column in meta.columns:
                    meta[column] = meta[column].where(~linked, None)
            meta["inputs"] = meta["inputs"].where(~linked, "{}")
        elif self.vault is not None and meta["subject"].notna().any():
            subjects = _texts(meta["subject"])
            for column in ("inputs", "output", "reasons"):
                if column in meta.columns:
                    meta[column] = self.vault.open(subjects, _texts(meta[column]))
            # an erased subject's rows keep their id, time and version, nothing else
            meta["erased"] = meta["inputs"].isna()
            meta["inputs"] = meta["inputs"].fillna("{}")
        inputs = decode_inputs(meta["inputs"].tolist())
        return pd.concat([meta.drop(columns=["inputs"]), inputs], axis=1)

    def get(self, prediction_id: str, *, unseal: bool = True) -> dict[str, Any] | None:
        """One prediction with its model's name and its label, or ``None``. ``inputs``,
        ``output`` and ``reasons`` are the stored JSON text, opened when ``unseal``; read
        without it, a subject-linked row has ``sealed`` true and none of them; an erased
        subject's row has ``erased`` true and none of them either."""
        query = (
            select(predictions, models.c.name.label("model"), labels.c.label)
            .join(models, models.c.id == predictions.c.model_id)
            .outerjoin(labels, labels.c.prediction_id == predictions.c.id)
            .where(predictions.c.id == prediction_id)
        )
        with self.db.reading() as conn:
            found = conn.execute(query).mappings().first()
        if found is None:
            return None
        row = dict(found)
        payload = ("inputs", "output", "reasons")
        row["sealed"] = row["erased"] = False
        if row["subject"] is not None:
            if not unseal:
                row.update(dict.fromkeys(payload), sealed=True)
            elif self.vault is not None:
                opened = self.vault.open([row["subject"]] * 3, [row[c] for c in payload])
                row.update(zip(payload, opened, strict=True))
                row["erased"] = row["inputs"] is None
        return row

    def link_batches(self, links: Sequence[tuple[str, int, str | None]]) -> None:
        if not links:
            return
        mark = "?" if self.db.is_sqlite else "%s"
        sql = f"INSERT INTO prediction_batches (batch, seq, ids) VALUES ({mark}, {mark}, {mark})"
        with self.db.transaction() as conn:
            # on the driver's cursor: once per served batch, where SQLAlchemy's statement
            # building would cost more than the insert
            raw = driver(conn)
            if self.db.is_sqlite:
                raw.executemany(sql, links).close()
            else:
                with raw.cursor() as cur:
                    cur.executemany(sql, links)

    def batch_link(self, batch: str) -> tuple[int, list[str] | None] | None:
        query = select(prediction_batches.c.seq, prediction_batches.c.ids).where(
            prediction_batches.c.batch == batch
        )
        with self.db.reading() as conn:
            found = conn.execute(query).first()
        if found is None:
            return None
        seq, ids = found
        return int(seq), None if ids is None else ids.split("\n")

    # Rows logged before migration 0026 name no batch: their insertion order is their
    # physical position, SQLite's rowid, PostgreSQL's ctid (one COPY or executemany per
    # batch, so contiguous until an UPDATE, a VACUUM or a concurrent insert moves them; see
    # mlwarden.monitor.lookup.batch_proof).

    def _position(self, value: Any) -> Any:
        if self.db.is_sqlite:
            return int(value)
        page, _, item = str(value).strip("()").partition(",")
        return (int(page), int(item))

    def positions(self, model_id: int, version: int, ids: Sequence[str]) -> dict[str, Any]:
        if not ids:
            return {}
        col: Any = literal_column("rowid" if self.db.is_sqlite else "ctid")
        mine = (predictions.c.model_id == model_id, predictions.c.version == version)
        with self.db.reading() as conn:
            found = conn.execute(
                select(predictions.c.id, col).where(*mine, predictions.c.id.in_(list(ids)))
            ).all()
        return {i: self._position(p) for i, p in found}

    def ids_between(self, model_id: int, version: int, first: Any, last: Any) -> list[str]:
        col: Any = literal_column("rowid" if self.db.is_sqlite else "ctid")
        if self.db.is_sqlite:
            lo, hi, cond = first, last, "rowid >= :lo AND rowid <= :hi"
        else:
            lo, hi = f"({first[0]},{first[1]})", f"({last[0]},{last[1]})"
            cond = "ctid >= CAST(:lo AS tid) AND ctid <= CAST(:hi AS tid)"
        mine = (predictions.c.model_id == model_id, predictions.c.version == version)
        with self.db.reading() as conn:
            found = conn.execute(
                select(predictions.c.id, col).where(*mine, text(cond).bindparams(lo=lo, hi=hi))
            ).all()
        return [i for i, _ in sorted(found, key=lambda r: self._position(r[1]))]

    def erase_subject(self, subject: str) -> int:
        """Shred one subject (by pseudonym): destroy its key, drop its scores and labels."""
        if self.vault is None:
            raise IntegrityError("this store has no subject vault (master key)")
        with self.db.transaction() as conn:
            if self.db.is_sqlite:  # zero the freed cells, not only unlink them
                conn.exec_driver_sql("PRAGMA secure_delete=ON")
            self.vault.erase(subject)
            ids = select(predictions.c.id).where(predictions.c.subject == subject)
            conn.execute(labels.delete().where(labels.c.prediction_id.in_(ids)))
            return conn.execute(
                predictions.update().where(predictions.c.subject == subject).values(score=None)
            ).rowcount

    def scrub(self, *, vacuum: bool = False) -> dict[str, bool]:
        return self.db.scrub(["subject_keys", "predictions", "labels"], vacuum=vacuum)

    def set_retention(self, model: str, days: int, actor: str) -> None:
        with self.db.transaction() as conn:
            conn.execute(retention.delete().where(retention.c.model == model))
            conn.execute(
                retention.insert().values(
                    model=model, days=days, updated_at=utcnow(), updated_by=actor
                )
            )

    def retention_rules(self) -> list[tuple[str, int]]:
        with self.db.reading() as conn:
            rows = conn.execute(
                select(retention.c.model, retention.c.days).order_by(retention.c.model)
            ).all()
        return [(str(m), int(d)) for m, d in rows]

    def purge(self, model_id: int, before_day: int) -> int:
        """Delete the model's predictions (and labels) logged before day ``yyyymmdd``."""
        cutoff = datetime(
            before_day // 10000, before_day // 100 % 100, before_day % 100, tzinfo=UTC
        )
        old = (predictions.c.model_id == model_id, predictions.c.ts < cutoff)
        with self.db.transaction() as conn:
            ids = select(predictions.c.id).where(*old)
            conn.execute(labels.delete().where(labels.c.prediction_id.in_(ids)))
            # a batch with a purged row has no receipt to give: its event link goes too
            batches = select(predictions.c.batch).where(*old, predictions.c.batch.is_not(None))
            conn.execute(prediction_batches.delete().where(prediction_batches.c.batch.in_(batches)))
            return conn.execute(predictions.delete().where(*old)).rowcount


def _time_order(micros: np.ndarray, ids: Sequence[str]) -> np.ndarray | None:
    """The positions that put rows (n,) in ``(ts, id)`` order, or None when they are in it
    already: the usual case, as PostgreSQL reads a model's rows through its ``(model_id, ts)``
    index. ``str`` comparison and ``lexsort`` both order ids by code point."""
    step = np.diff(micros)
    if (step >= 0).all():
        ties = np.flatnonzero(step == 0).tolist()
        if all(ids[i] < ids[i + 1] for i in ties):
            return None
    return np.lexsort((np.asarray(ids), micros))


def _texts(column: pd.Series) -> list[str | None]:
    """A text column as a list with ``None`` for missing: pandas 3 stores text columns as
    ``str``, where a SQL NULL becomes NaN (a float)."""
    return [v if isinstance(v, str) else None for v in column.tolist()]


def reasons_json(reasons: Sequence[Any] | None, n: int) -> list[str | None]:
    if reasons is None:
        return [None] * n
    return [None if r is None else json.dumps(r) for r in reasons]


def drift_verdict(result: dict[str, Any]) -> dict[str, Any]:
    """A window result's dataset drift verdict, stored beside it for the inventory
    (``drifted``, ``share_drifted``; None where the result has none)."""
    drift = result.get("drift")
    if not isinstance(drift, dict):
        return {"drifted": None, "share_drifted": None}
    share = drift.get("share_drifted")
    if not (isinstance(share, int | float) and math.isfinite(share)):
        share = None
    return {"drifted": bool(drift.get("dataset_drifted")), "share_drifted": share}


class SqlMonitorStore(MonitorStore):
    """Monitoring results as a time series: one row per model, version, window and segment."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def save_many(self, batches: list[tuple[int, int, str, list[dict[str, Any]]]]) -> None:
        now = utcnow()
        mw = monitor_windows
        keys = [
            (model_id, version, window, item["segment"], item["key"])
            for model_id, version, window, items in batches
            for item in items
        ]
        rows = [
            {
                "model_id": model_id,
                "version": version,
                "window": window,
                "key": item["key"],
                "start": item["start"],
                "end": item["end"],
                "segment": item["segment"],
                "rows": item["rows"],
                "profile_sha256": item.get("profile_sha256"),
                "result": json.dumps(item["result"], default=str),
                **drift_verdict(item["result"]),
                # when its rows were read: a window that had ended then is final
                "computed_at": item.get("read_at", now),
            }
            for model_id, version, window, items in batches
            for item in items
        ]
        if not rows:
            return
        columns = tuple_(mw.c.model_id, mw.c.version, mw.c.window, mw.c.segment, mw.c.key)
        with self.db.transaction() as conn:
            # replaced items: one DELETE per bounded chunk of keys, then one executemany
            for i in range(0, len(keys), IN_CHUNK):
                conn.execute(mw.delete().where(columns.in_(keys[i : i + IN_CHUNK])))
            conn.execute(mw.insert(), rows)

    def history(
        self,
        model_id: int,
        *,
        window: str | None = None,
        segment: str | None = None,
        version: int | None = None,
    ) -> list[dict[str, Any]]:
        query = select(*MONITOR_WINDOW_COLUMNS).where(monitor_windows.c.model_id == model_id)
        if version is not None:
            query = query.where(monitor_windows.c.version == version)
        if window is not None:
            query = query.where(monitor_windows.c.window == window)
        if segment is not None:
            query = query.where(monitor_windows.c.segment == segment)
        with self.db.reading() as conn:
            rows = conn.execute(query.order_by(monitor_windows.c.start)).mappings().all()
        return [{**dict(r), "result": json.loads(r["result"])} for r in rows]

    def stored_windows(
        self, model_id: int, version: int, window: str
    ) -> list[tuple[datetime, datetime]]:
        mw = monitor_windows
        query = select(mw.c.end, mw.c.computed_at).where(
            mw.c.model_id == model_id,
            mw.c.version == version,
            mw.c.window == window,
            mw.c.segment == "all",
        )
        with self.db.reading() as conn:
            rows = conn.execute(query).all()
        return [(as_utc(end), as_utc(computed)) for end, computed in rows]

    def stored_windows_of(
        self, keys: list[tuple[int, int, str]]
    ) -> dict[tuple[int, int, str], list[tuple[datetime, datetime]]]:
        mw = monitor_windows
        found: dict[tuple[int, int, str], list[tuple[datetime, datetime]]] = {}
        columns = tuple_(mw.c.model_id, mw.c.version, mw.c.window)
        with self.db.reading() as conn:
            for i in range(0, len(keys), IN_CHUNK):
                query = select(
                    mw.c.model_id, mw.c.version, mw.c.window, mw.c.end, mw.c.computed_at
                ).where(columns.in_(keys[i : i + IN_CHUNK]), mw.c.segment == "all")
                for model_id, version, window, end, computed in conn.execute(query):
                    found.setdefault((model_id, version, window), []).append(
                        (as_utc(end), as_utc(computed))
                    )
        return found
