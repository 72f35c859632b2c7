"""Permissions per team and model: teams, the team that owns each model, and grants (a role
allowed, or an action denied, to a user on a team or a model).

Revision ID: 0018
Revises: 0016
"""

import sqlalchemy as sa
from alembic import op

revision = "0018"
down_revision = "0016"

Ts = sa.DateTime(timezone=True)
BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "teams",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column("name", sa.String(256), nullable=False, unique=True),
        sa.Column("created_at", Ts, nullable=False),
        sa.Column("created_by", sa.String(256), nullable=False),
    )
    op.create_table(
        "team_models",
        sa.Column(
            "model_id", BigId, sa.ForeignKey("models.id", ondelete="CASCADE"), primary_key=True
        ),
        sa.Column("team_id", BigId, sa.ForeignKey("teams.id", ondelete="CASCADE"), nullable=False),
    )
    op.create_table(
        "grants",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column("user_name", sa.String(256), nullable=False),
        sa.Column("scope", sa.String(8), nullable=False),
        sa.Column("target", sa.String(256), nullable=False),
        sa.Column("effect", sa.String(8), nullable=False),
        sa.Column("what", sa.String(64), nullable=False),
        sa.Column("created_at", Ts, nullable=False),
        sa.Column("created_by", sa.String(256), nullable=False),
        sa.UniqueConstraint("user_name", "scope", "target", "effect", "what", name="uq_grants"),
    )
    op.create_index("ix_grants_user_name", "grants", ["user_name"])


def downgrade() -> None:
    op.drop_index("ix_grants_user_name", table_name="grants")
    op.drop_table("grants")
    op.drop_table("team_models")
    op.drop_table("teams")
