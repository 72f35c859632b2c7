"""Audit leaf hashes in the event row; the actor and action indexes dropped.

An append then writes one row per event (the event with its leaf hash) instead of an event
row and a level-0 node row, and verification reads events and recorded leaves in one primary
key range scan. ``audit_nodes`` keeps levels >= 1. Existing rows are backfilled from their
level-0 nodes, which are then deleted (an event never integrated keeps a NULL leaf).

``ix_audit_events_actor`` and ``ix_audit_events_action`` served only unselective filters
(a handful of distinct values, so the planner scans the primary key backwards with a LIMIT
anyway) and cost an index insert per event; ``subject`` (model pages, erasure, prediction
lookups) and ``time`` (since/until) stay. docs/audit.md has the EXPLAINs.

Revision ID: 0025
Revises: 0024
"""

import sqlalchemy as sa
from alembic import op

revision = "0025"
down_revision = "0024"


def upgrade() -> None:
    with op.batch_alter_table("audit_events") as batch:
        batch.add_column(sa.Column("leaf", sa.LargeBinary(32), nullable=True))
    op.execute(
        "UPDATE audit_events SET leaf = (SELECT n.hash FROM audit_nodes n "
        "WHERE n.level = 0 AND n.idx = audit_events.seq - 1)"
    )
    op.execute("DELETE FROM audit_nodes WHERE level = 0")
    op.drop_index("ix_audit_events_actor", "audit_events")
    op.drop_index("ix_audit_events_action", "audit_events")


def downgrade() -> None:
    op.create_index("ix_audit_events_action", "audit_events", ["action"])
    op.create_index("ix_audit_events_actor", "audit_events", ["actor"])
    op.execute(
        "INSERT INTO audit_nodes (level, idx, hash) "
        "SELECT 0, seq - 1, leaf FROM audit_events WHERE leaf IS NOT NULL"
    )
    with op.batch_alter_table("audit_events") as batch:
        batch.drop_column("leaf")
