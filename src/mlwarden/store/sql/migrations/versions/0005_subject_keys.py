"""Per-subject data keys for crypto-shredding (GDPR erasure).

Revision ID: 0005
Revises: 0004
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"


def upgrade() -> None:
    op.create_table(
        "subject_keys",
        sa.Column("subject", sa.String(64), primary_key=True),
        # the subject's AES-256 data key, wrapped (AES-GCM) by the master key outside the DB
        sa.Column("wrapped", sa.LargeBinary, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "retention",
        sa.Column("model", sa.String(128), primary_key=True),
        sa.Column("days", sa.Integer, nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_by", sa.String(256), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("retention")
    op.drop_table("subject_keys")
