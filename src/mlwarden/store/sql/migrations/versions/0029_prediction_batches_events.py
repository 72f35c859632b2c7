"""Each batch's audit event: ``prediction_batches`` (batch → seq of its predictions.log event).

A receipt looked for its batch's event among the version's 5,000 newest batch events: at a few
hundred requests a second that is a minute of traffic, after which a prediction's receipt had
no proof. The batch's transaction now records its event's seq beside the batch key (0026).
Batches logged before this migration keep the search.

Revision ID: 0029
Revises: 0028
"""

import sqlalchemy as sa
from alembic import op

revision = "0029"
down_revision = "0028"


def upgrade() -> None:
    op.create_table(
        "prediction_batches",
        sa.Column("batch", sa.String(36), primary_key=True),
        sa.Column("seq", sa.BigInteger(), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("prediction_batches")
