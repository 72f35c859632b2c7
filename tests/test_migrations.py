"""Migrations: created on first use, upgraded only where that is safe."""

from __future__ import annotations

import pytest
from sqlalchemy import text

import mlwarden as mw
from mlwarden.store.sql import migrate
from mlwarden.store.sql.engine import make_engine


def test_fresh_database_is_created_at_head(store_uri, tmp_path):
    wd = mw.Warden(store_uri, artifacts=str(tmp_path / "a"))
    assert migrate.current_revision(wd.db.engine) == migrate.head_revision()


@pytest.mark.postgres
def test_shared_postgres_is_not_upgraded_implicitly(pg_schema_uri, tmp_path):
    engine = make_engine(pg_schema_uri)
    migrate.upgrade(engine)
    with engine.begin() as conn:  # pretend the schema is from an older release
        conn.execute(text("UPDATE alembic_version SET version_num = 'old0'"))
    with pytest.raises(migrate.SchemaOutOfDate, match="run `mlwarden db upgrade`"):
        mw.Warden(pg_schema_uri, artifacts=str(tmp_path / "a"))


def test_sqlite_uses_wal(tmp_path):
    wd = mw.Warden(f"sqlite:///{tmp_path / 'w.db'}", artifacts=str(tmp_path / "a"))
    with wd.db.engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"


def test_migrations_create_exactly_the_declared_tables(store_uri, tmp_path):
    """Alembic's autogenerate comparison finds nothing to add or drop after upgrading."""
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    from mlwarden.store.sql.schema import metadata

    wd = mw.Warden(store_uri, artifacts=str(tmp_path / "a"))  # imports every store module
    with wd.db.engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), metadata)
    structural = [
        d
        for d in diff
        if d[0]
        in ("add_table", "remove_table", "add_column", "remove_column", "add_index", "remove_index")
    ]
    assert structural == []
