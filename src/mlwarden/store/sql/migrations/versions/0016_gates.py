"""Server-side gates: installed gate policies (versioned, hashed), their bindings to protected
aliases and risk tiers, and decisions that record the stored version and whether the policy
was sent inline by a client.

Revision ID: 0016
Revises: 0015
"""

import sqlalchemy as sa
from alembic import op

revision = "0016"
down_revision = "0015"

Ts = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "gate_policies",
        sa.Column("name", sa.String(128), primary_key=True),
        sa.Column("version", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("source", sa.Text, nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("created_by", sa.String(256), nullable=False),
        sa.Column("created_at", Ts, nullable=False),
    )
    op.create_table(
        "policy_bindings",
        sa.Column("target", sa.String(160), primary_key=True),
        sa.Column("policy", sa.String(128), nullable=False),
        sa.Column("created_by", sa.String(256), nullable=False),
        sa.Column("created_at", Ts, nullable=False),
    )
    with op.batch_alter_table("decisions") as batch:
        batch.add_column(sa.Column("policy_version", sa.Integer, nullable=True))
        batch.add_column(
            sa.Column("inline", sa.Boolean, nullable=False, server_default=sa.text("false"))
        )


def downgrade() -> None:
    with op.batch_alter_table("decisions") as batch:
        batch.drop_column("inline")
        batch.drop_column("policy_version")
    op.drop_table("policy_bindings")
    op.drop_table("gate_policies")
