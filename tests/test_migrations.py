"""Migrations: created on first use, upgraded only where that is safe."""

from __future__ import annotations

import pandas as pd
import pytest
from sqlalchemy import text

import mlwarden as mw
from mlwarden.audit.sql_log import SqlAuditLog
from mlwarden.store.sql import migrate
from mlwarden.store.sql.audit import SqlAuditBackend
from mlwarden.store.sql.engine import make_engine


@pytest.fixture
def store_uri(empty_store_uri: str) -> str:
    """Here the migrations are under test: an empty database, not the migrated template."""
    return empty_store_uri


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


STRUCTURAL = (
    "add_table", "remove_table", "add_column", "remove_column", "add_index", "remove_index",
    "add_fk", "remove_fk",
)  # fmt: skip


def test_migrations_create_exactly_the_declared_tables(store_uri, tmp_path):
    """Alembic's autogenerate comparison finds nothing to add or drop after upgrading."""
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    from mlwarden.store.sql.schema import metadata

    wd = mw.Warden(store_uri, artifacts=str(tmp_path / "a"))  # imports every store module
    with wd.db.engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), metadata)
    structural = [d for d in diff if d[0] in STRUCTURAL]
    assert structural == []


def test_prediction_ingest_migration_keeps_the_log(store_uri, tmp_path):
    """0009 rebuilds ``predictions`` on SQLite (dropping its foreign key): rows, indexes and
    the downgrade path survive it."""
    from alembic import command
    from sklearn.dummy import DummyClassifier
    from sqlalchemy import inspect

    wd = mw.Warden(store_uri, artifacts=str(tmp_path / "a"))
    X = pd.DataFrame({"x": [1.0, 2.0, 3.0]})
    wd.register_model("m", DummyClassifier().fit(X, [0, 1, 1]))
    ids = wd.log_predictions("m", X, [1, 1, 1], subjects=["ann", None, None])
    engine = wd.db.engine

    def move(step, revision: str) -> None:
        cfg = migrate._config()
        with engine.begin() as conn:
            cfg.attributes["connection"] = conn
            step(cfg, revision)

    def foreign_keys() -> list:
        return inspect(engine).get_foreign_keys("predictions")

    assert foreign_keys() == []
    move(command.downgrade, "0008")
    assert [fk["referred_table"] for fk in foreign_keys()] == ["models"]
    move(command.upgrade, "head")
    assert foreign_keys() == []
    indexes = {i["name"] for i in inspect(engine).get_indexes("predictions")}
    assert {"ix_predictions_model_ts", "ix_predictions_subject"} <= indexes
    logged = wd.predictions("m")
    assert sorted(logged["id"]) == sorted(ids) and wd.export_subject("ann")["predictions"]


def test_alert_channels_migration_installs_inline_channels(store_uri, tmp_path):
    """0014: channels written inline in installed monitoring policies become installed
    channels, and the stored policies name them (and load)."""
    from alembic import command
    from alembic.script import ScriptDirectory

    wd = mw.Warden(store_uri, artifacts=str(tmp_path / "a"))
    engine = wd.db.engine
    cfg = migrate._config()
    before = ScriptDirectory.from_config(cfg).get_revision("0014").down_revision

    def move(step, revision: str) -> None:
        with engine.begin() as conn:
            cfg.attributes["connection"] = conn
            step(cfg, revision)

    move(command.downgrade, before)
    source = """kind: monitoring
name: {name}
channels:
  - name: Ops Hook
    url: https://hooks.example.com/{url}
    format: slack
    secret_env: MLWARDEN_WEBHOOK_SECRET_OPS
  - name: ops-log
    format: log
rules:
  - id: drift
    when: drift.share_drifted > 0.3
"""
    with engine.begin() as conn:
        for name, url in (("a", "same"), ("b", "same"), ("c", "other")):
            conn.execute(
                text(
                    "INSERT INTO monitoring_policies (name, source, sha256, created_by, "
                    "created_at) VALUES (:n, :s, 'x', 'alice', CURRENT_TIMESTAMP)"
                ),
                {"n": name, "s": source.format(name=name, url=url)},
            )
    move(command.upgrade, "head")
    channels = {c.name: c for c in wd.alerting.store.channels()}
    assert sorted(channels) == ["ops-hook", "ops-hook-2"]
    assert channels["ops-hook"].url == "https://hooks.example.com/same"
    assert channels["ops-hook-2"].url == "https://hooks.example.com/other"
    assert channels["ops-hook"].format == "slack" and channels["ops-hook"].created_by == "alice"
    policies = {p.name: p for p in wd.alerting.installed()}
    assert policies["a"].channels == policies["b"].channels == ("ops-hook", "log")
    assert policies["c"].channels == ("ops-hook-2", "log")
    assert [r.id for r in policies["c"].rules] == ["drift"]


