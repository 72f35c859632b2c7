"""Agents' tool calls through the MCP gateway, and the approvals of pending calls.

Revision ID: 0022
Revises: 0021
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0022"
down_revision = "0021"

Ts = sa.DateTime(timezone=True)
Json = sa.JSON().with_variant(JSONB(), "postgresql")


def upgrade() -> None:
    op.create_table(
        "tool_calls",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("agent", sa.String(256), nullable=False),
        sa.Column("tool", sa.String(256), nullable=False),
        sa.Column("ts", Ts, nullable=False),
        sa.Column("decision", sa.String(16), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("approvals_needed", sa.Integer, nullable=False),
        sa.Column("rules", Json, nullable=False),
        sa.Column("arguments", sa.Text, nullable=False),
        sa.Column("result", sa.Text),
        sa.Column("error", sa.Text),
        sa.Column("latency_ms", sa.Float),
        sa.Column("subject", sa.String(64)),
        sa.Column("audit_seq", sa.BigInteger),
    )
    op.create_index("ix_tool_calls_agent_ts", "tool_calls", ["agent", "ts"])
    op.create_index("ix_tool_calls_status", "tool_calls", ["status"])
    op.create_table(
        "tool_call_approvals",
        sa.Column(
            "call_id",
            sa.String(36),
            sa.ForeignKey("tool_calls.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("actor", sa.String(256), nullable=False),
        sa.Column("verdict", sa.String(8), nullable=False),
        sa.Column("comment", sa.Text),
        sa.Column("ts", Ts, nullable=False),
        sa.UniqueConstraint("call_id", "actor", name="uq_tool_call_approvals_call_actor"),
    )


def downgrade() -> None:
    op.drop_table("tool_call_approvals")
    op.drop_index("ix_tool_calls_status", "tool_calls")
    op.drop_index("ix_tool_calls_agent_ts", "tool_calls")
    op.drop_table("tool_calls")
