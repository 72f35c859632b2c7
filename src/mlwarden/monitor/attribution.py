"""Attribution drift: does the model now lean on different features than at registration?

Mean |SHAP| per feature in a window, normalised to shares, against the shares recorded in the
version's ``explain`` evidence. The distance is total variation (half the L1 distance between
the two share vectors): 0 = same reliance, 1 = disjoint. Only for models explained without a
background sample (tree ensembles): the window's rows are then the only data needed.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from mlwarden.errors import MissingDependency, ValidationError

MAX_ROWS = 500  # rows explained per window; mean |SHAP| is stable well before this
THRESHOLD = 0.1


def shares(importance: dict[str, float]) -> dict[str, float]:
    total = sum(abs(v) for v in importance.values())
    return {k: abs(v) / total for k, v in importance.items()} if total else {}


def attribution_drift(
    model: Any, rows: pd.DataFrame, reference: dict[str, float]
) -> dict[str, Any]:
    from mlwarden.engines.explain import explainer_for

    if not reference:
        return {"status": "skipped", "reason": "no reference importance recorded"}
    sample = rows.sample(min(MAX_ROWS, len(rows)), random_state=0) if len(rows) else rows
    try:
        current = explainer_for(model, None).global_importance(sample)
    except (ValidationError, MissingDependency) as exc:
        return {"status": "skipped", "reason": exc.message}
    ref, cur = shares(reference), shares(current)
    features = sorted(set(ref) | set(cur))
    distance = 0.5 * float(
        np.abs(np.array([ref.get(f, 0) - cur.get(f, 0) for f in features])).sum()
    )
    return {
        "status": "ok",
        "distance": distance,
        "threshold": THRESHOLD,
        "drifted": distance > THRESHOLD,
        "importance": current,
        "rows": len(sample),
    }
