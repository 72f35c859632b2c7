"""The audit log on SQLite and PostgreSQL: ``SqlAuditBackend`` and the signing-key lookup.

All rules (seq order, tree, signatures, verification) live in :class:`mlwarden.audit.AuditLog`;
this module only stores rows. Hot paths (batch inserts, node reads for proofs, event scans for
verification) use driver SQL with ``executemany`` and plain tuples: SQLAlchemy's per-row
compilation would cost more than the hashing.
"""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from mlwarden.entities.audit import AuditEvent, Checkpoint, Node
from mlwarden.settings import Settings
from mlwarden.store.audit_store import AuditBackend
from mlwarden.store.sql.audit_pages import RECORD_COLS, RecordSource, record_page_sql
from mlwarden.store.sql.database import Database, driver

__all__ = ["AUDIT_LOCK_KEY", "KEY_NAME", "SqlAuditBackend", "key_path", "public_key_path"]

#: ``pg_advisory_xact_lock`` key of the audit integrator: the bytes ``mlwaudit`` as a bigint.
AUDIT_LOCK_KEY = int.from_bytes(b"mlwaudit", "big")

_EVENT_COLS = "seq, time, actor, action, subject, payload_digest, payload, salt"
_ROW_COLS = RECORD_COLS
#: level-0 nodes as rows of audit_nodes' shape: the leaves live in audit_events.leaf
_LEAF_NODES = "SELECT 0 AS level, seq - 1 AS idx, leaf AS hash FROM audit_events"
#: the most events :meth:`SqlAuditBackend.append_signed` writes in one statement
_FUSED_MAX = 64
# %b: arrays in binary, no per-element quoting. Nodes never collide when they commit with
# their checkpoint; ON CONFLICT keeps put_nodes' rule (ignore exact duplicates) anyway.
_FUSED_SQL = (
    f"WITH e AS (INSERT INTO audit_events ({_ROW_COLS}) SELECT * FROM unnest("
    "%b::int8[], %b::text[], %b::text[], %b::text[], %b::text[], %b::text[], %b::text[], "
    "%b::text[], %b::bytea[])), "
    "n AS (INSERT INTO audit_nodes (level, idx, hash) SELECT * FROM unnest("
    "%b::int2[], %b::int8[], %b::bytea[]) ON CONFLICT DO NOTHING) "
    "INSERT INTO audit_checkpoints (tree_size, root_hash, time, key_id, signature) "
    "VALUES (%s, %s, %s, %s, %s)"
)
_LOCK_SQL = "SELECT pg_advisory_xact_lock(%s)"
#: the size and the latest checkpoint in one row (the checkpoint's columns NULL when none)
_HEAD_SQL = (
    "SELECT (SELECT max(seq) FROM audit_events), c.tree_size, c.root_hash, c.time, c.key_id, "
    "c.signature FROM (SELECT 1 AS one) AS o LEFT JOIN (SELECT * FROM audit_checkpoints "
    "ORDER BY tree_size DESC LIMIT 1) AS c ON 1 = 1"
)
_PAGE = 10_000  # events per read query: bounded memory, few round trips
_NODE_CACHE = 200_000  # immutable node hashes kept per process (~20 MB)
_BAND = 4  # tree levels fetched per node query (see _read_node)


def _event_row(e: AuditEvent, seq: int, leaf: bytes | None) -> tuple[Any, ...]:
    return (
        seq, e.time, e.actor, e.action, e.subject, e.payload_digest, e.payload_json, e.salt, leaf
    )  # fmt: skip


