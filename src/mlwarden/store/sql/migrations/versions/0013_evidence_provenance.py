"""Provenance of metrics and evidence: ``measured`` by the side that owns the store, or only
``asserted`` by a client (issue 14, requirement 4).

Existing rows default to ``measured`` because, before this revision, only two paths wrote a
version: ``RegistryService.register`` in the process that owns the store (it computes every
metric and evidence record itself from the data it was given) and ``POST
/v1/models/{name}/versions``, which stored what the client sent. The second path audited its
registrations with ``"via":"api"`` in the ``version.register`` payload, so the upgrade marks
exactly those versions' metrics and evidence ``asserted``. (An erased payload can no longer say
how its version arrived; registration payloads name no data subject, so none is erased.)

Revision ID: 0013
Revises: 0012
"""

import json

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0013"
down_revision = "0012"

Json = sa.JSON().with_variant(JSONB(), "postgresql")


def upgrade() -> None:
    with op.batch_alter_table("model_versions") as batch:
        batch.add_column(sa.Column("metrics_provenance", Json))
    with op.batch_alter_table("evidence") as batch:
        batch.add_column(
            sa.Column("provenance", sa.String(16), nullable=False, server_default="measured")
        )
    _mark_api_registrations()


def _mark_api_registrations() -> None:
    conn = op.get_bind()
    if not sa.inspect(conn).has_table("audit_events"):
        return
    events = sa.table(
        "audit_events", sa.column("action"), sa.column("subject"), sa.column("payload")
    )
    models = sa.table("models", sa.column("id"), sa.column("name"))
    versions = sa.table(
        "model_versions",
        sa.column("id"),
        sa.column("model_id"),
        sa.column("version"),
        sa.column("metrics", Json),
        sa.column("metrics_provenance", Json),
    )
    evidence = sa.table("evidence", sa.column("version_id"), sa.column("provenance"))
    rows = conn.execute(
        sa.select(events.c.subject, events.c.payload).where(
            events.c.action == "version.register", events.c.payload.like('%"via":"api"%')
        )
    ).all()
    for subject, payload in rows:
        if json.loads(payload).get("via") != "api" or "@" not in subject:
            continue
        name, _, number = subject.rpartition("@")
        row = conn.execute(
            sa.select(versions.c.id, versions.c.metrics)
            .join(models, models.c.id == versions.c.model_id)
            .where(models.c.name == name, versions.c.version == int(number))
        ).first()
        if row is None:
            continue
        conn.execute(
            versions.update()
            .where(versions.c.id == row.id)
            .values(metrics_provenance={k: "asserted" for k in (row.metrics or {})})
        )
        conn.execute(
            evidence.update().where(evidence.c.version_id == row.id).values(provenance="asserted")
        )


def downgrade() -> None:
    with op.batch_alter_table("evidence") as batch:
        batch.drop_column("provenance")
    with op.batch_alter_table("model_versions") as batch:
        batch.drop_column("metrics_provenance")
