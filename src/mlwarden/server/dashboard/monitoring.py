"""Data of the monitoring page: the stored monitor windows of a model as chart series, one
feature's reference vs current distribution (from stored profiles), and its alerts."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from mlwarden.server.dashboard.views import finite, utc

if TYPE_CHECKING:
    from mlwarden.client import Warden

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
    alerts: list[dict[str, Any]] | None = None  # None until the page is filled in


def monitoring_page(
    wd: Warden, name: str, *, window: str | None = None, feature: str | None = None
) -> MonitoringPage:
    history = wd.monitoring.history(name, segment="all")
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
        start = utc(h["start"]).isoformat()
        res = h["result"]
        drift = res.get("drift") or {}
        for col, r in (drift.get("columns") or {}).items():
            if col not in features:
                features.append(col)
            heat.append(
                {
                    "window": start,
                    "feature": col,
                    "statistic": finite(r.get("statistic")),
                    "method": r.get("method"),
                    "drifted": bool(r.get("drifted")),
                }
            )
        for source, values in (
            ("realized", res.get("performance")),
            ("estimated", res.get("estimated")),
        ):
            for metric, v in (values or {}).items():
                if metric in PERFORMANCE_METRICS and finite(v) is not None:
                    perf.append({"window": start, "metric": f"{metric} ({source})", "value": v})
        for feat, metrics in (res.get("fairness") or {}).items():
            if isinstance(metrics, dict):
                for metric, v in metrics.items():
                    if metric in FAIRNESS_METRICS and finite(v) is not None:
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
    page.alerts = alert_timeline(wd, name)
    if rows and features:
        page.feature = feature if feature in features else features[0]
        page.distribution, page.distribution_kind, page.note = distribution(
            wd, name, version, rows[-1].get("profile_sha256"), page.feature
        )
    return page


#: Alerts shown on a model's monitoring page, newest first.
ALERT_LIMIT = 100


def alert_timeline(wd: Warden, name: str) -> list[dict[str, Any]]:
    """The model's alerts (firing and resolved), newest first."""
    return [
        {
            "id": a.id,
            "policy": a.policy,
            "rule": a.rule,
            "version": a.version,
            "severity": a.severity,
            "status": a.status,
            "message": a.message,
            "window_start": a.window_start,
            "started_at": a.started_at,
            "ended_at": a.ended_at,
            "resolution": a.resolution,
        }
        for a in wd.alerts(name, limit=ALERT_LIMIT)
    ]


def distribution(
    wd: Warden, name: str, version: int | None, current_sha: str | None, feature: str
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
