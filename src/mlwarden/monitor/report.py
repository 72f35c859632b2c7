"""``MonitorReport``: windows × segments of drift, quality, performance and fairness."""

from __future__ import annotations

import html
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from mlwarden.entities.wire import Wire


@dataclass(frozen=True)
class WindowResult(Wire):
    start: pd.Timestamp
    end: pd.Timestamp
    segment: str
    rows: int
    labelled: int
    drift: dict[str, Any]
    quality: dict[str, Any]
    performance: dict[str, Any] = field(default_factory=dict)
    estimated: dict[str, Any] = field(default_factory=dict)
    fairness: dict[str, Any] = field(default_factory=dict)
    attribution: dict[str, Any] = field(default_factory=dict)
    unreadable_labels: int = 0  # labels no output of the version matches: left out, counted


@dataclass(frozen=True)
class MonitorReport(Wire):
    name: str
    version: int
    window: str
    segment_by: str | None
    windows: tuple[WindowResult, ...]
    note: str = ""  # which version is monitored and why, when it is not the serving one

    def to_frame(self) -> pd.DataFrame:
        rows = []
        for w in self.windows:
            row = {
                "start": w.start,
                "end": w.end,
                "segment": w.segment,
                "rows": w.rows,
                "labelled": w.labelled,
                "drift_share": w.drift.get("share_drifted"),
                "drifted": ", ".join(w.drift.get("drifted_columns", [])),
                "quality_failed": w.quality.get("failed"),
                "attribution_drift": w.attribution.get("distance"),
            }
            row.update({f"{k}": v for k, v in w.performance.items() if isinstance(v, float)})
            row.update({f"est_{k}": v for k, v in w.estimated.items() if isinstance(v, float)})
            rows.append(row)
        return pd.DataFrame(rows)

    def drift_matrix(self, segment: str = "all") -> pd.DataFrame:
        """Feature × window drift statistics (the heat-map's data)."""
        data = {}
        for w in self.windows:
            if w.segment == segment:
                data[w.start] = {c: r["statistic"] for c, r in w.drift.get("columns", {}).items()}
        return pd.DataFrame(data)

    def _repr_html_(self) -> str:
        return self.to_html_string()

    def to_html_string(self) -> str:
        title = f"Monitoring {self.name}@{self.version} — window {self.window}"
        matrix = self.drift_matrix()
        heat = "<p>No windows.</p>"
        if not matrix.empty:
            head = "".join(f"<th>{html.escape(str(c)[:16])}</th>" for c in matrix.columns)
            body = []
            for feature, values in matrix.iterrows():
                cells = "".join(_heat_cell(v) for v in values)
                body.append(
                    f"<tr><th style='text-align:left'>{html.escape(str(feature))}</th>{cells}</tr>"
                )
            heat = (
                f"<table class='heat'><thead><tr><th>feature</th>{head}</tr></thead>"
                f"<tbody>{''.join(body)}</tbody></table>"
            )
        overall = [w for w in self.windows if w.segment == "all"]
        lines = {
            "drift share": [w.drift.get("share_drifted") for w in overall],
            "accuracy": [w.performance.get("accuracy") for w in overall],
            "estimated accuracy": [w.estimated.get("accuracy") for w in overall],
        }
        chart = svg_lines([w.start.strftime("%Y-%m-%d %H:%M") for w in overall], lines)
        table = self.to_frame().to_html(
            index=False, float_format=lambda v: f"{v:.4f}", na_rep="—", border=0
        )
        return (
            f"<div class='mlwarden-monitor'><h3>{html.escape(title)}</h3>"
            f"<h4>Over time</h4>{chart}"
            f"<h4>Drift statistic by feature and window</h4>{heat}"
            f"<h4>Windows</h4>{table}</div>"
        )

    def to_html(self, path: str | Path) -> Path:
        """A standalone report (no scripts, no network) with the heat-map and window table."""
        path = Path(path)
        style = (
            "body{font-family:system-ui,sans-serif;margin:2rem;color:#1a1a1a}"
            "table{border-collapse:collapse;margin:1rem 0}td,th{padding:4px 8px;"
            "border:1px solid #ddd;font-size:13px}.heat td{text-align:right}"
        )
        data = json.dumps(self.to_dict(), default=str)
        path.write_text(
            f"<!doctype html><html lang='en'><head><meta charset='utf-8'>"
            f"<title>{html.escape(self.name)} monitoring</title><style>{style}</style></head>"
            f"<body>{self.to_html_string()}"
            f"<script type='application/json' id='report-data'>{html.escape(data)}</script>"
            f"</body></html>"
        )
        return path

    def __repr__(self) -> str:
        drifted = sum(1 for w in self.windows if w.drift.get("dataset_drifted"))
        return (
            f"MonitorReport({self.name}@{self.version}, window={self.window!r}, "
            f"{len(self.windows)} windows, {drifted} with dataset drift)"
        )


def _heat_cell(value: Any) -> str:
    if value is None or pd.isna(value):
        return "<td>—</td>"
    v = float(value)
    intensity = max(0.0, min(1.0, v / 0.3))  # 0.3 ≈ three times the default threshold
    color = f"rgba(214,39,40,{intensity:.2f})"
    text = "#fff" if intensity > 0.6 else "#1a1a1a"
    return f"<td style='background:{color};color:{text}'>{v:.3f}</td>"


PALETTE = ("#d62728", "#1f77b4", "#2ca02c", "#9467bd")


def svg_lines(
    labels: list[str], series: dict[str, list[Any]], width: int = 640, height: int = 200
) -> str:
    """A dependency-free inline SVG line chart of values in [0, 1] over windows."""
    if len(labels) < 1:
        return ""
    pad, n = 32, len(labels)

    def x(i: int) -> float:
        return pad + (width - 2 * pad) * (i / max(n - 1, 1))

    def y(v: float) -> float:
        return height - pad - (height - 2 * pad) * max(0.0, min(1.0, v))

    parts = [
        f"<svg role='img' aria-label='metrics over time' width='{width}' "
        f"height='{height}' viewBox='0 0 {width} {height}'>",
        f"<line x1='{pad}' y1='{y(0)}' x2='{width - pad}' y2='{y(0)}' stroke='#999'/>",
        f"<text x='4' y='{y(1) + 4}' font-size='10'>1</text>",
        f"<text x='4' y='{y(0) + 4}' font-size='10'>0</text>",
    ]
    for k, (name, values) in enumerate(series.items()):
        points = [
            (x(i), y(float(v))) for i, v in enumerate(values) if v is not None and not pd.isna(v)
        ]
        if not points:
            continue
        color = PALETTE[k % len(PALETTE)]
        path = " ".join(f"{px:.1f},{py:.1f}" for px, py in points)
        parts.append(f"<polyline fill='none' stroke='{color}' stroke-width='2' points='{path}'/>")
        parts.extend(
            f"<circle cx='{px:.1f}' cy='{py:.1f}' r='3' fill='{color}'/>" for px, py in points
        )
        parts.append(
            f"<text x='{width - pad - 130}' y='{14 + 12 * k}' font-size='11' "
            f"fill='{color}'>{html.escape(name)}</text>"
        )
    parts.append(f"<text x='{pad}' y='{height - 8}' font-size='10'>{html.escape(labels[0])}</text>")
    parts.append("</svg>")
    return "".join(parts)
