"""Build the context a monitoring rule reads from one stored window (``alerts/schema.py``).

Like gate contexts, unset values are left out rather than set to null: a window without
labels has no ``performance`` keys, so ``performance.accuracy < 0.8`` reports "no such key"
(the rule has no data) instead of comparing against null.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import pandas as pd

from mlwarden.entities import Model, ModelVersion
from mlwarden.policy.context import _present


def _when(value: Any) -> datetime | None:
    if value is None:
        return None
    ts = pd.Timestamp(value)
    ts = ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")
    return ts.to_pydatetime()


def _quality(quality: dict[str, Any]) -> dict[str, Any]:
    out = dict(quality)
    out["null_rate"] = {
        r["column"]: r["value"]
        for r in quality.get("results", ())
        if r.get("rule") == "null_rate" and r.get("value") is not None
    }
    return out


def window_context(
    model: Model,
    version: ModelVersion,
    window: dict[str, Any],
    now: datetime,
) -> dict[str, Any]:
    """``window`` is a stored ``monitor_windows`` row (``result`` a ``WindowResult`` dict)."""
    result = window["result"]
    context = {
        "model": {
            "name": model.name,
            "risk_tier": model.risk_tier,
            "owner": model.owner,
            "tags": model.tags,
            "aliases": model.aliases,
        },
        "version": {
            "number": version.version,
            "ref": version.ref,
            "status": version.status,
            "metrics": version.metrics,
        },
        "window": {
            "start": _when(window.get("start") or result.get("start")),
            "end": _when(window.get("end") or result.get("end")),
            "size": window.get("window"),
            "segment": result.get("segment", "all"),
            "rows": result.get("rows"),
            "labelled": result.get("labelled"),
        },
        "drift": result.get("drift") or {},
        "quality": _quality(result.get("quality") or {}),
        "performance": result.get("performance") or {},
        "estimated": result.get("estimated") or {},
        "fairness": result.get("fairness") or {},
        "attribution": result.get("attribution") or {},
        "now": now,
    }
    return dict(_present(context))
