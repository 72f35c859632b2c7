"""The data behind the inventory, model and audit pages: small functions over the ``Warden``
facade (monitoring.py and predictions.py serve the other two pages).

Pages that list many models or versions read in a fixed number of batched queries (one per
table, never one per row), so the inventory of 500 models and a model with 1,000 versions
render in well under 300 ms (bench/ui.py). Everything that changes state goes through the
facade's service calls (routes.py), never through these queries.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import func, inspect, select, union_all

from mlwarden.entities import ASSERTED
from mlwarden.policy.service import rollback_target
from mlwarden.store.sql import schema
from mlwarden.store.sql.database import as_utc
from mlwarden.store.sql.predictions import monitor_windows
from mlwarden.store.sql.schema import (
    alias_history,
    aliases,
    approvals,
    decisions,
    model_versions,
    models,
)

# ------------------------------------------------------------------------------ inventory


@dataclass
class InventoryRow:
    name: str
    owner: str | None
    risk_tier: str
    intended_use: str | None
    description: str | None
    tags: dict[str, str]
    latest_version: int | None
    production: int | None
    gate: str  # "passed", "failed" or "none"
    gate_ref: str | None = None
    gate_policy: str | None = None
    drift: str = "none"  # "drift", "ok" or "none" (no monitored window yet)
    drift_share: float | None = None
    drift_window: str | None = None
    alerts: int = 0
    alerts_label: str = "firing alerts"
    last_activity: datetime | None = None

    def matches(self, q: str) -> bool:
        hay = " ".join(
            str(x)
            for x in (
                self.name,
                self.owner,
                self.intended_use,
                self.description,
                *self.tags.keys(),
                *self.tags.values(),
            )
            if x
        ).lower()
        return all(word in hay for word in q.lower().split())


def inventory(
    wd: Any,
    *,
    q: str | None = None,
    tier: str | None = None,
    gate: str | None = None,
    drift: str | None = None,
) -> list[InventoryRow]:
    """Every model with its production version, latest gate decision, last monitored window
    and last activity: five queries whatever the number of models."""
    with wd.db.reading() as conn:
        rows = conn.execute(select(models).order_by(models.c.name)).all()
        prod = dict(
            conn.execute(
                select(aliases.c.model_id, aliases.c.version).where(aliases.c.alias == "production")
            ).all()
        )
        last_decision = (
            select(func.max(decisions.c.id)).group_by(decisions.c.model_id).scalar_subquery()
        )
        gates = {
            r.model_id: r
            for r in conn.execute(
                select(
                    decisions.c.model_id,
                    decisions.c.version,
                    decisions.c.passed,
                    decisions.c.policy,
                ).where(decisions.c.id.in_(last_decision))
            )
        }
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
                monitor_windows.c.result,
            )
            .join(
                latest,
                (latest.c.model_id == monitor_windows.c.model_id)
                & (latest.c.s == monitor_windows.c.start),
            )
            .where(monitor_windows.c.segment == "all")
            .order_by(monitor_windows.c.id)
        ):
            windows[r.model_id] = r  # the latest computed wins among window sizes
        table = alerts_table(conn)
        if table is not None:
            alerts = dict(
                conn.execute(
                    select(table.c.model_id, func.count())
                    .where(table.c.status == "firing")
                    .group_by(table.c.model_id)
                ).all()
            )
        else:
            # json.dumps' default separators, as SqlMonitorStore.save writes the result
            alerts = dict(
                conn.execute(
                    select(monitor_windows.c.model_id, func.count())
                    .where(
                        monitor_windows.c.segment == "all",
                        monitor_windows.c.result.like('%"dataset_drifted": true%'),
                    )
                    .group_by(monitor_windows.c.model_id)
                ).all()
            )
        activity = _last_activity(conn)
    out = []
    for r in rows:
        g = gates.get(r.id)
        w = windows.get(r.id)
        row = InventoryRow(
            name=r.name,
            owner=r.owner,
            risk_tier=r.risk_tier,
            intended_use=r.intended_use,
            description=r.description,
            tags=r.tags or {},
            latest_version=r.last_version or None,
            production=prod.get(r.id),
            gate="none" if g is None else ("passed" if g.passed else "failed"),
            gate_ref=None if g is None else f"{r.name}@{g.version}",
            gate_policy=None if g is None else g.policy,
            alerts=alerts.get(r.id, 0),
            alerts_label="firing alerts" if table is not None else "windows that drifted",
            last_activity=max(
                (t for t in (as_utc(r.created_at), activity.get(r.id)) if t is not None),
                default=None,
            ),
        )
        if w is not None:
            d = _drift_of(w.result)
            row.drift = "drift" if d.get("dataset_drifted") else "ok"
            row.drift_share = d.get("share_drifted")
            row.drift_window = f"{w.window} from {as_utc(w.start):%Y-%m-%d %H:%M}"
        out.append(row)
    if q:
        out = [r for r in out if r.matches(q)]
    if tier:
        out = [r for r in out if r.risk_tier == tier]
    if gate:
        out = [r for r in out if r.gate == gate]
    if drift:
        out = [r for r in out if r.drift == drift]
    return out


def _drift_of(result_text: str) -> dict[str, Any]:
    # The stored result also holds every column's statistics; only the dataset verdict is
    # needed here, and it sits in the "drift" object.
    try:
        return json.loads(result_text).get("drift") or {}
    except ValueError:
        return {}


def alerts_table(conn: Any) -> Any:
    """The alerts table when this version of Warden has one and the database was migrated to
    it; else ``None``, and the pages count drifted windows instead."""
    table = getattr(schema, "alerts", None)
    if table is None or not inspect(conn).has_table(table.name):
        return None
    return table


def _last_activity(conn: Any) -> dict[int, datetime]:
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


# ------------------------------------------------------------------------------ model page


#: Metrics shown first in the versions table (the rest follow in stored order).
KEY_METRICS = ("roc_auc", "accuracy", "f1", "rmse", "r2")


@dataclass
class VersionRow:
    """A line of the versions table: only the columns it shows (no full entity per row)."""

    version: int
    created_at: datetime
    created_by: str
    lineage: dict[str, Any]
    metrics: dict[str, Any]
    aliases: list[str] = field(default_factory=list)
    gate: str = "none"
    approvals: int = 0
    metrics_provenance: dict[str, str] = field(default_factory=dict)

    @property
    def key_metrics(self) -> list[tuple[str, Any]]:
        metrics = self.metrics or {}
        first = [(k, metrics[k]) for k in KEY_METRICS if k in metrics]
        rest = [(k, v) for k, v in metrics.items() if k not in KEY_METRICS]
        # a value a client only asserted is labelled so, never shown as measured
        return [
            (f"{k} (asserted)" if self.metrics_provenance.get(k) == ASSERTED else k, v)
            for k, v in (first + rest)[:4]
        ]


@dataclass
class ModelPage:
    model: Any
    versions: list[VersionRow]
    selected: Any
    history: list[Any]
    decisions: list[Any]
    approvals: list[Any]
    status: Any
    evidence: dict[str, Any] = field(default_factory=dict)
    rollback_aliases: list[str] = field(default_factory=list)


def model_page(wd: Any, name: str, version: int | None = None) -> ModelPage:
    """One model: all versions (one query for the table, gates and approval counts batched),
    alias history, and for the selected version its full entity, decisions rule by rule,
    approvals and evidence summary."""
    model = wd.get_model(name)
    model_id = wd.registry.store.model_id(name)
    with wd.db.reading() as conn:
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
        counts = dict(
            conn.execute(
                select(approvals.c.version, func.count())
                .where(approvals.c.model_id == model_id)
                .group_by(approvals.c.version)
            ).all()
        )
    by_version: dict[int, list[str]] = {}
    for alias, v in model.aliases.items():
        by_version.setdefault(v, []).append(alias)
    rows = [
        VersionRow(
            version=r.version,
            created_at=utc(r.created_at),
            created_by=r.created_by,
            lineage=r.lineage or {},
            metrics=r.metrics or {},
            aliases=sorted(by_version.get(r.version, [])),
            gate="none" if r.version not in gates else ("passed" if gates[r.version] else "failed"),
            approvals=counts.get(r.version, 0),
            metrics_provenance=r.metrics_provenance or {},
        )
        for r in found
    ]
    numbers = {r.version for r in rows}
    if version is None or version not in numbers:
        version = model.aliases.get("production") or model.latest_version
    selected = wd.get_model_version(f"{name}@{version}") if version in numbers else None
    history = wd.alias_history(name)
    page = ModelPage(
        model=model,
        versions=rows,
        selected=selected,
        history=list(reversed(history)),
        decisions=[],
        approvals=[],
        status=None,
        rollback_aliases=[
            alias
            for alias, current in sorted(model.aliases.items())
            if rollback_target([h for h in history if h.alias == alias], current) is not None
        ],
    )
    if selected is not None:
        page.decisions = wd.decisions(selected.ref, limit=10)
        page.approvals = wd.approvals(selected.ref)
        page.status = wd.approval_status(selected.ref)
        page.evidence = evidence_summary(wd, selected)
    return page


def evidence_summary(wd: Any, mv: Any) -> dict[str, Any]:
    """A line or two per evidence kind, for the model card."""
    out: dict[str, Any] = {}
    for kind in mv.evidence:
        try:
            ev = wd.get_evidence(mv.ref, kind)
        except Exception:  # a missing or unreadable item shows as such, not a broken page
            out[kind] = "unreadable"
            continue
        out[kind] = _summarize(kind, ev)
        if mv.provenance_of(kind) == ASSERTED:
            out[kind] = f"asserted by the client, not measured: {out[kind]}"
    return out


def _summarize(kind: str, ev: dict[str, Any]) -> str:
    status = ev.get("status")
    if status and status != "ok":
        return f"{status}: {ev.get('reason', '')}".strip(": ")
    if kind == "fairness":
        parts = []
        for feat, m in (ev.get("summary") or ev.get("features") or {}).items():
            if isinstance(m, dict):
                nums = {k: v for k, v in m.items() if isinstance(v, int | float)}
                parts.append(
                    f"{feat}: " + ", ".join(f"{k} {v:.3g}" for k, v in list(nums.items())[:3])
                )
        return "; ".join(parts) or "recorded"
    if kind == "explain":
        imp = ev.get("importance") or {}
        top = list(imp)[:3]
        return "top features: " + ", ".join(top) if top else "recorded"
    if kind == "reference_profile":
        cols = ev.get("columns") or ev.get("n_columns")
        rows = ev.get("rows") or ev.get("count")
        bits = [f"{len(cols) if isinstance(cols, list) else cols} columns" if cols else ""]
        bits.append(f"{rows} rows" if rows else "")
        return ", ".join(b for b in bits if b) or "recorded"
    keys = [k for k in ev if k not in ("status",)][:4]
    return "recorded (" + ", ".join(keys) + ")" if keys else "recorded"


# ------------------------------------------------------------------------------ audit


def audit_events(
    wd: Any,
    *,
    model: str | None = None,
    action: str | None = None,
    actor: str | None = None,
    since: str | None = None,
    until: str | None = None,
    limit: int = 200,
) -> list[Any]:
    return wd.audit.events(
        model or None,
        action or None,
        since or None,
        limit,
        actor=actor or None,
        until=until or None,
        newest_first=True,
    )


# ------------------------------------------------------------------------------ helpers


def utc(value: Any) -> datetime:
    """A stored timestamp as an aware UTC datetime (SQLite may hand back text or naive)."""
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return as_utc(value) or value  # type: ignore[no-any-return]


def finite(v: Any) -> float | None:
    if isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v):
        return float(v)
    return None
