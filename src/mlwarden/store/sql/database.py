"""A database handle whose transactions compose: nested ``transaction()`` calls join."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager, nullcontext
from contextvars import ContextVar
from typing import Any

from sqlalchemy import Connection, Engine, TableClause
from sqlalchemy.dialects import postgresql, sqlite

from mlwarden.store.sql import migrate
from mlwarden.store.sql.engine import make_engine, writer


def driver(conn: Connection) -> Any:
    """The DBAPI connection under a SQLAlchemy ``Connection`` (sqlite3 or psycopg), for the
    few hot statements where SQLAlchemy's statement building costs more than the work."""
    raw = conn.connection.driver_connection
    assert raw is not None  # a live pooled connection always has its driver's
    return raw


class Database:
    """Owns the engine. Services open ``transaction()``; store methods join it.

    One transaction per use case means a registration, its evidence and its audit event
    commit together or not at all.
    """

    def __init__(self, uri: str, *, auto_upgrade: bool | None = None) -> None:
        self.uri = uri
        self.engine: Engine = make_engine(uri)
        self._writer = writer(self.engine)
        self._current: ContextVar[Connection | None] = ContextVar(
            f"warden_tx_{id(self)}", default=None
        )
        self._pinned: ContextVar[Connection | None] = ContextVar(
            f"warden_pin_{id(self)}", default=None
        )
        if auto_upgrade is None:
            auto_upgrade = self.is_sqlite
        migrate.ensure_schema(self.engine, auto_upgrade=auto_upgrade)

    @property
    def is_sqlite(self) -> bool:
        return self.engine.dialect.name == "sqlite"

    def insert(self, table: TableClause) -> Any:
        """``INSERT`` into ``table`` with this dialect's ``ON CONFLICT`` clauses (both
        SQLite's and PostgreSQL's ``on_conflict_do_nothing`` / ``do_update``)."""
        return (sqlite.insert if self.is_sqlite else postgresql.insert)(table)

    @contextmanager
    def transaction(self, on: Connection | None = None) -> Iterator[Connection]:
        """A write transaction (SQLite: ``BEGIN IMMEDIATE``); nested calls join the outer one.
        ``on``: a connection from :meth:`writer_connection` that the caller keeps, instead
        of a pool checkout per transaction (the prediction writer's hot loop)."""
        current = self._current.get()
        if current is not None:
            yield current
            return
        with nullcontext(on) if on is not None else self._writer.connect() as conn, conn.begin():
            token = self._current.set(conn)
            try:
                yield conn
            finally:
                self._current.reset(token)

    def writer_connection(self) -> Connection:
        """A connection whose transactions take the write lock at BEGIN; close it when done."""
        return self._writer.connect()

    @contextmanager
    def reading(self) -> Iterator[Connection]:
        """A read; joins an open write transaction so it sees its own uncommitted rows."""
        current = self._current.get() or self._pinned.get()
        if current is not None:
            yield current
            return
        with self.engine.connect() as conn:
            yield conn

    @contextmanager
    def pinned(self) -> Iterator[None]:
        """Reads inside share one pooled connection (PostgreSQL, this thread or task)
        instead of a checkout per read, each a pre-ping and a rollback round trip: a fleet
        job makes a dozen small reads per model. PostgreSQL reads at READ COMMITTED, so
        every statement still sees what others committed; writes keep their own
        transactions. SQLite: nothing changes (an open read would hold its snapshot)."""
        if self.is_sqlite or self._pinned.get() is not None:
            yield
            return
        with self.engine.connect() as conn:
            token = self._pinned.set(conn)
            try:
                yield
            finally:
                self._pinned.reset(token)

    def scrub(self, tables: Sequence[str], *, vacuum: bool = False) -> dict[str, bool]:
        """After deleting secrets (an erased subject's key), leave no copy of them behind.

        SQLite: the deleted rows' pages stay in the write-ahead log until a checkpoint, so
        copy it into the database and truncate it to zero bytes (secure_delete, set by the
        deleting transaction, zeroed them in the database file). PostgreSQL keeps dead row
        versions in the table files until VACUUM, which ``vacuum`` runs here: ``VACUUM FULL``
        on the first table (it rewrites it, so the old file is gone), plain VACUUM on the rest.
        """
        if self.is_sqlite:
            raw = self.engine.raw_connection()
            try:
                # the driver connection is in autocommit (engine.py): no open snapshot of
                # ours holds the checkpoint back; others' readers make it wait (busy_timeout)
                busy, _, _ = raw.driver_connection.execute(  # type: ignore[union-attr]
                    "PRAGMA wal_checkpoint(TRUNCATE)"
                ).fetchone()
            finally:
                raw.close()
            return {"wal_truncated": busy == 0}
        if not vacuum:
            return {"vacuumed": False}
        with self.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            for i, table in enumerate(tables):
                conn.exec_driver_sql(f"VACUUM {'FULL ' if i == 0 else ''}{table}")
        return {"vacuumed": True}

    def dispose(self) -> None:
        self.engine.dispose()