def test_fleet_health_migration_copies_each_windows_drift_verdict(store_uri, tmp_path):
    """0024: windows stored before it get their result's drift verdict in the columns the
    inventory reads (and NaN shares, or results without drift, none); the downgrade drops
    them again."""
    from alembic import command
    from sqlalchemy import inspect

    wd = mw.Warden(store_uri, artifacts=str(tmp_path / "a"))
    engine = wd.db.engine
    cfg = migrate._config()

    def move(step, revision: str) -> None:
        with engine.begin() as conn:
            cfg.attributes["connection"] = conn
            step(cfg, revision)

    move(command.downgrade, "0023")
    assert "drifted" not in {c["name"] for c in inspect(engine).get_columns("monitor_windows")}
    results = {
        "a": '{"drift": {"share_drifted": 0.75, "dataset_drifted": true}}',
        "b": '{"drift": {"share_drifted": NaN, "dataset_drifted": false}}',
        "c": '{"quality": {}}',
    }
    with engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO models (name, risk_tier, tags, created_at, created_by, "
                "last_version) VALUES ('m', 'low', '{}', CURRENT_TIMESTAMP, 'alice', 0)"
            )
        )
        model_id = conn.execute(text("SELECT id FROM models WHERE name = 'm'")).scalar()
        for key, result in results.items():
            conn.execute(
                text(
                    'INSERT INTO monitor_windows (model_id, version, "window", start, "end", '
                    'segment, "key", "rows", result, computed_at) VALUES (:m, 1, \'1d\', '
                    "CURRENT_TIMESTAMP, CURRENT_TIMESTAMP, 'all', :k, 10, :r, "
                    "CURRENT_TIMESTAMP)"
                ),
                {"m": model_id, "k": key, "r": result},
            )
    move(command.upgrade, "head")
    with engine.connect() as conn:
        found = {
            k: (d, s)
            for k, d, s in conn.execute(
                text('SELECT "key", drifted, share_drifted FROM monitor_windows')
            )
        }
    assert found == {"a": (True, 0.75), "b": (False, None), "c": (None, None)}
    move(command.downgrade, "0023")
    assert "drifted" not in {c["name"] for c in inspect(engine).get_columns("monitor_windows")}
    move(command.upgrade, "head")


def test_audit_leaf_migration_moves_leaves_between_nodes_and_events(store_uri, tmp_path):
    """0025 moves each recorded leaf hash from its level-0 node row into its event row (and
    back on downgrade): the log verifies and proves the same on both sides."""
    from alembic import command
    from sqlalchemy import inspect

    wd = mw.Warden(store_uri, artifacts=str(tmp_path / "a"))
    wd.audit.append_many([("alice", "x.did", f"thing:{i}", {"i": i}) for i in range(11)])
    wd.audit.append("bob", "y.did", "thing:last")
    size = wd.audit.size
    leaves = [wd.audit.backend.get_node(0, i) for i in range(size)]
    engine = wd.db.engine

    def move(step, revision: str) -> None:
        cfg = migrate._config()
        with engine.begin() as conn:
            cfg.attributes["connection"] = conn
            step(cfg, revision)

    def level0() -> list:
        with engine.connect() as conn:
            return [
                bytes(r[0])
                for r in conn.execute(
                    text("SELECT hash FROM audit_nodes WHERE level = 0 ORDER BY idx")
                )
            ]

    assert level0() == []
    move(command.downgrade, "0024")
    assert "leaf" not in {c["name"] for c in inspect(engine).get_columns("audit_events")}
    assert level0() == leaves
    move(command.upgrade, "head")
    assert level0() == []
    with engine.connect() as conn:
        stored = [
            bytes(r[0]) for r in conn.execute(text("SELECT leaf FROM audit_events ORDER BY seq"))
        ]
    assert stored == leaves
    log = SqlAuditLog(SqlAuditBackend(wd.db), public_key=wd.audit.public_key)
    assert log.verify().ok and log.verify().events_checked == size
    assert log.prove(5).verify(log.latest_checkpoint(), wd.audit.public_key)
