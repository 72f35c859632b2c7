"""Server jobs in the store: ``jobs``.

Remote registrations run as jobs; they were kept in the memory of the process that accepted
them, so behind ``--workers N`` or a load balancer a poll reaching another process got a 404,
and a restart forgot them. Each job now has a row; its ``runner`` (host and process id) lets a
poll report a job whose process died as interrupted instead of running forever.

Revision ID: 0027
Revises: 0026
"""

import sqlalchemy as sa
from alembic import op

revision = "0027"
down_revision = "0026"


def upgrade() -> None:
    op.create_table(
        "jobs",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("owner", sa.String(256), nullable=False),
        sa.Column("subject", sa.String(512), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("progress", sa.Text(), nullable=False),
        sa.Column("result", sa.Text(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("runner", sa.String(300), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_jobs_state_updated_at", "jobs", ["state", "updated_at"])


def downgrade() -> None:
    op.drop_index("ix_jobs_state_updated_at", "jobs")
    op.drop_table("jobs")
