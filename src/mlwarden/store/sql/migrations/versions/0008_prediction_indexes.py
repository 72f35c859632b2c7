"""Drop the prediction log's day index: (model_id, ts) already serves day ranges, and every
index costs each logged row.

Revision ID: 0008
Revises: 0007
"""

from alembic import op

revision = "0008"
down_revision = "0007"


def upgrade() -> None:
    op.drop_index("ix_predictions_model_day", table_name="predictions")


def downgrade() -> None:
    op.create_index("ix_predictions_model_day", "predictions", ["model_id", "day"])
