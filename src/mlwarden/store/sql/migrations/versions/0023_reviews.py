"""Human oversight: per-model review rules and the review queue (EU AI Act Art. 14).

Revision ID: 0023
Revises: 0022
"""

import sqlalchemy as sa
from alembic import op

revision = "0023"
down_revision = "0022"

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
Timestamp = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "review_rules",
        sa.Column(
            "model_id", BigId, sa.ForeignKey("models.id", ondelete="CASCADE"), primary_key=True
        ),
        sa.Column("rule", sa.Text(), nullable=False),
        sa.Column("set_by", sa.String(256), nullable=False),
        sa.Column("set_at", Timestamp, nullable=False),
    )
    op.create_table(
        "reviews",
        sa.Column("prediction_id", sa.String(64), primary_key=True),
        sa.Column(
            "model_id", BigId, sa.ForeignKey("models.id", ondelete="CASCADE"), nullable=False
        ),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("output", sa.Text()),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("decided_output", sa.Text()),
        sa.Column("reviewer", sa.String(256)),
        sa.Column("comment", sa.Text()),
        sa.Column("flagged_at", Timestamp, nullable=False),
        sa.Column("decided_at", Timestamp),
    )
    op.create_index("ix_reviews_model_status", "reviews", ["model_id", "status"])


def downgrade() -> None:
    op.drop_index("ix_reviews_model_status", table_name="reviews")
    op.drop_table("reviews")
    op.drop_table("review_rules")
