"""``Database.pinned``: a fleet job's reads for one model share one connection on
PostgreSQL, still see what other connections commit, and leave it whole after an error."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from mlwarden.store.sql.database import Database


@pytest.fixture
def db(store_uri: str) -> Iterator[Database]:
    database = Database(store_uri)
    yield database
    database.dispose()


def backend_pid(db: Database) -> object:
    with db.reading() as conn:
        if db.is_sqlite:
            return id(conn.connection.driver_connection)
        return conn.execute(text("SELECT pg_backend_pid()")).scalar()


def test_reads_inside_share_one_connection_and_see_commits(db: Database) -> None:
    with db.transaction() as conn:
        conn.execute(text("CREATE TABLE pin_probe (n integer)"))
    with db.pinned():
        first = backend_pid(db)
        if not db.is_sqlite:  # SQLite: a checkout per read, as outside
            assert backend_pid(db) == first
        # a commit made meanwhile by another connection is seen by the next read
        with db.transaction() as conn:
            conn.execute(text("INSERT INTO pin_probe VALUES (7)"))
        with db.reading() as conn:
            assert conn.execute(text("SELECT n FROM pin_probe")).scalar() == 7
        with db.pinned():  # nested: the same connection
            if not db.is_sqlite:
                assert backend_pid(db) == first


def test_an_error_inside_ends_with_its_scope(db: Database) -> None:
    with pytest.raises(DBAPIError), db.pinned(), db.reading() as conn:
        conn.execute(text("SELECT * FROM no_such_table"))
    with db.pinned(), db.reading() as conn:  # a fresh scope reads again
        assert conn.execute(text("SELECT 1")).scalar() == 1
