"""Audit records page by page, on a driver connection of its own.

:class:`~mlwarden.store.sql.audit.SqlAuditBackend` reads verifier records with this query,
and so do the processes of the parallel verifier (``mlwarden.audit.parallel``), each over its
own connection: this module imports only the driver, so a worker starts without SQLAlchemy.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

__all__ = ["RECORD_COLS", "RecordSource", "record_page_sql"]

#: an event row as written: the fields and the Merkle leaf hash recorded at append
RECORD_COLS = "seq, time, actor, action, subject, payload_digest, payload, salt, leaf"

PageReader = Callable[[int, int], list[Any]]


def record_page_sql(paramstyle: str) -> str:
    """One primary-key range scan, ``seq`` from the first parameter to the second."""
    p = paramstyle
    return f"SELECT {RECORD_COLS} FROM audit_events WHERE seq >= {p} AND seq <= {p} ORDER BY seq"


@dataclass(frozen=True, slots=True)
class RecordSource:
    """How another process opens the store for reading (picklable): a SQLite file's absolute
    path, or psycopg's connection keywords (what SQLAlchemy would pass it)."""

    sqlite_path: str | None = None
    pg_params: tuple[tuple[str, Any], ...] = ()

    def open(self) -> tuple[PageReader, Callable[[], None]]:
        """A page reader over a fresh connection, and the function that closes it. Each page
        is its own short read (autocommit), as in the store's own scan."""
        if self.sqlite_path is not None:
            import sqlite3
            from urllib.parse import quote

            # read-only: a worker never creates or writes the database
            lite = sqlite3.connect(
                f"file:{quote(self.sqlite_path)}?mode=ro", uri=True, timeout=60,
                isolation_level=None, check_same_thread=False,
            )  # fmt: skip
            sql = record_page_sql("?")

            def read_lite(start: int, stop: int) -> list[Any]:
                return lite.execute(sql, (start, stop)).fetchall()

            return read_lite, lite.close

        import psycopg

        pg = psycopg.connect(**dict(self.pg_params), autocommit=True)
        sql = record_page_sql("%s")

        def read_pg(start: int, stop: int) -> list[Any]:
            # binary: bytea as raw bytes and integers unparsed, as the store's own scan reads
            with pg.cursor(binary=True) as cur:
                cur.execute(sql, (start, stop))
                return cur.fetchall()

        return read_pg, pg.close
