"""``FairnessReport``: the result of an audit as records, frames, JSON and standalone HTML."""

from __future__ import annotations

import html
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from mlwarden.engines.fairness.counts import CONFUSION, GroupCounts
from mlwarden.engines.fairness.metrics import FairnessMetric, json_float, json_scalar


@dataclass
class AttributeResult:
    """Everything computed for one attribute (a sensitive feature or an intersection).

    ``counts`` has shape (n_groups, 4) for classification; ``rates`` and ``rate_ci`` hold
    arrays of shape (n_groups,).
    """

    attribute: str
    groups: list[str]
    sizes: np.ndarray
    eligible: np.ndarray
    reference: str
    counts: np.ndarray
    rates: dict[str, np.ndarray]
    rate_ci: dict[str, tuple[np.ndarray, np.ndarray]]
    metrics: list[FairnessMetric]
    summary: dict[str, float]
    summary_ci: dict[str, tuple[float | None, float | None]]
    extra: dict[str, Any] = field(default_factory=dict)


class FairnessReport:
    """Result of :func:`mlwarden.engines.fairness.audit`.

    Attributes
    ----------
    metrics : list of :class:`FairnessMetric`, every number with its conventions.
    by_group : DataFrame, one row per (attribute, group) with counts, rates and intervals.
    summary : dict attribute → {metric name → value}, the shape policies are written against.
    counts : the :class:`GroupCounts` the report was computed from.
    """

    def __init__(
        self,
        counts: GroupCounts,
        results: list[AttributeResult],
        overall: dict[str, tuple[float, Any, Any]],
        min_group_size: int,
        n_boot: int,
        seed: int,
        confidence_level: float,
    ) -> None:
        self.counts = counts
        self.results = results
        self.overall = overall
        self.min_group_size = min_group_size
        self.n_boot = n_boot
        self.seed = seed
        self.confidence_level = confidence_level
        self.metrics = [m for r in results for m in r.metrics]
        self.by_group = self._by_group()

    @property
    def summary(self) -> dict[str, dict[str, Any]]:
        out = {}
        for r in self.results:
            entry: dict[str, Any] = {k: json_float(v) for k, v in r.summary.items()}
            entry.update(
                {
                    "reference_group": r.reference,
                    "worst_group": r.extra.get("worst_group"),
                    "n_groups": len(r.groups),
                    "excluded_groups": [
                        g for g, ok in zip(r.groups, r.eligible, strict=True) if not ok
                    ],
                    "ci": {
                        k: [json_float(lo), json_float(hi)] for k, (lo, hi) in r.summary_ci.items()
                    },
                }
            )
            if "four_fifths_rule" in r.extra:
                entry["four_fifths_rule"] = r.extra["four_fifths_rule"]
            out[r.attribute] = entry
        return out

    def _by_group(self) -> pd.DataFrame:
        rows = []
        for r in self.results:
            cols = CONFUSION if self.counts.task == "classification" else ("n", "sum_err")
            for i, g in enumerate(r.groups):
                row: dict[str, Any] = {
                    "attribute": r.attribute,
                    "group": g,
                    "n": int(r.sizes[i]),
                    "sufficient": bool(r.eligible[i]),
                    "reference": g == r.reference,
                }
                row.update({c: r.counts[i, j] for j, c in enumerate(cols)})
                for name, vals in r.rates.items():
                    row[name] = float(vals[i])
                    if name in r.rate_ci:
                        lo, hi = r.rate_ci[name]
                        row[f"{name}_low"], row[f"{name}_high"] = float(lo[i]), float(hi[i])
                rows.append(row)
        return pd.DataFrame(rows)

    def to_frame(self) -> pd.DataFrame:
        """One row per metric record (the fields of :class:`FairnessMetric`)."""
        return pd.DataFrame([m.to_dict() for m in self.metrics])

    def metric(self, name: str, attribute: str, group: str | None = None, aggregation=None):
        """The record for ``name`` on ``attribute`` (summary when ``group`` is None)."""
        for m in self.metrics:
            if (m.name, m.attribute, m.group) == (name, attribute, group) and (
                aggregation is None or m.aggregation == aggregation
            ):
                return m
        raise KeyError((name, attribute, group, aggregation))

    def to_dict(self, include_counts: bool = True) -> dict[str, Any]:
        """JSON-serializable report; NaN becomes ``None``."""
        groups = {}
        for r in self.results:
            frame = self.by_group[self.by_group["attribute"] == r.attribute]
            groups[r.attribute] = [
                {k: _jsonable(v) for k, v in rec.items() if k != "attribute"}
                for rec in frame.to_dict(orient="records")
            ]
        out = {
            "task": self.counts.task,
            "favorable_label": json_scalar(self.counts.favorable_label),
            "n_samples": self.counts.n_samples,
            "min_group_size": self.min_group_size,
            "n_boot": self.n_boot,
            "seed": self.seed,
            "confidence_level": self.confidence_level,
            "overall": {
                k: {"value": json_float(v), "ci": [json_float(lo), json_float(hi)]}
                for k, (v, lo, hi) in self.overall.items()
            },
            "summary": self.summary,
            "groups": groups,
            "metrics": [m.to_dict() for m in self.metrics],
        }
        if include_counts:
            out["counts"] = self.counts.to_dict()
        return out

    # -- HTML -------------------------------------------------------------------------------
    def _repr_html_(self) -> str:
        parts = [f"<h3>Fairness audit ({self.counts.n_samples:,} rows)</h3>"]
        for r in self.results:
            parts.append(self._attribute_html(r))
        return "<div class='mlwarden-fairness'>" + "".join(parts) + "</div>"

    def to_html(self, path: str | Path | None = None) -> str:
        """Standalone HTML (inline CSS and SVG, no CDN); written to ``path`` when given."""
        doc = (
            "<!doctype html><html><head><meta charset='utf-8'><title>Fairness audit</title>"
            "<style>body{font-family:system-ui,sans-serif;margin:2em;color:#222}"
            "table{border-collapse:collapse;margin:.5em 0 1.5em}td,th{border:1px solid #ccc;"
            "padding:3px 8px;text-align:right}th{background:#f3f3f3}.bad{color:#b00}</style>"
            f"</head><body>{self._repr_html_()}</body></html>"
        )
        if path is not None:
            Path(path).write_text(doc, encoding="utf-8")
        return doc

    def _attribute_html(self, r: AttributeResult) -> str:
        esc = html.escape
        key = "selection_rate" if "selection_rate" in r.rates else "mean_absolute_error"
        rows = []
        for k, v in r.summary.items():
            lo, hi = r.summary_ci.get(k, (None, None))
            bad = k == "disparate_impact" and np.isfinite(v) and v < 0.8
            ci = f"[{_fmt(lo)}, {_fmt(hi)}]" if lo is not None else ""
            rows.append(
                f"<tr><td style='text-align:left'>{esc(k)}</td>"
                f"<td{' class=bad' if bad else ''}>{_fmt(v)}</td><td>{ci}</td></tr>"
            )
        excluded = [g for g, ok in zip(r.groups, r.eligible, strict=True) if not ok]
        note = (
            f"<p>Insufficient data (grey, fewer than {self.min_group_size} rows), excluded from "
            f"the summary: {esc(', '.join(excluded))}</p>"
            if excluded
            else ""
        )
        return (
            f"<h4>{esc(r.attribute)} (reference: {esc(r.reference)})</h4>{_bar_chart(r, key)}"
            f"{note}<table><tr><th>metric</th><th>value</th><th>interval</th></tr>"
            f"{''.join(rows)}</table>"
        )


