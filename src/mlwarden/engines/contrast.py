"""Reason codes for one decision of a multiclass model: why the predicted class and not the
runner-up (the class with the next highest probability).

A feature's contribution is how much its value adds to the predicted class's **lead** over
the runner-up, ``p(predicted) - p(runner-up)``, against the feature set to its reference
value (the training mean, or the most frequent category) with the others held: positive when
the value favoured the predicted class over the runner-up. Measured by calling the model (one
row per feature), so it holds for any model that gives class probabilities. Binary models are
explained by their explainer (SHAP, the linear formula) instead; there the runner-up is the
other class and the lead is the score's distance from it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

Proba = Callable[[list[dict[str, Any]]], np.ndarray]


def runner_up(probabilities: np.ndarray, classes: Sequence[Any]) -> tuple[Any, Any]:
    """(predicted, runner-up) class labels of one row of probabilities."""
    order = np.argsort(-np.asarray(probabilities, dtype=float), kind="stable")
    return classes[int(order[0])], classes[int(order[1])]


def contrast_reasons(
    proba: Proba,
    row: Mapping[str, Any],
    classes: Sequence[Any],
    reference: Mapping[str, Any],
    *,
    k: int = 3,
) -> dict[str, Any]:
    """The top ``k`` features by |contribution| to the predicted class's lead over the
    runner-up (see the module docstring). ``reference``: feature -> reference value, only the
    features that may be cited (protected attributes left out by the caller)."""
    base = dict(row)
    p = np.asarray(proba([base])[0], dtype=float)
    predicted, versus = runner_up(p, classes)
    i, j = list(classes).index(predicted), list(classes).index(versus)
    lead = float(p[i] - p[j])
    names = [n for n, ref in reference.items() if n in base and base[n] != ref]
    codes: list[dict[str, Any]] = []
    if names:
        moved = np.asarray(proba([{**base, n: reference[n]} for n in names]), dtype=float)
        deltas = lead - (moved[:, i] - moved[:, j])
        order = np.argsort(-np.abs(deltas), kind="stable")[:k]
        for rank, m in enumerate(order, start=1):
            c = float(deltas[m])
            if c == 0:
                break
            verb = "raised" if c > 0 else "lowered"
            codes.append({
                "rank": rank,
                "feature": names[m],
                "value": base[names[m]],
                "contribution": c,
                "direction": verb,
                "output_space": "probability",
                "unit": "probability",
                "versus": versus,
                "text": f"{names[m]} = {base[names[m]]} {verb} the lead of {predicted!r} over "
                f"{versus!r} by {abs(c):.3f}",
            })  # fmt: skip
    return {"predicted": predicted, "versus": versus, "lead": lead, "codes": codes}
