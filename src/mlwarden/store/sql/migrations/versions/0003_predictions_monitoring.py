"""Prediction log, labels, and stored monitoring windows.

Revision ID: 0003
Revises: 0002
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"

Ts = sa.DateTime(timezone=True)
BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "predictions",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column(
            "model_id", BigId, sa.ForeignKey("models.id", ondelete="CASCADE"), nullable=False
        ),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("ts", Ts, nullable=False),
        sa.Column("day", sa.Integer, nullable=False),
        sa.Column("inputs", sa.Text, nullable=False),
        sa.Column("output", sa.Text, nullable=False),
        sa.Column("score", sa.Float),
        sa.Column("latency_ms", sa.Float),
        sa.Column("reasons", sa.Text),
        sa.Column("subject", sa.String(128)),
    )
    op.create_index("ix_predictions_model_ts", "predictions", ["model_id", "ts"])
    op.create_index("ix_predictions_model_day", "predictions", ["model_id", "day"])
    op.create_index("ix_predictions_subject", "predictions", ["subject"])
    op.create_table(
        "labels",
        sa.Column("prediction_id", sa.String(36), primary_key=True),
        sa.Column(
            "model_id", BigId, sa.ForeignKey("models.id", ondelete="CASCADE"), nullable=False
        ),
        sa.Column("label", sa.Text, nullable=False),
        sa.Column("ts", Ts, nullable=False),
    )
    op.create_table(
        "monitor_windows",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column(
            "model_id", BigId, sa.ForeignKey("models.id", ondelete="CASCADE"), nullable=False
        ),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("window", sa.String(16), nullable=False),
        sa.Column("start", Ts, nullable=False),
        sa.Column("end", Ts, nullable=False),
        sa.Column("segment", sa.String(256), nullable=False),
        # time windows are keyed by their start, row-count windows by their first prediction
        sa.Column("key", sa.String(64), nullable=False),
        sa.Column("rows", sa.Integer, nullable=False),
        sa.Column("profile_sha256", sa.String(64)),
        sa.Column("result", sa.Text, nullable=False),
        sa.Column("computed_at", Ts, nullable=False),
        sa.UniqueConstraint(
            "model_id", "version", "window", "segment", "key", name="uq_monitor_windows_key"
        ),
    )


def downgrade() -> None:
    for name in ("monitor_windows", "labels", "predictions"):
        op.drop_table(name)