class SqlAuditBackend(AuditBackend):
    """``audit_events``, ``audit_nodes`` and ``audit_checkpoints`` (schema.py).

    :meth:`integrating` joins the caller's open ``Database.transaction()`` (so a registration
    and its audit event commit together) and takes the integrator lock: PostgreSQL
    ``pg_advisory_xact_lock(AUDIT_LOCK_KEY)``, held to commit; on SQLite the ``BEGIN
    IMMEDIATE`` of every write transaction already serialises writers.
    """

    def __init__(self, db: Database) -> None:
        self.db = db
        self._sqlite = db.is_sqlite
        self._p = "?" if self._sqlite else "%s"  # the driver's paramstyle
        self._cache: dict[tuple[int, int], bytes] = {}
        self._local = threading.local()
        self._opened: list[Any] = []  # node-read connections of every thread, for close()
        self._lock = threading.Lock()

    # ---- the integrator transaction

    @contextmanager
    def integrating(self) -> Iterator[None]:
        with self.db.transaction() as conn:
            if not self._sqlite:
                cur = driver(conn).cursor()
                try:
                    cur.execute(_LOCK_SQL, (AUDIT_LOCK_KEY,))
                finally:
                    cur.close()
            yield

    def head(self) -> tuple[Checkpoint | None, int]:
        # one round trip under the lock instead of two
        row = self._fetch(_HEAD_SQL)[0]
        size = int(row[0] or 0)
        return (None if row[1] is None else Checkpoint(*row[1:])), size

    def append_signed(
        self, events: Sequence[AuditEvent], nodes: Sequence[Node], checkpoint: Checkpoint
    ) -> None:
        if self._sqlite or len(events) > _FUSED_MAX:  # large batches: COPY (bench/audit.py)
            super().append_signed(events, nodes, checkpoint)
            return
        # PostgreSQL, a small batch (the prediction writer's one event): events with their
        # leaves, the upper nodes and the checkpoint in one statement, one round trip under
        # the lock instead of about eight (COPY start and end, a savepoint for the nodes, the
        # checkpoint's insert).
        leaves = {i: h for level, i, h in nodes if level == 0}
        rows = [_event_row(e, e.seq, leaves.get(e.seq - 1)) for e in events]
        event_cols = [list(c) for c in zip(*rows, strict=True)]
        node_cols = [list(c) for c in zip(*(n for n in nodes if n[0]), strict=True)] or [[], [], []]
        with self.db.transaction() as conn:
            cur = driver(conn).cursor()
            try:
                cur.execute(
                    _FUSED_SQL,
                    (*event_cols, *node_cols, checkpoint.tree_size, checkpoint.root_hash,
                     checkpoint.time, checkpoint.key_id, checkpoint.signature),
                )  # fmt: skip
            finally:
                cur.close()

    def get_frontier(self, positions: Sequence[tuple[int, int]]) -> list[bytes]:
        # One query instead of popcount(size) node reads: with two workers or replicas the
        # other one signed since this one's last append, every time, so this runs per batch
        # under the lock.
        if not positions:
            return []
        p = self._p
        upper = [pos for pos in positions if pos[0]]
        parts, args = [], []
        if upper:
            where = " OR ".join([f"(level = {p} AND idx = {p})"] * len(upper))
            parts.append(f"SELECT level, idx, hash FROM audit_nodes WHERE {where}")
            args += [v for pos in upper for v in pos]
        for _, idx in (pos for pos in positions if not pos[0]):  # at most one: the last leaf
            parts.append(f"{_LEAF_NODES} WHERE seq = {p} AND leaf IS NOT NULL")
            args.append(idx + 1)
        rows = self._fetch(" UNION ALL ".join(parts), args)
        found = {(int(lv), int(i)): bytes(h) for lv, i, h in rows}
        try:
            return [found[pos] for pos in positions]
        except KeyError as exc:
            raise KeyError(exc.args[0]) from None

    def _fetch(self, sql: str, params: Sequence[Any] = (), *, binary: bool = False) -> list[Any]:
        """Rows as plain driver tuples (SQLAlchemy's row processing would double the cost of
        a verification scan). Joins the open transaction, if any. ``binary``: PostgreSQL sends
        the rows in binary (bytea as raw bytes, integers unparsed), cheaper on both sides."""
        with self.db.reading() as conn:
            raw = driver(conn)
            cur = raw.cursor(binary=True) if binary and not self._sqlite else raw.cursor()
            try:
                cur.execute(sql, params)
                return cur.fetchall()
            finally:
                cur.close()

    def _write(self, sql: str, params: Sequence[Any], *, many: bool = False) -> None:
        """One statement on the driver cursor, in the open (or a new) write transaction:
        these run once per audit append, where SQLAlchemy's execution context would cost
        more than the statement."""
        with self.db.transaction() as conn:
            cur = driver(conn).cursor()
            try:
                if many:
                    cur.executemany(sql, params)
                else:
                    cur.execute(sql, params)
            finally:
                cur.close()

    def _in_transaction(self) -> bool:
        # Database keeps the open transaction in a context variable; reads inside one must use
        # it (they need to see this transaction's own uncommitted nodes and checkpoints).
        return self.db._current.get() is not None

    # ---- events

    def size(self) -> int:
        return int(self._fetch("SELECT max(seq) FROM audit_events")[0][0] or 0)

    def append_batch(
        self,
        events: Sequence[AuditEvent],
        *,
        after: int | None = None,
        leaves: Sequence[bytes] | None = None,
    ) -> list[int]:
        start = (self.size() if after is None else after) + 1
        seqs = list(range(start, start + len(events)))
        p = self._p
        recorded = leaves if leaves is not None else [None] * len(events)
        rows = [_event_row(e, s, leaf) for e, s, leaf in zip(events, seqs, recorded, strict=True)]
        if self._sqlite:
            self._write(
                f"INSERT INTO audit_events ({_ROW_COLS}) VALUES ({', '.join([p] * 9)})",
                rows,
                many=True,
            )
            return seqs
        # PostgreSQL: COPY, several times cheaper than a per-row executemany (bench/audit.py)
        with self.db.transaction() as conn:
            cur = driver(conn).cursor()
            try:
                with cur.copy(f"COPY audit_events ({_ROW_COLS}) FROM STDIN") as copy:
                    for row in rows:
                        copy.write_row(row)
            finally:
                cur.close()
        return seqs

    @staticmethod
    def _unnest(
        conn: Any, table: str, cols: str, types: Sequence[str], rows: list, tail: str
    ) -> None:  # type: ignore[type-arg]
        columns = [list(c) for c in zip(*rows, strict=True)]
        arrays = ", ".join(f"%b::{t}[]" for t in types)
        cur = driver(conn).cursor()
        try:
            # %b: arrays go over the wire in binary, without per-element text quoting
            cur.execute(
                f"INSERT INTO {table} ({cols}) SELECT * FROM unnest({arrays}){tail}", columns
            )
        finally:
            cur.close()

    def read(self, from_seq: int = 1, to_seq: int | None = None) -> Iterator[AuditEvent]:
        last = self.size() if to_seq is None else to_seq
        return self._pages(max(from_seq, 1), last)

    def _pages(self, start: int, last: int) -> Iterator[AuditEvent]:
        # Pages by seq range, each its own short read: a 1M-event scan never holds a
        # connection (or a SQLite read snapshot) while the caller works between pages.
        p = self._p
        sql = f"SELECT {_EVENT_COLS} FROM audit_events WHERE seq >= {p} AND seq <= {p} ORDER BY seq"
        while start <= last:
            stop = min(start + _PAGE - 1, last)
            for r in self._fetch(sql, (start, stop)):
                yield AuditEvent(*r)
            start = stop + 1

    def record_pages(self, last: int | None = None) -> list[tuple[int, int]]:
        """The seq ranges :meth:`records` reads up to ``last`` (default: the log's size), one
        query each; parallel verifiers read the same ones, so every path checks exactly the
        same rows."""
        last = self.size() if last is None else last
        return [(s, min(s + _PAGE - 1, last)) for s in range(1, last + 1, _PAGE)]

    def records(self, pages: list[tuple[int, int]] | None = None) -> Iterator[tuple[Any, ...]]:
        """Every event (of ``pages``; default :meth:`record_pages`) as a verifier record
        (``verify.Record``) with its recorded leaf hash as raw bytes, page by page. While the
        verifier hashes one page the next is read on a helper thread (the database and the
        driver's socket waits release the GIL), so the scan and the hashing overlap instead
        of taking turns."""
        pages = self.record_pages() if pages is None else pages
        if not pages:
            return
        if self._in_transaction():  # a helper thread could not see this transaction's rows
            for page in pages:
                yield from self._record_page(*page)
            return
        with ThreadPoolExecutor(1, thread_name_prefix="mlwarden-audit-read") as pool:
            ahead = pool.submit(self._record_page, *pages[0])
            for nxt in [*pages[1:], None]:
                rows = ahead.result()
                if nxt is not None:
                    ahead = pool.submit(self._record_page, *nxt)
                yield from rows

    def _record_page(self, start: int, stop: int) -> list[tuple[Any, ...]]:
        # One primary-key range scan: the recorded leaf is a column of the event row.
        # PostgreSQL sends it in binary (raw 32 bytes, no hex); verifiers recompute it.
        return self._fetch(record_page_sql(self._p), (start, stop), binary=True)

    def record_source(self) -> RecordSource | None:
        """How another process opens this store to read records; ``None`` where it cannot
        (an in-memory or URI-mode SQLite database)."""
        url = self.db.engine.url
        if self._sqlite:
            path = url.database
            if not path or path == ":memory:" or path.startswith("file:"):
                return None
            return RecordSource(sqlite_path=os.path.abspath(path))
        _, params = self.db.engine.dialect.create_connect_args(url)
        params.pop("context", None)  # SQLAlchemy's adapters: the worker's driver has its own
        return RecordSource(pg_params=tuple(sorted(params.items())))

    def erase(self, seq: int) -> bool:
        with self.db.transaction() as conn:
            done = conn.exec_driver_sql(
                f"UPDATE audit_events SET payload = NULL, salt = NULL WHERE seq = {self._p}",
                (seq,),
            ).rowcount
        return bool(done)

    def query(
        self,
        *,
        subject: str | None = None,
        subject_tree: str | None = None,
        actor: str | None = None,
        action: str | None = None,
        since: str | None = None,
        until: str | None = None,
        limit: int | None = None,
        newest_first: bool = False,
        offset: int = 0,
    ) -> list[AuditEvent]:
        p = self._p
        where: list[str] = []
        args: list[Any] = []
        for col, op, value in (
            ("subject", "=", subject),
            ("actor", "=", actor),
            ("action", "=", action),
            ("time", ">=", since),
            ("time", "<", until),
        ):
            if value is not None:
                where.append(f"{col} {op} {p}")
                args.append(value)
        if subject_tree is not None:
            escaped = subject_tree.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
            where.append(f"(subject = {p} OR subject LIKE {p} ESCAPE '\\')")
            args += [subject_tree, escaped + "/%"]
        sql = f"SELECT {_EVENT_COLS} FROM audit_events"
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += " ORDER BY seq" + (" DESC" if newest_first else "")
        if limit is not None:
            sql += f" LIMIT {int(limit)}"
        if offset:
            if limit is None and self.db.is_sqlite:
                sql += " LIMIT -1"  # SQLite takes OFFSET only after a LIMIT
            sql += f" OFFSET {int(offset)}"
        with self.db.reading() as conn:
            rows = conn.exec_driver_sql(sql, tuple(args)).fetchall()
        return [AuditEvent(r[0], r[1], r[2], r[3], r[4], r[5], r[6], r[7]) for r in rows]

    # ---- tree nodes

    def get_node(self, level: int, index: int) -> bytes:
        if self._in_transaction():
            p = self._p
            sql, args = (
                (
                    f"SELECT leaf FROM audit_events WHERE seq = {p} AND leaf IS NOT NULL",
                    (index + 1,),
                )
                if level == 0
                else (
                    f"SELECT hash FROM audit_nodes WHERE level = {p} AND idx = {p}",
                    (level, index),
                )
            )
            with self.db.reading() as conn:
                row = conn.exec_driver_sql(sql, args).first()
            if row is None:
                raise KeyError((level, index))
            return bytes(row[0])
        # Nodes are insert-only and these are committed, so they never change: cached.
        hit = self._cache.get((level, index))
        return hit if hit is not None else self._read_node(level, index)

    def _read_node(self, level: int, index: int) -> bytes:
        # Proofs make ~2·log2(n) single-node reads. One query fetches the whole band of
        # _BAND levels below the node's ancestor (at most 2**(_BAND+1) - 2 rows): every
        # sibling a proof needs in that band arrives at once. And a pooled checkout per read
        # would cost more than the proof, so each thread keeps one autocommit connection.
        base = level - level % _BAND
        top = base + _BAND
        ancestor = index >> (top - level)
        p = self._p
        conds, args = [], []
        for lv in range(max(base, 1), top):
            conds.append(f"(level = {p} AND idx >= {p} AND idx < {p})")
            args += [lv, ancestor << (top - lv), (ancestor + 1) << (top - lv)]
        sql = f"SELECT level, idx, hash FROM audit_nodes WHERE {' OR '.join(conds)}"
        if base == 0:  # the band's leaves are rows of audit_events
            sql = (
                f"{_LEAF_NODES} WHERE seq > {p} AND seq <= {p} AND leaf IS NOT NULL UNION ALL {sql}"
            )
            args = [ancestor << top, (ancestor + 1) << top, *args]
        cur = self._node_connection().cursor()
        try:
            cur.execute(sql, args)
            rows = cur.fetchall()
        finally:
            cur.close()
        if len(self._cache) + len(rows) > _NODE_CACHE:
            self._cache.clear()
        for lv, i, h in rows:
            self._cache[(int(lv), int(i))] = bytes(h)
        try:
            return self._cache[(level, index)]
        except KeyError:
            raise KeyError((level, index)) from None

    def _node_connection(self) -> Any:
        local = self._local
        if getattr(local, "pid", None) != os.getpid():  # never reuse a parent's connection
            raw = self.db.engine.raw_connection()
            dbapi: Any = raw.driver_connection
            # Detached: it never goes back to the pool with autocommit set.
            raw.detach()
            if not self._sqlite:
                dbapi.autocommit = True  # each read sees the latest commit, holds no snapshot
            local.raw, local.conn, local.pid = raw, dbapi, os.getpid()
            with self._lock:
                self._opened.append((raw, os.getpid()))
        return local.conn

    def close(self) -> None:
        """Return the node-read connections (``Warden.close`` calls this)."""
        with self._lock:
            opened, self._opened = self._opened, []
        for raw, pid in opened:
            if pid == os.getpid():
                with contextlib.suppress(Exception):
                    raw.close()
        self._local = threading.local()

    def get_nodes(self, level: int, start: int, stop: int) -> list[bytes]:
        if stop <= start:
            return []
        p = self._p
        if level == 0:
            rows = self._fetch(
                f"SELECT seq - 1, leaf FROM audit_events WHERE seq > {p} AND seq <= {p} "
                "AND leaf IS NOT NULL ORDER BY seq",
                (start, stop),
            )
        else:
            rows = self._fetch(
                f"SELECT idx, hash FROM audit_nodes WHERE level = {p} AND idx >= {p} "
                f"AND idx < {p} ORDER BY idx",
                (level, start, stop),
            )
        if len(rows) == stop - start:
            return [bytes(r[1]) for r in rows]
        # A missing row (tampering): keep positions aligned so the verifier names the right seq.
        found = {int(r[0]): bytes(r[1]) for r in rows}
        return [found.get(i, b"") for i in range(start, stop)]

    def put_nodes(self, nodes: Sequence[Node]) -> None:
        # Leaves go into their event rows (set once: an existing leaf is never overwritten).
        leaves = [(h, i + 1) for level, i, h in nodes if level == 0]
        if leaves:
            self._write(
                f"UPDATE audit_events SET leaf = {self._p} WHERE seq = {self._p} AND leaf IS NULL",
                leaves,
                many=True,
            )
            nodes = [n for n in nodes if n[0]]
        if not nodes:
            return
        if self._sqlite:
            self._write(
                "INSERT OR IGNORE INTO audit_nodes (level, idx, hash) VALUES (?, ?, ?)",
                list(nodes),
                many=True,
            )
            return
        with self.db.transaction() as conn:
            self._copy_nodes(conn, list(nodes))

    def _copy_nodes(self, conn: Any, nodes: list[Node]) -> None:
        # COPY is fastest but cannot skip duplicates; they never occur when nodes commit with
        # their checkpoint, so try it under a savepoint and fall back only if one does.
        import psycopg

        cur = driver(conn).cursor()
        try:
            cur.execute("SAVEPOINT audit_nodes")
            try:
                with cur.copy("COPY audit_nodes (level, idx, hash) FROM STDIN") as copy:
                    for node in nodes:
                        copy.write_row(node)
                cur.execute("RELEASE SAVEPOINT audit_nodes")
            except psycopg.errors.UniqueViolation:
                cur.execute("ROLLBACK TO SAVEPOINT audit_nodes")
                self._unnest(
                    conn,
                    "audit_nodes",
                    "level, idx, hash",
                    ("smallint", "bigint", "bytea"),
                    nodes,
                    " ON CONFLICT DO NOTHING",
                )
        finally:
            cur.close()

    # ---- checkpoints

    def latest_checkpoint(self) -> Checkpoint | None:
        rows = self._fetch(
            "SELECT tree_size, root_hash, time, key_id, signature FROM audit_checkpoints "
            "ORDER BY tree_size DESC LIMIT 1"
        )
        return Checkpoint(*rows[0]) if rows else None

    def save_checkpoint(self, checkpoint: Checkpoint) -> None:
        p = self._p
        self._write(
            "INSERT INTO audit_checkpoints (tree_size, root_hash, time, key_id, signature) "
            f"VALUES ({p}, {p}, {p}, {p}, {p})",
            (
                checkpoint.tree_size,
                checkpoint.root_hash,
                checkpoint.time,
                checkpoint.key_id,
                checkpoint.signature,
            ),
        )

    def signed_view(self) -> tuple[list[Checkpoint], int]:
        # one statement, so one snapshot on either database, without the integrator lock
        rows = self._fetch(
            "SELECT s.size, c.tree_size, c.root_hash, c.time, c.key_id, c.signature "
            "FROM (SELECT max(seq) AS size FROM audit_events) s "
            "LEFT JOIN audit_checkpoints c ON 1 = 1 ORDER BY c.tree_size"
        )
        return [Checkpoint(*r[1:]) for r in rows if r[1] is not None], int(rows[0][0] or 0)

    def checkpoints(self) -> list[Checkpoint]:
        with self.db.reading() as conn:
            rows = conn.exec_driver_sql(
                "SELECT tree_size, root_hash, time, key_id, signature FROM audit_checkpoints "
                "ORDER BY tree_size"
            ).fetchall()
        return [Checkpoint(*r) for r in rows]


# --------------------------------------------------------------------------- the signing key

KEY_NAME = "audit-ed25519.pem"


def key_path(settings: Settings) -> Path:
    """Where the signing key lives: ``MLWARDEN_KEY_FILE``; else ``keys/`` beside an explicit
    SQLite file; else ``<home>/keys/`` (the embedded default, and PostgreSQL)."""
    if settings.key_file is not None:
        return Path(settings.key_file).expanduser()
    uri = settings.resolved_uri()
    if settings.uri and uri.startswith("sqlite:///"):
        return Path(uri.removeprefix("sqlite:///")).expanduser().parent / "keys" / KEY_NAME
    return Path(settings.home).expanduser() / "keys" / KEY_NAME


def public_key_path(private: Path) -> Path:
    return private.with_name(private.name.removesuffix(".pem") + ".pub.pem")
