"""Logged batches, for receipts: ``predictions.batch`` and ``prediction_batches``.

A receipt proves a prediction through the ``predictions.log`` event of its batch, whose
payload commits to the batch's ids in logged order. Until now the event was searched for
among the version's 5,000 newest batch events (about a minute of traffic on a busy model,
after which a receipt had no proof), and the batch's ids were found by their rows' physical
order (SQLite rowid, PostgreSQL ctid), which an UPDATE (erasing a subject), VACUUM reusing
freed space, or two writers inserting at once break on PostgreSQL. Now each row names its
batch (the batch's first id, the event's ``first_id``), and the batch's transaction records
the event's seq and the batch's ids. Rows logged before keep NULL and the old look-up.

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
    op.create_table(
        "prediction_batches",
        sa.Column("batch", sa.String(36), primary_key=True),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.Column("ids", sa.Text(), nullable=True),
    )


def downgrade() -> None:
    op.drop_table("prediction_batches")
    with op.batch_alter_table("predictions") as batch:
        batch.drop_column("batch")
