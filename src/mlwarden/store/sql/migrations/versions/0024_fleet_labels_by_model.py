"""Labels indexed by model: a monitoring window joins only its model's labels (one hash join)
instead of probing the labels' primary key once per prediction (issue 17, fleets).

Revision ID: 0024
Revises: 0023
"""

from alembic import op

revision = "0024"
down_revision = "0023"


def upgrade() -> None:
    op.create_index("ix_labels_model_id", "labels", ["model_id"])


def downgrade() -> None:
    op.drop_index("ix_labels_model_id", table_name="labels")
