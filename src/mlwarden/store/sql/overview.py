"""``OverviewStore`` on SQLite and PostgreSQL: the dashboard's batched reads."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Connection, func, select, union_all

from mlwarden._time import as_utc
from mlwarden.entities.alerts import FIRING
from mlwarden.errors import NotFound
from mlwarden.store.overview_store import ModelOverview, OverviewStore, VersionOverview
from mlwarden.store.sql.database import Database
from mlwarden.store.sql.schema import (
    alerts,
    alias_history,
    aliases,
    approvals,
    decisions,
    model_versions,
    models,
    monitor_windows,
)

__all__ = ["SqlOverviewStore"]


class SqlOverviewStore(OverviewStore):
    def __init__(self, db: Database) -> None:
        self.db = db

    def model_overviews(self) -> list[ModelOverview]:
        with self.db.reading() as conn:
            rows = conn.execute(select(models).order_by(models.c.name)).all()
            production = dict(
                conn.execute(
                    select(aliases.c.model_id, aliases.c.version).where(
                        aliases.c.alias == "production"
                    )
                ).all()
            )
            last_decision = (
                select(func.max(decisions.c.id)).group_by(decisions.c.model_id).scalar_subquery()
            )
            gates = {
                r.model_id: (r.version, bool(r.passed), r.policy)
                for r in conn.execute(
                    select(
                        decisions.c.model_id,
                        decisions.c.version,
                        decisions.c.passed,
                        decisions.c.policy,
                    ).where(decisions.c.id.in_(last_decision))
                )
            }
            windows = _latest_windows(conn)
            firing: dict[int, int] = dict(
                conn.execute(
                    select(alerts.c.model_id, func.count())
                    .where(alerts.c.status == FIRING)
                    .group_by(alerts.c.model_id)
                ).all()
            )
            activity = _last_activity(conn)
        out = []
        for r in rows:
            window = windows.get(r.id)
            out.append(
                ModelOverview(
                    name=r.name,
                    owner=r.owner,
                    risk_tier=r.risk_tier,
                    intended_use=r.intended_use,
                    description=r.description,
                    tags=r.tags or {},
                    latest_version=r.last_version or None,
                    created_at=as_utc(r.created_at),
                    production=production.get(r.id),
                    gate=gates.get(r.id),
                    window=None if window is None else window.window,
                    window_start=None if window is None else as_utc(window.start),
                    window_drift={} if window is None else _drift_of(window),
                    firing_alerts=firing.get(r.id, 0),
                    last_activity=activity.get(r.id),
                )
            )
        return out

    def version_overviews(self, name: str) -> list[VersionOverview]:
        with self.db.reading() as conn:
            model_id = conn.execute(select(models.c.id).where(models.c.name == name)).scalar()
            if model_id is None:
                raise NotFound(f"model {name!r} not found", field="name")
            found = conn.execute(
                select(
                    model_versions.c.version,
                    model_versions.c.created_at,
                    model_versions.c.created_by,
                    model_versions.c.lineage,
                    model_versions.c.metrics,
                    model_versions.c.metrics_provenance,
                )
                .where(model_versions.c.model_id == model_id)
                .order_by(model_versions.c.version.desc())
            ).all()
            last = (
                select(func.max(decisions.c.id))
                .where(decisions.c.model_id == model_id)
                .group_by(decisions.c.version)
                .scalar_subquery()
            )
            gates = dict(
                conn.execute(
                    select(decisions.c.version, decisions.c.passed).where(decisions.c.id.in_(last))
                ).all()
            )
            counts: dict[int, int] = dict(
                conn.execute(
                    select(approvals.c.version, func.count())
                    .where(approvals.c.model_id == model_id)
                    .group_by(approvals.c.version)
                ).all()
            )
        return [
            VersionOverview(
                version=r.version,
                created_at=as_utc(r.created_at),
                created_by=r.created_by,
                lineage=r.lineage or {},
                metrics=r.metrics or {},
                metrics_provenance=r.metrics_provenance or {},
                gate_passed=None if r.version not in gates else bool(gates[r.version]),
                approvals=counts.get(r.version, 0),
            )
            for r in found
        ]


def _latest_windows(conn: Connection) -> dict[int, Any]:
    """Per model, the window of segment ``all`` that started last (among window sizes, the
    one computed last)."""
    latest = (
        select(monitor_windows.c.model_id, func.max(monitor_windows.c.start).label("s"))
        .where(monitor_windows.c.segment == "all")
        .group_by(monitor_windows.c.model_id)
        .subquery()
    )
    windows: dict[int, Any] = {}
    for r in conn.execute(
        select(
            monitor_windows.c.model_id,
            monitor_windows.c.window,
            monitor_windows.c.start,
            monitor_windows.c.drifted,
            monitor_windows.c.share_drifted,
        )
        .join(
            latest,
            (latest.c.model_id == monitor_windows.c.model_id)
            & (latest.c.s == monitor_windows.c.start),
        )
        .where(monitor_windows.c.segment == "all")
        .order_by(monitor_windows.c.id)
    ).all():  # fetched at once: row by row costs a driver round of checks per row
        windows[r.model_id] = r  # the latest computed wins among window sizes
    return windows


def _drift_of(window: Any) -> dict[str, Any]:
    """The dataset verdict stored beside the window's result (``drifted``,
    ``share_drifted``): the inventory never parses the results themselves."""
    if window.drifted is None:  # a result without a drift verdict
        return {}
    return {"dataset_drifted": bool(window.drifted), "share_drifted": window.share_drifted}


def _last_activity(conn: Connection) -> dict[int, datetime]:
    """The newest change per model across versions, alias moves, decisions, approvals and
    monitoring runs (the audit log has them all too, but is far larger to scan)."""
    parts = [
        select(
            model_versions.c.model_id.label("m"), func.max(model_versions.c.created_at).label("t")
        ).group_by(model_versions.c.model_id),
        select(alias_history.c.model_id, func.max(alias_history.c.at)).group_by(
            alias_history.c.model_id
        ),
        select(decisions.c.model_id, func.max(decisions.c.created_at)).group_by(
            decisions.c.model_id
        ),
        select(approvals.c.model_id, func.max(approvals.c.created_at)).group_by(
            approvals.c.model_id
        ),
        select(monitor_windows.c.model_id, func.max(monitor_windows.c.computed_at)).group_by(
            monitor_windows.c.model_id
        ),
    ]
    u = union_all(*parts).subquery()
    found = conn.execute(select(u.c.m, func.max(u.c.t)).group_by(u.c.m)).all()
    out: dict[int, datetime] = {}
    for model_id, t in found:
        if isinstance(t, str):  # SQLite hands back MAX over a UNION as text
            t = datetime.fromisoformat(t)
        when = as_utc(t)
        if when is not None:
            out[model_id] = when
    return out
