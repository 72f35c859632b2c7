"""The data behind the inventory, model and audit pages: small functions over the ``Warden``
facade (monitoring.py and predictions.py serve the other two pages).

Pages that list many models or versions read in a fixed number of batched queries (one per
table, never one per row), so the inventory of 500 models and a model with 1,000 versions
render in well under 300 ms (bench/ui.py). Everything that changes state goes through the
facade's service calls (routes.py), never through these queries.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from mlwarden._time import as_utc
from mlwarden.entities import ASSERTED
from mlwarden.policy.service import rollback_target

if TYPE_CHECKING:
    from mlwarden.client import Warden
    from mlwarden.entities import ModelVersion

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
    wd: Warden,
    *,
    q: str | None = None,
    tier: str | None = None,
    gate: str | None = None,
    drift: str | None = None,
) -> list[InventoryRow]:
    """Every model with its production version, latest gate decision, last monitored window
    and last activity: a fixed number of queries whatever the number of models."""
    out = []
    for m in wd.overview.model_overviews():
        row = InventoryRow(
            name=m.name,
            owner=m.owner,
            risk_tier=m.risk_tier,
            intended_use=m.intended_use,
            description=m.description,
            tags=m.tags,
            latest_version=m.latest_version,
            production=m.production,
            gate="none" if m.gate is None else ("passed" if m.gate[1] else "failed"),
            gate_ref=None if m.gate is None else f"{m.name}@{m.gate[0]}",
            gate_policy=None if m.gate is None else m.gate[2],
            alerts=m.firing_alerts,
            last_activity=max(
                (t for t in (m.created_at, m.last_activity) if t is not None), default=None
            ),
        )
        if m.window is not None and m.window_start is not None:
            row.drift = "drift" if m.window_drift.get("dataset_drifted") else "ok"
            row.drift_share = m.window_drift.get("share_drifted")
            row.drift_window = f"{m.window} from {m.window_start:%Y-%m-%d %H:%M}"
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


def model_page(wd: Warden, name: str, version: int | None = None) -> ModelPage:
    """One model: all versions (one query for the table, gates and approval counts batched),
    alias history, and for the selected version its full entity, decisions rule by rule,
    approvals and evidence summary."""
    model = wd.get_model(name)
    by_version: dict[int, list[str]] = {}
    for alias, v in model.aliases.items():
        by_version.setdefault(v, []).append(alias)
    rows = [
        VersionRow(
            version=r.version,
            created_at=utc(r.created_at),
            created_by=r.created_by,
            lineage=r.lineage,
            metrics=r.metrics,
            aliases=sorted(by_version.get(r.version, [])),
            gate="none" if r.gate_passed is None else ("passed" if r.gate_passed else "failed"),
            approvals=r.approvals,
            metrics_provenance=r.metrics_provenance,
        )
        for r in wd.overview.version_overviews(name)
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


def evidence_summary(wd: Warden, mv: ModelVersion) -> dict[str, Any]:
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
    wd: Warden,
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
