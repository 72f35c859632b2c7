"""Alert channels installed by an admin (policies name them, never a URL), and the signed
delivery id of each webhook attempt.

Revision ID: 0014
Revises: 0009
"""

import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0009"


def upgrade() -> None:
    op.create_table(
        "alert_channels",
        sa.Column("name", sa.String(64), primary_key=True),
        sa.Column("format", sa.String(16), nullable=False),
        sa.Column("url", sa.Text),
        sa.Column("secret_env", sa.String(128)),
        sa.Column("created_by", sa.String(256), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    with op.batch_alter_table("alert_deliveries") as batch:
        batch.add_column(sa.Column("delivery_id", sa.String(128)))


def downgrade() -> None:
    with op.batch_alter_table("alert_deliveries") as batch:
        batch.drop_column("delivery_id")
    op.drop_table("alert_channels")
