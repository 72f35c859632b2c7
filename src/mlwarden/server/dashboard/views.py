"""The data behind each dashboard page: small functions over the ``Warden`` facade.

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

from sqlalchemy import func, inspect, literal_column, select, text, union_all

from mlwarden.audit.signing import CHECKPOINT_ORIGIN, public_key_b64
from mlwarden.policy.service import rollback_target
from mlwarden.store.sql import schema
from mlwarden.store.sql.database import as_utc
from mlwarden.store.sql.predictions import labels, monitor_windows, predictions
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

    @property
    def key_metrics(self) -> list[tuple[str, Any]]:
        metrics = self.metrics or {}
        first = [(k, metrics[k]) for k in KEY_METRICS if k in metrics]
        rest = [(k, v) for k, v in metrics.items() if k not in KEY_METRICS]
        return (first + rest)[:4]


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
            created_at=_utc(r.created_at),
            created_by=r.created_by,
            lineage=r.lineage or {},
            metrics=r.metrics or {},
            aliases=sorted(by_version.get(r.version, [])),
            gate="none" if r.version not in gates else ("passed" if gates[r.version] else "failed"),
            approvals=counts.get(r.version, 0),
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


# ------------------------------------------------------------------------------ monitoring


#: The performance metrics charted over time (realized with labels, estimated without).
PERFORMANCE_METRICS = ("roc_auc", "accuracy", "f1", "rmse", "mae", "r2")
#: The fairness metrics charted over time (the stored summary has many more, and intervals).
FAIRNESS_METRICS = (
    "demographic_parity_difference",
    "disparate_impact",
    "equal_opportunity_difference",
    "equalized_odds_difference",
)


@dataclass
class MonitoringPage:
    name: str
    window: str | None
    windows: list[str]
    rows: list[dict[str, Any]]
    heatmap: list[dict[str, Any]]
    features: list[str]
    feature: str | None
    distribution: list[dict[str, Any]]
    distribution_kind: str | None
    performance: list[dict[str, Any]]
    fairness: list[dict[str, Any]]
    events: list[dict[str, Any]]
    version: int | None
    note: str | None = None
    alerts: list[dict[str, Any]] | None = None  # None: this store has no alerts table


def monitoring_page(
    wd: Any, name: str, *, window: str | None = None, feature: str | None = None
) -> MonitoringPage:
    model_id = wd.registry.store.model_id(name)
    history = wd.monitoring.results.history(model_id, segment="all")
    sizes = sorted({h["window"] for h in history})
    if window not in sizes:
        window = history[-1]["window"] if history else None
    rows = [h for h in history if h["window"] == window]
    # several versions may have been monitored: show the latest version's series
    version = max((h["version"] for h in rows), default=None)
    rows = [h for h in rows if h["version"] == version]
    heat, perf, fair, events = [], [], [], []
    features: list[str] = []
    for h in rows:
        start = _utc(h["start"]).isoformat()
        res = h["result"]
        drift = res.get("drift") or {}
        for col, r in (drift.get("columns") or {}).items():
            if col not in features:
                features.append(col)
            heat.append(
                {
                    "window": start,
                    "feature": col,
                    "statistic": _num(r.get("statistic")),
                    "method": r.get("method"),
                    "drifted": bool(r.get("drifted")),
                }
            )
        for source, values in (
            ("realized", res.get("performance")),
            ("estimated", res.get("estimated")),
        ):
            for metric, v in (values or {}).items():
                if metric in PERFORMANCE_METRICS and _num(v) is not None:
                    perf.append({"window": start, "metric": f"{metric} ({source})", "value": v})
        for feat, metrics in (res.get("fairness") or {}).items():
            if isinstance(metrics, dict):
                for metric, v in metrics.items():
                    if metric in FAIRNESS_METRICS and _num(v) is not None:
                        fair.append({"window": start, "metric": f"{feat}: {metric}", "value": v})
        quality = res.get("quality") or {}
        if drift.get("dataset_drifted") or quality.get("failed"):
            events.append(
                {
                    "window": start,
                    "rows": h["rows"],
                    "drifted": drift.get("drifted_columns") or [],
                    "share": drift.get("share_drifted"),
                    "quality_failed": quality.get("failed") or 0,
                }
            )
    page = MonitoringPage(
        name=name,
        window=window,
        windows=sizes,
        rows=rows,
        heatmap=heat,
        features=features,
        feature=None,
        distribution=[],
        distribution_kind=None,
        performance=perf,
        fairness=fair,
        events=list(reversed(events)),
        version=version,
    )
    page.alerts = alert_timeline(wd, model_id)
    if rows and features:
        page.feature = feature if feature in features else features[0]
        page.distribution, page.distribution_kind, page.note = distribution(
            wd, name, version, rows[-1].get("profile_sha256"), page.feature
        )
    return page


#: Alerts shown on a model's monitoring page, newest first.
ALERT_LIMIT = 100


def alert_timeline(wd: Any, model_id: int) -> list[dict[str, Any]] | None:
    """The model's alerts (firing and resolved), newest first; ``None`` without an alerts
    table (the page then lists drift events only)."""
    with wd.db.reading() as conn:
        table = alerts_table(conn)
        if table is None:
            return None
        found = conn.execute(
            select(
                table.c.id,
                table.c.policy,
                table.c.rule,
                table.c.version,
                table.c.severity,
                table.c.status,
                table.c.message,
                table.c.window_start,
                table.c.started_at,
                table.c.ended_at,
                table.c.resolution,
            )
            .where(table.c.model_id == model_id)
            .order_by(table.c.id.desc())
            .limit(ALERT_LIMIT)
        ).all()
    return [
        {
            **dict(r._mapping),
            "started_at": as_utc(r.started_at),
            "ended_at": as_utc(r.ended_at),
            "window_start": as_utc(r.window_start),
        }
        for r in found
    ]


def distribution(
    wd: Any, name: str, version: int | None, current_sha: str | None, feature: str
) -> tuple[list[dict[str, Any]], str | None, str | None]:
    """Reference vs the latest window's distribution of one feature, as shares per bin (the
    reference's own bins for numbers, the most frequent categories otherwise)."""
    from mlwarden.engines.profile import Profile

    try:
        ref = wd.monitoring.reference(wd.get_model_version(f"{name}@{version}"))
    except Exception as exc:  # no reference profile: say so on the page
        return [], None, f"no reference profile: {exc}"
    if not current_sha or feature not in ref:
        return [], None, "no stored profile for the latest window"
    cur = Profile.from_bytes(wd.artifacts.get(current_sha, what="window profile"))
    if feature not in cur:
        return [], None, f"{feature} is not in the latest window's profile"
    rc, cc = ref[feature], cur[feature]
    out: list[dict[str, Any]] = []
    if rc.kind == "categorical":
        ref_counts = rc.category_counts(top=15)
        cur_counts = cc.category_counts() if cc.kind == "categorical" else {}
        keys = list(ref_counts) + [k for k in list(cur_counts)[:5] if k not in ref_counts]
        for label, counts in (("reference", ref_counts), ("current", cur_counts)):
            total = sum(counts.values()) or 1
            out += [
                {"bin": str(k), "order": i, "set": label, "share": counts.get(k, 0) / total}
                for i, k in enumerate(keys)
            ]
        return out, "categorical", None
    edges, ref_hist = rc.histogram()
    cur_hist = cc.counts_in(edges)
    for label, hist in (("reference", ref_hist), ("current", cur_hist)):
        total = float(sum(hist)) or 1.0
        for i, c in enumerate(hist):
            out.append(
                {
                    "bin": _bin_label(edges[i], edges[i + 1]),
                    "order": i,
                    "set": label,
                    "share": float(c) / total,
                }
            )
    return out, "numeric", None


