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
