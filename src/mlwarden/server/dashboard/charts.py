"""Vega-Lite specifications, built on the server with their data inlined (no extra request,
nothing fetched from elsewhere). The page hands each to vega-embed (static/app.js)."""

from __future__ import annotations

from typing import Any

SCHEMA = "https://vega.github.io/schema/vega-lite/v6.json"  # an identifier, never fetched
#: Colour-blind-safe pair (Okabe–Ito blue and vermillion), dark enough on white.
REF, CUR = "#0072B2", "#D55E00"


def _base(title: str, description: str) -> dict[str, Any]:
    return {
        "$schema": SCHEMA,
        "title": title,
        "description": description,  # read out by screen readers (aria-label on the SVG)
        "width": "container",
        "config": {"font": "system-ui, sans-serif", "view": {"stroke": None}},
    }


def monitoring(page: Any) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    if page.heatmap:
        out["heatmap"] = {
            **_base(
                "Drift by feature and window",
                f"Heat-map of the drift statistic of {len(page.features)} features over "
                f"{len(page.rows)} windows; outlined cells drifted.",
            ),
            "height": {"step": 18},
            "data": {"values": page.heatmap},
            "mark": {"type": "rect", "strokeWidth": 2},
            "encoding": {
                "x": {
                    "field": "window",
                    "type": "ordinal",
                    "timeUnit": "yearmonthdatehours",
                    "title": "window start",
                },
                "y": {"field": "feature", "type": "nominal", "sort": page.features},
                "color": {
                    "field": "statistic",
                    "type": "quantitative",
                    "scale": {"type": "symlog", "scheme": "orangered"},
                    "title": "drift statistic",
                },
                "stroke": {"condition": {"test": "datum.drifted", "value": "#000"}, "value": None},
                "tooltip": [
                    {"field": "feature"},
                    {"field": "window", "type": "temporal", "format": "%Y-%m-%d %H:%M"},
                    {"field": "statistic", "format": ".3f"},
                    {"field": "method"},
                    {"field": "drifted"},
                ],
            },
        }
    if page.distribution:
        out["distribution"] = {
            **_base(
                f"{page.feature}: reference vs latest window",
                f"Share of rows per bin of {page.feature}, reference profile against the "
                "latest monitored window.",
            ),
            "height": 220,
            "data": {"values": page.distribution},
            "mark": "bar",
            "encoding": {
                "x": {
                    "field": "bin",
                    "type": "nominal",
                    "sort": {"field": "order"},
                    "title": page.feature,
                    "axis": {"labelAngle": -30},
                },
                "xOffset": {"field": "set"},
                "y": {
                    "field": "share",
                    "type": "quantitative",
                    "axis": {"format": "%"},
                    "title": "share of rows",
                },
                "color": {
                    "field": "set",
                    "type": "nominal",
                    "title": None,
                    "scale": {"domain": ["reference", "current"], "range": [REF, CUR]},
                },
                "tooltip": [
                    {"field": "set"},
                    {"field": "bin"},
                    {"field": "share", "format": ".1%"},
                ],
            },
        }
    for key, values, title in (
        ("performance", page.performance, "Performance over time"),
        ("fairness", page.fairness, "Fairness over time"),
    ):
        if values:
            out[key] = {
                **_base(title, f"{title}: one line per metric, one point per window."),
                "height": 220,
                "data": {"values": values},
                "mark": {"type": "line", "point": True},
                "encoding": {
                    "x": {"field": "window", "type": "temporal", "title": "window start"},
                    "y": {"field": "value", "type": "quantitative", "title": None},
                    "color": {"field": "metric", "type": "nominal"},
                    "tooltip": [
                        {"field": "metric"},
                        {"field": "value", "format": ".3f"},
                        {"field": "window", "type": "temporal"},
                    ],
                },
            }
    return out


def waterfall(page: Any) -> dict[str, Any]:
    """Reason codes as a waterfall: each contribution a floating bar from the running sum."""
    values, running = [], 0.0
    for r in page.reasons:
        c = float(r.get("contribution") or 0.0)
        values.append(
            {
                "feature": f"{r.get('feature')} = {r.get('value')}",
                "start": running,
                "end": running + c,
                "contribution": c,
                "direction": r.get("direction") or ("raised" if c >= 0 else "lowered"),
            }
        )
        running += c
    space = (page.reasons[0].get("output_space") if page.reasons else None) or "model output"
    return {
        **_base(
            "Reason codes",
            "Waterfall of the top contributions to this prediction, in "
            f"{space}; each bar starts where the previous one ended.",
        ),
        "height": {"step": 28},
        "data": {"values": values},
        "mark": "bar",
        "encoding": {
            "y": {"field": "feature", "type": "nominal", "sort": None, "title": None},
            "x": {"field": "start", "type": "quantitative", "title": f"contribution ({space})"},
            "x2": {"field": "end"},
            "color": {
                "field": "direction",
                "type": "nominal",
                "title": None,
                "scale": {"domain": ["raised", "lowered"], "range": [CUR, REF]},
            },
            "tooltip": [
                {"field": "feature"},
                {"field": "contribution", "format": "+.4f"},
                {"field": "direction"},
            ],
        },
    }
