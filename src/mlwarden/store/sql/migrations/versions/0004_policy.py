"""Policy decisions: every gate evaluation, its policy hash and each rule's inputs and verdict.

Revision ID: 0004
Revises: 0003
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0004"
down_revision = "0003"

Json = sa.JSON().with_variant(JSONB(), "postgresql")
Ts = sa.DateTime(timezone=True)
BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "decisions",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column(
            "model_id", BigId, sa.ForeignKey("models.id", ondelete="CASCADE"), nullable=False
        ),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("policy", sa.String(256), nullable=False),
        sa.Column("policy_sha256", sa.String(64), nullable=False),
        sa.Column("purpose", sa.String(16), nullable=False),
        sa.Column("passed", sa.Boolean, nullable=False),
        sa.Column("applies", sa.Boolean, nullable=False),
        sa.Column("actor", sa.String(256), nullable=False),
        sa.Column("created_at", Ts, nullable=False),
        sa.Column("results", Json, nullable=False),
    )
    op.create_index("ix_decisions_model_id_version", "decisions", ["model_id", "version"])


def downgrade() -> None:
    op.drop_index("ix_decisions_model_id_version", "decisions")
    op.drop_table("decisions")