def _bar_chart(r: AttributeResult, key: str) -> str:
    """Horizontal bars of ``key`` per group with interval whiskers, as inline SVG."""
    vals = np.nan_to_num(r.rates[key].astype(float))
    nan = np.full(len(vals), np.nan)
    lo, hi = (np.asarray(a, dtype=float) for a in r.rate_ci.get(key, (nan, nan)))
    top = max(float(np.nanmax(hi)) if np.isfinite(hi).any() else 0.0, float(vals.max(initial=0)))
    scale = 300 / top if top > 0 else 0
    bar_h, label_w = 18, 180
    parts = []
    for i, g in enumerate(r.groups):
        y = i * (bar_h + 4)
        color = "#4a7ab5" if r.eligible[i] else "#bbb"
        parts.append(
            f"<text x='{label_w - 6}' y='{y + 13}' text-anchor='end' font-size='12'>"
            f"{html.escape(g)} (n={int(r.sizes[i])})</text>"
            f"<rect x='{label_w}' y='{y}' width='{vals[i] * scale:.1f}' height='{bar_h}' "
            f"fill='{color}'/>"
            f"<text x='{label_w + max(vals[i], np.nan_to_num(hi[i])) * scale + 4:.1f}' "
            f"y='{y + 13}' font-size='11'>"
            f"{vals[i]:.3f}</text>"
        )
        if np.isfinite(lo[i]) and np.isfinite(hi[i]):
            mid = y + bar_h / 2
            parts.append(
                f"<line x1='{label_w + lo[i] * scale:.1f}' x2='{label_w + hi[i] * scale:.1f}' "
                f"y1='{mid}' y2='{mid}' stroke='#222' stroke-width='1.5'/>"
            )
    h = len(r.groups) * (bar_h + 4)
    return (
        f"<div>{html.escape(key)}</div><svg xmlns='http://www.w3.org/2000/svg' width='560' "
        f"height='{h}' role='img'>{''.join(parts)}</svg>"
    )


def _fmt(v: Any) -> str:
    return "n/a" if v is None or (isinstance(v, float) and not np.isfinite(v)) else f"{v:.4f}"


def _jsonable(v: Any) -> Any:
    if isinstance(v, float | np.floating):
        return json_float(v)
    return json_scalar(v)