def _bin_label(lo: float, hi: float) -> str:
    if math.isinf(lo):
        return f"< {hi:.4g}"
    if math.isinf(hi):
        return f"≥ {lo:.4g}"
    return f"{lo:.4g} – {hi:.4g}"


def _utc(value: Any) -> datetime:
    """A stored timestamp as an aware UTC datetime (SQLite may hand back text or naive)."""
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return as_utc(value) or value  # type: ignore[no-any-return]


def _num(v: Any) -> float | None:
    if isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v):
        return float(v)
    return None


# ------------------------------------------------------------------------------ predictions


@dataclass
class PredictionPage:
    id: str
    model: str
    version: int
    ts: datetime
    inputs: dict[str, Any]
    output: str
    score: float | None
    label: str | None
    reasons: list[dict[str, Any]]
    proof: dict[str, Any] | None = None
    note: str | None = None


def prediction(wd: Any, prediction_id: str) -> PredictionPage | None:
    with wd.db.reading() as conn:
        r = conn.execute(
            select(predictions, models.c.name, labels.c.label)
            .join(models, models.c.id == predictions.c.model_id)
            .outerjoin(labels, labels.c.prediction_id == predictions.c.id)
            .where(predictions.c.id == prediction_id)
        ).first()
    if r is None:
        return None
    page = PredictionPage(
        id=r.id,
        model=r.name,
        version=r.version,
        ts=_utc(r.ts),
        inputs=json.loads(r.inputs),
        output=r.output,
        score=r.score,
        label=r.label,
        reasons=json.loads(r.reasons) if r.reasons else [],
    )
    page.proof, page.note = batch_proof(wd, r.name, r.version, r.model_id, r.id)
    return page


