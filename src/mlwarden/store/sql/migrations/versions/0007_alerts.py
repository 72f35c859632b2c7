"""Monitoring policies, alerts and webhook deliveries (mlwarden.alerts).

Revision ID: 0007
Revises: 0006
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0007"
down_revision = "0006"

Json = sa.JSON().with_variant(JSONB(), "postgresql")
Ts = sa.DateTime(timezone=True)
BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
FIRING = sa.text("status = 'firing'")


def upgrade() -> None:
    op.create_table(
        "monitoring_policies",
        sa.Column("name", sa.String(256), primary_key=True),
        sa.Column("source", sa.Text, nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("created_by", sa.String(256), nullable=False),
        sa.Column("created_at", Ts, nullable=False),
    )
    op.create_table(
        "alerts",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column("fingerprint", sa.String(512), nullable=False),
        sa.Column("policy", sa.String(256), nullable=False),
        sa.Column("policy_sha256", sa.String(64), nullable=False),
        sa.Column("rule", sa.String(256), nullable=False),
        sa.Column(
            "model_id", BigId, sa.ForeignKey("models.id", ondelete="CASCADE"), nullable=False
        ),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("severity", sa.String(16), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("message", sa.Text, nullable=False),
        sa.Column("actions", Json, nullable=False),
        sa.Column("values", Json, nullable=False),
        sa.Column("window_start", Ts),
        sa.Column("window_end", Ts),
        sa.Column("started_at", Ts, nullable=False),
        sa.Column("updated_at", Ts, nullable=False),
        sa.Column("ended_at", Ts),
        sa.Column("resolution", sa.Text),
    )
    op.create_index("ix_alerts_fingerprint", "alerts", ["fingerprint"])
    op.create_index("ix_alerts_model_id_status", "alerts", ["model_id", "status"])
    op.create_index(
        "uq_alerts_firing",
        "alerts",
        ["fingerprint"],
        unique=True,
        postgresql_where=FIRING,
        sqlite_where=FIRING,
    )
    op.create_table(
        "alert_deliveries",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column(
            "alert_id", BigId, sa.ForeignKey("alerts.id", ondelete="CASCADE"), nullable=False
        ),
        sa.Column("event", sa.String(16), nullable=False),
        sa.Column("channel", sa.String(256), nullable=False),
        sa.Column("format", sa.String(16), nullable=False),
        sa.Column("url", sa.Text),
        sa.Column("attempt", sa.Integer, nullable=False),
        sa.Column("ok", sa.Boolean, nullable=False),
        sa.Column("http_status", sa.Integer),
        sa.Column("error", sa.Text),
        sa.Column("duration_ms", sa.Integer, nullable=False),
        sa.Column("created_at", Ts, nullable=False),
    )
    op.create_index("ix_alert_deliveries_alert_id", "alert_deliveries", ["alert_id"])


def downgrade() -> None:
    op.drop_index("ix_alert_deliveries_alert_id", "alert_deliveries")
    op.drop_table("alert_deliveries")
    op.drop_index("uq_alerts_firing", "alerts")
    op.drop_index("ix_alerts_model_id_status", "alerts")
    op.drop_index("ix_alerts_fingerprint", "alerts")
    op.drop_table("alerts")
    op.drop_table("monitoring_policies")
