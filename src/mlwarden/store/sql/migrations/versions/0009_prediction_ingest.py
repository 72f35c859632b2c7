"""Cheaper prediction-log rows: index only the rows that name a data subject (most name
none), and drop the per-row foreign-key check on ``predictions.model_id`` (the writer resolved
the id from the registry; on PostgreSQL the check cost 40% of COPY throughput; models are
never deleted, so the cascade never ran).

Revision ID: 0009
Revises: 0008
"""

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"

NAMED = sa.text("subject IS NOT NULL")
FK = "fk_predictions_model_id_models"


def upgrade() -> None:
    op.drop_index("ix_predictions_subject", table_name="predictions")
    # SQLite cannot drop a constraint in place: batch mode rebuilds the table
    with op.batch_alter_table("predictions") as batch:
        batch.drop_constraint(FK, type_="foreignkey")
    op.create_index(
        "ix_predictions_subject",
        "predictions",
        ["subject"],
        sqlite_where=NAMED,
        postgresql_where=NAMED,
    )


def downgrade() -> None:
    op.drop_index("ix_predictions_subject", table_name="predictions")
    with op.batch_alter_table("predictions") as batch:
        batch.create_foreign_key(FK, "models", ["model_id"], ["id"], ondelete="CASCADE")
    op.create_index("ix_predictions_subject", "predictions", ["subject"])
