"""Fleets (issue 17): labels indexed by model, so a monitoring window hash-joins its
model's labels instead of probing the labels' key once per prediction; and each stored
window's dataset drift verdict in two columns (filled from the stored results here), so the
dashboard's inventory of hundreds of models parses no result.

Revision ID: 0024
Revises: 0023
"""

import json
import math
from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0024"
down_revision = "0023"

windows = sa.table(
    "monitor_windows",
    sa.column("id", sa.BigInteger()),
    sa.column("result", sa.Text()),
    sa.column("drifted", sa.Boolean()),
    sa.column("share_drifted", sa.Float()),
)


def verdict(result_text: str) -> dict[str, Any]:
    """What SqlMonitorStore.save writes for a result (store/sql/predictions.py)."""
    try:
        drift = json.loads(result_text).get("drift")
    except (ValueError, AttributeError):
        drift = None
    if not isinstance(drift, dict):
        return {"drifted": None, "share_drifted": None}
    share = drift.get("share_drifted")
    if not (isinstance(share, int | float) and math.isfinite(share)):
        share = None
    return {"drifted": bool(drift.get("dataset_drifted")), "share_drifted": share}


def upgrade() -> None:
    op.create_index("ix_labels_model_id", "labels", ["model_id"])
    with op.batch_alter_table("monitor_windows") as batch:
        batch.add_column(sa.Column("drifted", sa.Boolean()))
        batch.add_column(sa.Column("share_drifted", sa.Float()))
    conn = op.get_bind()
    last = -1
    while True:  # in slices of 1,000 windows: bounded memory on a long history
        rows = conn.execute(
            sa.select(windows.c.id, windows.c.result)
            .where(windows.c.id > last)
            .order_by(windows.c.id)
            .limit(1000)
        ).all()
        if not rows:
            break
        conn.execute(
            windows.update()
            .where(windows.c.id == sa.bindparam("window_id"))
            .values(drifted=sa.bindparam("drifted"), share_drifted=sa.bindparam("share")),
            [
                {"window_id": i, "drifted": v["drifted"], "share": v["share_drifted"]}
                for i, text in rows
                for v in [verdict(text)]
            ],
        )
        last = rows[-1][0]


def downgrade() -> None:
    with op.batch_alter_table("monitor_windows") as batch:
        batch.drop_column("share_drifted")
        batch.drop_column("drifted")
    op.drop_index("ix_labels_model_id", table_name="labels")
