"""Shared fixtures. Store tests run on SQLite and, when MLWARDEN_TEST_POSTGRES_URL is set,
on PostgreSQL too (in CI it must be set and reachable: a missing database fails the run)."""

from __future__ import annotations

import multiprocessing as mp
import os
import sqlite3
import uuid
from collections.abc import Iterator
from contextlib import closing, contextmanager
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event

import mlwarden as mw
from _environment import adopt
from mlwarden.store.files import private_file
from mlwarden.store.sql import migrate
from mlwarden.store.sql.engine import make_engine

# pytest imports readline (its capture plugin's workaround), and GNU readline writes COLUMNS and
# LINES into the C environment, which os.environ does not show but child processes inherit:
# pytest-xdist's workers would start with COLUMNS=80, and a Rich console created at import (the
# CLI's) would keep that width for good, whatever width a test then asks for. Children get the
# environment this process sees.
for _name in ("COLUMNS", "LINES"):
    if _name in os.environ:
        os.putenv(_name, os.environ[_name])
    else:
        os.unsetenv(_name)

# Servers built in this process would freeze the heap (gc.freeze) and keep every earlier
# test's objects; test_serve_proxy_writer.py checks the setting itself.
os.environ.setdefault("MLWARDEN_SERVE_SETTLE_HEAP", "false")

PG_URL = os.environ.get("MLWARDEN_TEST_POSTGRES_URL")
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


def pytest_sessionstart(session: pytest.Session) -> None:
    if IN_CI and not PG_URL:
        raise pytest.UsageError("CI=true but MLWARDEN_TEST_POSTGRES_URL is not set")


@pytest.fixture(autouse=True)
def _own_home(monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory) -> None:
    """Each test gets its own ``MLWARDEN_HOME`` (created only if used). A store whose keys live
    in its home (the embedded default, and every PostgreSQL store) would otherwise share the
    working directory's ``./mlwarden/keys`` (audit key, master key, masking key ring) with
    every other such test, and, under pytest-xdist, with tests running at the same moment in
    other workers. Servers and CLIs a test starts inherit it with the environment."""
    home = tmp_path_factory.getbasetemp() / "homes" / uuid.uuid4().hex[:12]
    monkeypatch.setenv("MLWARDEN_HOME", str(home))


def _backends() -> list:
    return ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]


def schema_name() -> str:
    """A new schema's name: unique, and naming the pytest-xdist worker that made it (``gw0``…,
    ``main`` without xdist), so a schema left behind by a killed worker says whose it was."""
    return f"t_{os.environ.get('PYTEST_XDIST_WORKER', 'main')}_{uuid.uuid4().hex[:12]}"