#: How many of a version's newest prediction batches are searched for a prediction's event.
BATCH_SCAN = 5000
#: Above this many rows a batch's ids are not sent to the page (only the event is proven).
MAX_BATCH_IDS = 100_000


def batch_proof(
    wd: Any, name: str, version: int, model_id: int, prediction_id: str
) -> tuple[dict[str, Any] | None, str | None]:
    """The ``predictions.log`` event of the batch holding a prediction, its inclusion proof,
    the latest signed checkpoint and the batch's ids in logged order, for the browser to check
    end to end: ids → ids_sha256 → payload digest → leaf → root.

    A batch is found by the physical order its rows were inserted in (SQLite rowid,
    PostgreSQL ctid): one insert per batch. The browser re-hashes the ids, so a batch put
    together wrongly can only fail the check, never pass it.
    """
    events = wd.audit.events(
        subject=f"model:{name}/{version}",
        action="predictions.log",
        limit=BATCH_SCAN,
        newest_first=True,
    )
    events = [e for e in events if e.payload_json is not None]
    if not events:
        return None, "no audit event found for this prediction's batch"
    pos = _positions(wd, model_id, version)
    want = pos.position_of([prediction_id]).get(prediction_id)
    ends = pos.position_of(
        [x for e in events for x in (e.payload.get("first_id"), e.payload.get("last_id")) if x]
    )
    event = ids = None
    for e in events:
        first, last = ends.get(e.payload.get("first_id")), ends.get(e.payload.get("last_id"))
        if want is not None and first is not None and last is not None and first <= want <= last:
            event = e
            if int(e.payload.get("count") or 0) <= MAX_BATCH_IDS:
                ids = pos.between(first, last)
            break
    if event is None:
        return None, "the batch event of this prediction was not found among the newest batches"
    proof = wd.audit.prove(event.seq)
    cp = wd.audit.backend.latest_checkpoint()
    signed = None
    if cp is not None and wd.audit.public_key is not None:
        signed = cp.verify(wd.audit.public_key)
    return (
        {
            "event": {
                "seq": event.seq,
                "time": event.time,
                "actor": event.actor,
                "action": event.action,
                "subject": event.subject,
                "payload_digest": event.payload_digest,
                "payload_json": event.payload_json,
                "salt": event.salt,
            },
            "proof": proof.to_dict(),
            "checkpoint": None
            if cp is None
            else {
                **cp.to_dict(),
                "signature_ok": signed,
                # for the browser's own Ed25519 check of the signed text
                "origin": CHECKPOINT_ORIGIN,
                "public_key": None
                if wd.audit.public_key is None
                else public_key_b64(wd.audit.public_key),
            },
            "ids": ids,
            "prediction_id": prediction_id,
        },
        None,
    )


class _Positions:
    """Insertion order of a version's prediction rows (see :func:`batch_proof`)."""

    def __init__(self, wd: Any, model_id: int, version: int) -> None:
        self.db = wd.db
        self.sqlite = wd.db.is_sqlite
        self.col: Any = literal_column("rowid" if self.sqlite else "ctid")
        self.where = (predictions.c.model_id == model_id, predictions.c.version == version)

    def _key(self, v: Any) -> Any:
        if self.sqlite:
            return int(v)
        page, _, item = str(v).strip("()").partition(",")
        return (int(page), int(item))

    def position_of(self, ids: list[str]) -> dict[str, Any]:
        if not ids:
            return {}
        with self.db.reading() as conn:
            found = conn.execute(
                select(predictions.c.id, self.col).where(*self.where, predictions.c.id.in_(ids))
            ).all()
        return {i: self._key(p) for i, p in found}

    def between(self, first: Any, last: Any) -> list[str]:
        if self.sqlite:
            lo, hi, cond = first, last, "rowid >= :lo AND rowid <= :hi"
        else:
            lo, hi = f"({first[0]},{first[1]})", f"({last[0]},{last[1]})"
            cond = "ctid >= CAST(:lo AS tid) AND ctid <= CAST(:hi AS tid)"
        with self.db.reading() as conn:
            found = conn.execute(
                select(predictions.c.id, self.col).where(
                    *self.where, text(cond).bindparams(lo=lo, hi=hi)
                )
            ).all()
        return [i for i, _ in sorted(found, key=lambda r: self._key(r[1]))]


def _positions(wd: Any, model_id: int, version: int) -> _Positions:
    return _Positions(wd, model_id, version)


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
