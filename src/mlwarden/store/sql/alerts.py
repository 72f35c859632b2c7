"""Alerts, webhook deliveries and installed monitoring policies in SQL.

What an alert means (firing, hysteresis, cooldown) lives in ``mlwarden.alerts``; this module
only stores rows. Metric scrapes read through :meth:`SqlAlertStore.latest_windows`, one query
for the newest stored window of every monitored version.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Row, and_, func, select, update
from sqlalchemy.exc import IntegrityError

from mlwarden._time import as_utc, utcnow
from mlwarden.entities.alerts import FIRING, RESOLVED, Alert, Channel, Delivery
from mlwarden.errors import NotFound
from mlwarden.store.alert_store import AlertStore
from mlwarden.store.sql.database import Database
from mlwarden.store.sql.schema import (
    MONITOR_WINDOW_COLUMNS,
    alert_channels,
    alert_deliveries,
    alerts,
    model_versions,
    models,
    monitor_windows,
    monitoring_policies,
)

_ALERTS = select(alerts, models.c.name).join(models, models.c.id == alerts.c.model_id)


def _alert(row: Row) -> Alert:
    return Alert(
        id=row.id,
        fingerprint=row.fingerprint,
        policy=row.policy,
        policy_sha256=row.policy_sha256,
        rule=row.rule,
        model=row.name,
        version=row.version,
        severity=row.severity,
        status=row.status,
        message=row.message,
        actions=tuple(row.actions or ()),
        values=dict(row.values or {}),
        window_start=as_utc(row.window_start),
        window_end=as_utc(row.window_end),
        started_at=as_utc(row.started_at),  # type: ignore[arg-type]
        updated_at=as_utc(row.updated_at),  # type: ignore[arg-type]
        ended_at=as_utc(row.ended_at),
        resolution=row.resolution,
    )


class SqlAlertStore(AlertStore):
    def __init__(self, db: Database) -> None:
        self.db = db

    # -- alerts ---------------------------------------------------------------------------

    def open(self, model_id: int, **fields: Any) -> Alert | None:
        """Insert a firing alert; ``None`` if one with that fingerprint is firing already
        (another evaluator won the race: the partial unique index decides)."""
        now = fields.pop("now", None) or utcnow()
        try:
            with self.db.transaction() as conn, conn.begin_nested():
                new_id = conn.execute(
                    alerts.insert()
                    .values(
                        model_id=model_id,
                        status=FIRING,
                        started_at=now,
                        updated_at=now,
                        **fields,
                    )
                    .returning(alerts.c.id)
                ).scalar_one()
        except IntegrityError:
            return None
        return self.get(new_id)

    def update(self, alert_id: int, **fields: Any) -> None:
        with self.db.transaction() as conn:
            conn.execute(update(alerts).where(alerts.c.id == alert_id).values(**fields))

    def resolve(self, alert_id: int, reason: str, now: datetime) -> bool:
        """Mark resolved if still firing; whether this call did it."""
        with self.db.transaction() as conn:
            done = conn.execute(
                update(alerts)
                .where(alerts.c.id == alert_id, alerts.c.status == FIRING)
                .values(status=RESOLVED, ended_at=now, updated_at=now, resolution=reason)
            ).rowcount
        return bool(done)

    def get(self, alert_id: int) -> Alert:
        with self.db.reading() as conn:
            row = conn.execute(_ALERTS.where(alerts.c.id == alert_id)).first()
        if row is None:
            raise NotFound(f"no alert {alert_id}", alert=alert_id)
        return _alert(row)

    def firing(self, fingerprint: str) -> Alert | None:
        with self.db.reading() as conn:
            row = conn.execute(
                _ALERTS.where(alerts.c.fingerprint == fingerprint, alerts.c.status == FIRING)
            ).first()
        return None if row is None else _alert(row)

    def last_ended(self, fingerprint: str) -> datetime | None:
        with self.db.reading() as conn:
            value = conn.execute(
                select(func.max(alerts.c.ended_at)).where(alerts.c.fingerprint == fingerprint)
            ).scalar_one_or_none()
        return as_utc(value)

    def find(
        self,
        *,
        model_id: int | None = None,
        status: str | None = None,
        policy: str | None = None,
        limit: int | None = None,
    ) -> list[Alert]:
        """Newest first."""
        query = _ALERTS
        if model_id is not None:
            query = query.where(alerts.c.model_id == model_id)
        if status is not None:
            query = query.where(alerts.c.status == status)
        if policy is not None:
            query = query.where(alerts.c.policy == policy)
        query = query.order_by(alerts.c.id.desc())
        if limit is not None:
            query = query.limit(limit)
        with self.db.reading() as conn:
            return [_alert(r) for r in conn.execute(query).all()]

    # -- deliveries -----------------------------------------------------------------------

    def add_delivery(self, alert_id: int, **fields: Any) -> Delivery:
        now = utcnow()
        with self.db.transaction() as conn:
            new_id = conn.execute(
                alert_deliveries.insert()
                .values(alert_id=alert_id, created_at=now, **fields)
                .returning(alert_deliveries.c.id)
            ).scalar_one()
        return Delivery(id=new_id, alert_id=alert_id, created_at=now, **fields)

    def deliveries(
        self, *, alert_id: int | None = None, failed: bool | None = None, limit: int | None = None
    ) -> list[Delivery]:
        query = select(alert_deliveries)
        if alert_id is not None:
            query = query.where(alert_deliveries.c.alert_id == alert_id)
        if failed is not None:
            query = query.where(alert_deliveries.c.ok == (not failed))
        query = query.order_by(alert_deliveries.c.id.desc())
        if limit is not None:
            query = query.limit(limit)
        with self.db.reading() as conn:
            rows = conn.execute(query).mappings().all()
        return [Delivery(**{**dict(r), "created_at": as_utc(r["created_at"])}) for r in rows]

    # -- installed channels ---------------------------------------------------------------

    def put_channel(
        self, name: str, fmt: str, url: str | None, secret_env: str | None, actor: str
    ) -> Channel:
        now = utcnow()
        with self.db.transaction() as conn:
            conn.execute(alert_channels.delete().where(alert_channels.c.name == name))
            conn.execute(
                alert_channels.insert().values(
                    name=name,
                    format=fmt,
                    url=url,
                    secret_env=secret_env,
                    created_by=actor,
                    created_at=now,
                )
            )
        return Channel(name, url, fmt, secret_env, actor, now)

    def delete_channel(self, name: str) -> bool:
        with self.db.transaction() as conn:
            return bool(
                conn.execute(alert_channels.delete().where(alert_channels.c.name == name)).rowcount
            )

    def channels(self, name: str | None = None) -> list[Channel]:
        query = select(alert_channels).order_by(alert_channels.c.name)
        if name is not None:
            query = query.where(alert_channels.c.name == name)
        with self.db.reading() as conn:
            rows = conn.execute(query).mappings().all()
        return [
            Channel(
                r["name"],
                r["url"],
                r["format"],
                r["secret_env"],
                r["created_by"],
                as_utc(r["created_at"]),
            )
            for r in rows
        ]

    # -- installed policies ---------------------------------------------------------------

    def put_policy(self, name: str, source: str, sha256: str, actor: str) -> None:
        with self.db.transaction() as conn:
            conn.execute(monitoring_policies.delete().where(monitoring_policies.c.name == name))
            conn.execute(
                monitoring_policies.insert().values(
                    name=name, source=source, sha256=sha256, created_by=actor, created_at=utcnow()
                )
            )

    def delete_policy(self, name: str) -> bool:
        with self.db.transaction() as conn:
            return bool(
                conn.execute(
                    monitoring_policies.delete().where(monitoring_policies.c.name == name)
                ).rowcount
            )

    def policies(self) -> list[dict[str, Any]]:
        with self.db.reading() as conn:
            rows = conn.execute(select(monitoring_policies).order_by(monitoring_policies.c.name))
            return [dict(r) for r in rows.mappings().all()]

    # -- what an evaluation reads ---------------------------------------------------------

    def recent_windows(
        self, model_id: int, version: int, window: str | None, n: int
    ) -> list[dict[str, Any]]:
        """The ``n`` newest overall windows of a version, oldest first. With ``window=None``,
        of the window size computed most recently (so ``wd.monitor(window=…)`` decides)."""
        mw = monitor_windows
        mine = (mw.c.model_id == model_id, mw.c.version == version, mw.c.segment == "all")
        with self.db.reading() as conn:
            if window is None:
                window = conn.execute(
                    select(mw.c.window).where(*mine).order_by(mw.c.computed_at.desc()).limit(1)
                ).scalar_one_or_none()
                if window is None:
                    return []
            rows = (
                conn.execute(
                    select(*MONITOR_WINDOW_COLUMNS)
                    .where(*mine, mw.c.window == window)
                    .order_by(mw.c.start.desc())
                    .limit(n)
                )
                .mappings()
                .all()
            )
        return [{**dict(r), "result": json.loads(r["result"])} for r in reversed(rows)]

    # -- what a metrics scrape reads ------------------------------------------------------

    def latest_windows(self) -> list[dict[str, Any]]:
        """The newest stored overall (``segment == "all"``) window of every model version
        that has one, with the model's name: ``[{name, version, window, start, end, rows,
        computed_at, result}]``."""
        mw = monitor_windows
        newest = (
            select(
                mw.c.model_id,
                mw.c.version,
                func.max(mw.c.computed_at).label("computed_at"),
            )
            .where(mw.c.segment == "all")
            .group_by(mw.c.model_id, mw.c.version)
            .subquery()
        )
        query = (
            select(*MONITOR_WINDOW_COLUMNS, models.c.name)
            .join(
                newest,
                and_(
                    mw.c.model_id == newest.c.model_id,
                    mw.c.version == newest.c.version,
                    mw.c.computed_at == newest.c.computed_at,
                ),
            )
            .join(models, models.c.id == mw.c.model_id)
            .where(mw.c.segment == "all")
            .order_by(mw.c.model_id, mw.c.version, mw.c.start)
        )
        latest: dict[tuple[int, int], dict[str, Any]] = {}
        with self.db.reading() as conn:
            for r in conn.execute(query).mappings().all():
                # several windows share one computation time: the latest start wins
                latest[(r["model_id"], r["version"])] = {
                    **dict(r),
                    "result": json.loads(r["result"]),
                    "start": as_utc(r["start"]),
                    "end": as_utc(r["end"]),
                    "computed_at": as_utc(r["computed_at"]),
                }
        return list(latest.values())

    def alert_counts(self) -> list[dict[str, Any]]:
        """Alerts per policy, rule, severity and status (for counters and gauges)."""
        query = select(
            alerts.c.policy,
            alerts.c.severity,
            alerts.c.status,
            func.count().label("n"),
        ).group_by(alerts.c.policy, alerts.c.severity, alerts.c.status)
        with self.db.reading() as conn:
            return [dict(r) for r in conn.execute(query).mappings().all()]

    def delivery_counts(self) -> list[dict[str, Any]]:
        query = select(
            alert_deliveries.c.channel, alert_deliveries.c.ok, func.count().label("n")
        ).group_by(alert_deliveries.c.channel, alert_deliveries.c.ok)
        with self.db.reading() as conn:
            return [dict(r) for r in conn.execute(query).mappings().all()]

    def version_statuses(self, names: Sequence[str] | None = None) -> list[dict[str, Any]]:
        query = select(models.c.name, model_versions.c.version, model_versions.c.status).join(
            models, models.c.id == model_versions.c.model_id
        )
        if names is not None:
            query = query.where(models.c.name.in_(list(names)))
        with self.db.reading() as conn:
            return [dict(r) for r in conn.execute(query).mappings().all()]
