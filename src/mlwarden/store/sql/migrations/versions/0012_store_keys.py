"""Key-check values: a server whose master key is missing or different refuses to start.

Revision ID: 0012
Revises: 0009
"""

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0009"


def upgrade() -> None:
    op.create_table(
        "store_keys",
        # "master": HMAC-SHA256 of a fixed label under the master key (never the key)
        sa.Column("purpose", sa.String(32), primary_key=True),
        sa.Column("check_value", sa.String(128), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("store_keys")
