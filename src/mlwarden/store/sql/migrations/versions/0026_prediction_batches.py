"""Each logged prediction names its batch: ``predictions.batch`` and ``batch_pos``.

A receipt proves a prediction through the ``predictions.log`` event of its batch, whose
payload commits to the batch's ids in logged order. Until now a batch's rows were found by
their physical order (SQLite rowid, PostgreSQL ctid), which an UPDATE (erasing a subject),
VACUUM reusing freed space, or two writers inserting at once can break on PostgreSQL: a
receipt then came back without a proof. Rows now carry the batch's first id (the event's
``first_id``) and their position in it. Existing rows keep NULL and the old look-up.

Revision ID: 0026
Revises: 0025
"""

import sqlalchemy as sa
from alembic import op

revision = "0026"
down_revision = "0025"


def upgrade() -> None:
    with op.batch_alter_table("predictions") as batch:
        batch.add_column(sa.Column("batch", sa.String(36), nullable=True))
        batch.add_column(sa.Column("batch_pos", sa.Integer(), nullable=True))
    op.create_index("ix_predictions_batch", "predictions", ["batch", "batch_pos"])


def downgrade() -> None:
    op.drop_index("ix_predictions_batch", "predictions")
    with op.batch_alter_table("predictions") as batch:
        batch.drop_column("batch_pos")
        batch.drop_column("batch")
