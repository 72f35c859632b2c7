"""Schema migrations, applied programmatically (Alembic, no alembic.ini)."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, text

from mlwarden.errors import SchemaOutOfDate

MIGRATIONS = Path(__file__).parent / "migrations"
#: ``pg_advisory_xact_lock`` key for schema changes: the bytes ``mlwmigr`` as a bigint.
MIGRATION_LOCK_KEY = int.from_bytes(b"mlwmigr", "big")


def _config() -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    return cfg


def head_revision() -> str:
    head = ScriptDirectory.from_config(_config()).get_current_head()
    assert head is not None
    return head


def current_revision(engine: Engine) -> str | None:
    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def upgrade(engine: Engine, revision: str = "head") -> None:
    from mlwarden.store.sql.engine import writer

    cfg = _config()
    # BEGIN IMMEDIATE on SQLite: a second process waits for the first one's schema instead
    # of failing on the lock upgrade that a deferred transaction would need for DDL.
    with writer(engine).begin() as conn:
        if conn.dialect.name == "postgresql":
            # Several processes may open a fresh database at once: one migrates, the others
            # wait here and then find the schema at head (SQLite's write lock does the same).
            conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": MIGRATION_LOCK_KEY})
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, revision)


def ensure_schema(engine: Engine, *, auto_upgrade: bool) -> None:
    """Create an empty database's schema; upgrade an old one only when allowed.

    The embedded default upgrades itself. A shared PostgreSQL is created on first use but never
    upgraded implicitly: other servers may still run the older code, so an operator runs
    ``mlwarden db upgrade``.
    """
    current = current_revision(engine)
    head = head_revision()
    if current == head:
        return
    if current is None or auto_upgrade:
        upgrade(engine)
        return
    raise SchemaOutOfDate(
        f"the database schema is at revision {current} but this Warden needs {head}: "
        "run `mlwarden db upgrade`",
        current=current,
        head=head,
    )
