"""KServe logger halves in the store: ``ingest_halves``.

The request and response CloudEvents of one inference were paired in the memory of the
process that received them, so behind ``--workers N`` or several replicas a pair split across
processes was never logged. Each half now waits in a row, one per (model, event id).

Revision ID: 0028
Revises: 0027
"""

import sqlalchemy as sa
from alembic import op

revision = "0028"
down_revision = "0027"


def upgrade() -> None:
    op.create_table(
        "ingest_halves",
        sa.Column("model", sa.String(256), primary_key=True),
        sa.Column("event_id", sa.String(256), primary_key=True),
        sa.Column("request", sa.Text(), nullable=True),
        sa.Column("response", sa.Text(), nullable=True),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_ingest_halves_received_at", "ingest_halves", ["received_at"])


def downgrade() -> None:
    op.drop_index("ix_ingest_halves_received_at", "ingest_halves")
    op.drop_table("ingest_halves")