@contextmanager
def _pg_schema() -> Iterator[str]:
    """A fresh, empty PostgreSQL schema (its URI), dropped afterwards."""
    if not PG_URL:
        pytest.skip("MLWARDEN_TEST_POSTGRES_URL is not set")
    import psycopg

    schema = schema_name()
    with psycopg.connect(PG_URL, autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA "{schema}"')
    sep = "&" if "?" in PG_URL else "?"
    try:
        yield f"{PG_URL}{sep}options=-csearch_path%3D{schema}"
    finally:
        with psycopg.connect(PG_URL, autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA "{schema}" CASCADE')


@pytest.fixture
def pg_schema_uri() -> Iterator[str]:
    """A fresh, empty PostgreSQL schema for one test, dropped afterwards."""
    with _pg_schema() as uri:
        yield uri


# Running the migrations takes seconds per database (Alembic imports every revision, SQLite
# rebuilds tables, PostgreSQL's DDL is slow), and most tests need only an empty store at
# head. The real migrations run once per session; a test's store is then a copy of the
# SQLite template, or a PostgreSQL schema from a pool: made by replaying the statements the
# migrations executed, and emptied after each test (tables truncated, sequences restarted) for
# the next one. An emptied store has no store key: each test's store makes its own on first
# open. tests/test_migrations.py migrates empty databases itself (``empty_store_uri``).


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("template") / "warden.db"
    engine = make_engine(f"sqlite:///{path}")
    migrate.upgrade(engine)
    engine.dispose()
    return path


def _copy_sqlite(template: Path, target: Path) -> None:
    private_file(target)  # 0600, as a store opened by Warden is
    with (
        closing(sqlite3.connect(template)) as source,
        closing(sqlite3.connect(target)) as copy,
    ):
        source.backup(copy)


class PgSchemaPool:
    """PostgreSQL schemas at head for one test at a time (see above)."""

    def __init__(self) -> None:
        self.free: list[str] = []
        self.owned: list[str] = []
        self.statements: list[tuple[str, Any, bool]] = []
        self.tables: set[str] = set()

    def _schema(self) -> str:
        import psycopg

        assert PG_URL
        schema = schema_name()
        with psycopg.connect(PG_URL, autocommit=True) as conn:
            conn.execute(f'CREATE SCHEMA "{schema}"')
        self.owned.append(schema)
        sep = "&" if "?" in PG_URL else "?"
        return f"{PG_URL}{sep}options=-csearch_path%3D{schema}"

    def _record(self) -> None:
        """Run the real migrations once, keeping what they execute."""
        uri = self._schema()
        engine = make_engine(uri)

        @event.listens_for(engine, "before_cursor_execute")
        def record(conn, cursor, statement, parameters, context, executemany) -> None:
            self.statements.append((statement, parameters, executemany))

        migrate.upgrade(engine)
        engine.dispose()
        schema = uri.rsplit("%3D", 1)[1]
        assert not any(schema in sql for sql, _, _ in self.statements), "a migration names it"
        self.tables = self._tables(uri)
        self.free.append(uri)

    @staticmethod
    def _tables(uri: str) -> set[str]:
        import psycopg

        with psycopg.connect(uri, autocommit=True) as conn:
            rows = conn.execute(
                "SELECT tablename FROM pg_tables WHERE schemaname = current_schema()"
            )
            return {row[0] for row in rows}

    def take(self) -> str:
        import psycopg

        if not self.statements:
            self._record()
        if self.free:
            return self.free.pop()
        uri = self._schema()
        with psycopg.connect(uri) as conn, conn.cursor() as cur:  # one transaction
            for sql, params, many in self.statements:
                if many:
                    cur.executemany(sql, params)
                else:
                    cur.execute(sql, params or None)
        return uri

    def give_back(self, uri: str) -> None:
        """Empty the schema for the next test; one that a test changed is not reused."""
        import psycopg

        try:
            if self._tables(uri) != self.tables:
                return
            with psycopg.connect(uri) as conn:
                conn.execute("SET LOCAL lock_timeout = '10s'")
                # no triggers (append-only guards) or foreign-key checks while emptying
                conn.execute("SET LOCAL session_replication_role = replica")
                if conn.execute("SELECT version_num FROM alembic_version").fetchall() != [
                    (migrate.head_revision(),)
                ]:
                    return
                # TRUNCATE, not DELETE: every table the test wrote gets new, empty files, as in
                # a new schema. Deleted rows would leave their pages behind, and whatever free
                # space a VACUUM of the last test recorded there (an erasure runs one) decides
                # where the next test's rows land; the prediction look-up finds a batch by the
                # physical order of its rows. Tables never written have no pages to empty.
                written = conn.execute(
                    "SELECT relname FROM pg_class"
                    " WHERE relnamespace = current_schema()::regnamespace"
                    " AND relkind = 'r' AND relname <> 'alembic_version'"
                    " AND pg_relation_size(oid) > 0"
                ).fetchall()
                if written:
                    names = ", ".join(f'"{table}"' for (table,) in sorted(written))
                    conn.execute(f"TRUNCATE {names} CASCADE")  # CASCADE: unwritten referrers
                sequences = conn.execute(
                    "SELECT sequencename FROM pg_sequences WHERE schemaname = current_schema()"
                ).fetchall()
                for (sequence,) in sequences:
                    conn.execute(f'ALTER SEQUENCE "{sequence}" RESTART')
        except psycopg.Error:
            return
        self.free.append(uri)

    def close(self) -> None:
        import psycopg

        assert PG_URL
        with psycopg.connect(PG_URL, autocommit=True) as conn:
            for schema in self.owned:
                conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


@pytest.fixture(scope="session")
def pg_schema_pool() -> Iterator[PgSchemaPool]:
    if not PG_URL:
        pytest.skip("MLWARDEN_TEST_POSTGRES_URL is not set")
    pool = PgSchemaPool()
    yield pool
    pool.close()


@pytest.fixture(params=_backends())
def empty_store_uri(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """An empty database on each backend (the migrations run on first open)."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'warden.db'}"
        return
    with _pg_schema() as uri:
        yield uri


@pytest.fixture(params=_backends())
def store_uri(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A database at the head revision on each backend; the artifact folder goes in
    ``tmp_path``."""
    if request.param == "sqlite":
        path = tmp_path / "warden.db"
        _copy_sqlite(request.getfixturevalue("sqlite_template"), path)
        yield f"sqlite:///{path}"
        return
    pool: PgSchemaPool = request.getfixturevalue("pg_schema_pool")
    uri = pool.take()
    yield uri
    pool.give_back(uri)


@pytest.fixture
def warden(store_uri: str, tmp_path: Path) -> Iterator[mw.Warden]:
    wd = mw.Warden(store_uri, artifacts=str(tmp_path / "artifacts"), actor="alice")
    yield wd
    wd.close()


class Processes:
    """The forkserver context, whose pools run in the environment of the test that makes them.

    The fork server starts once per session, with the environment of the first test that uses
    it, and its children inherit that: without ``adopt`` a later test's processes would open
    its store with the first test's ``MLWARDEN_HOME`` (another master key)."""

    def __init__(self, ctx: Any) -> None:
        self.ctx = ctx

    def Manager(self) -> Any:  # multiprocessing's names
        return self.ctx.Manager()

    def Pool(self, processes: int) -> Any:
        return self.ctx.Pool(processes, initializer=adopt, initargs=(dict(os.environ),))


@pytest.fixture(scope="session")
def processes() -> Processes:
    """The context for the tests with concurrent writers in real processes: each is forked
    from a server that imported mlwarden once (``spawn`` imports it again in every child)."""
    ctx = mp.get_context("forkserver")
    ctx.set_forkserver_preload(["mlwarden", "mlwarden.client"])
    return Processes(ctx)


@pytest.fixture(scope="session")
def adult():
    return mw.datasets.load_adult()


@pytest.fixture(scope="session")
def small_adult(adult):
    """A 4,000-row training sample and a 2,000-row evaluation sample, for speed."""
    train, test = adult
    return train.sample(4000, random_state=0), test.sample(2000, random_state=0)


@pytest.fixture(scope="session")
def fitted_pipeline(small_adult):
    from sklearn.compose import make_column_selector, make_column_transformer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    train, _ = small_adult
    pipe = make_pipeline(
        make_column_transformer(
            (
                OneHotEncoder(handle_unknown="ignore"),
                make_column_selector(dtype_include="category"),
            ),
            (StandardScaler(), make_column_selector(dtype_include="number")),
        ),
        LogisticRegression(max_iter=300),
    )
    return pipe.fit(train.drop(columns="income"), train["income"])


@pytest.fixture
def registered(warden, fitted_pipeline, small_adult):
    train, test = small_adult
    return warden.register_model(
        "credit-risk",
        fitted_pipeline,
        train=mw.Dataset(train.drop(columns="income"), train["income"], name="adult-train"),
        eval=mw.Dataset(test.drop(columns="income"), test["income"], name="adult-test"),
        sensitive_features=["sex", "race"],
        owner="risk-team",
        risk_tier="high",
        intended_use="Pre-screening of credit applications.",
    )
