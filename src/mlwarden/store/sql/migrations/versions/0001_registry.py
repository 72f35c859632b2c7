"""Registry: models, versions, aliases and their history, evidence.

Revision ID: 0001
Revises:

Migrations spell their tables out (rather than reading schema.py) so that each stays a
frozen snapshot of what it created, whatever later revisions change.
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0001"
down_revision = None

Json = sa.JSON().with_variant(JSONB(), "postgresql")
Ts = sa.DateTime(timezone=True)
BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "models",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column("name", sa.String(128), nullable=False),
        sa.Column("owner", sa.String(256)),
        sa.Column("risk_tier", sa.String(16), nullable=False),
        sa.Column("intended_use", sa.Text),
        sa.Column("description", sa.Text),
        sa.Column("tags", Json, nullable=False),
        sa.Column("created_at", Ts, nullable=False),
        sa.Column("created_by", sa.String(256), nullable=False),
        sa.Column("last_version", sa.Integer, nullable=False),
        sa.UniqueConstraint("name", name="uq_models_name"),
    )
    op.create_table(
        "model_versions",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column(
            "model_id", BigId, sa.ForeignKey("models.id", ondelete="CASCADE"), nullable=False
        ),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("artifact_sha256", sa.String(64), nullable=False),
        sa.Column("artifact_size", sa.BigInteger, nullable=False),
        sa.Column("flavor", sa.String(32), nullable=False),
        sa.Column("flavor_info", Json, nullable=False),
        sa.Column("signature", Json, nullable=False),
        sa.Column("lineage", Json, nullable=False),
        sa.Column("metrics", Json, nullable=False),
        sa.Column("params", Json, nullable=False),
        sa.Column("status", sa.String(32), nullable=False),
        sa.Column("description", sa.Text),
        sa.Column("created_at", Ts, nullable=False),
        sa.Column("created_by", sa.String(256), nullable=False),
        sa.UniqueConstraint("model_id", "version", name="uq_model_versions_model_version"),
    )
    op.create_table(
        "aliases",
        sa.Column(
            "model_id", BigId, sa.ForeignKey("models.id", ondelete="CASCADE"), primary_key=True
        ),
        sa.Column("alias", sa.String(64), primary_key=True),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("updated_at", Ts, nullable=False),
        sa.Column("updated_by", sa.String(256), nullable=False),
    )
    op.create_table(
        "alias_history",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column(
            "model_id", BigId, sa.ForeignKey("models.id", ondelete="CASCADE"), nullable=False
        ),
        sa.Column("alias", sa.String(64), nullable=False),
        sa.Column("from_version", sa.Integer),
        sa.Column("to_version", sa.Integer),
        sa.Column("action", sa.String(32), nullable=False),
        sa.Column("actor", sa.String(256), nullable=False),
        sa.Column("reason", sa.Text),
        sa.Column("at", Ts, nullable=False),
    )
    op.create_index("ix_alias_history_model_alias", "alias_history", ["model_id", "alias", "id"])
    op.create_table(
        "evidence",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column(
            "version_id",
            BigId,
            sa.ForeignKey("model_versions.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("kind", sa.String(64), nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("content", Json, nullable=False),
        sa.Column("created_at", Ts, nullable=False),
        sa.UniqueConstraint("version_id", "kind", name="uq_evidence_version_kind"),
    )


def downgrade() -> None:
    for name in ("evidence", "alias_history", "aliases", "model_versions", "models"):
        op.drop_table(name)
