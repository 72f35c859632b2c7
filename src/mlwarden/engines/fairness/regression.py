"""Group fairness for regression: error sums per group → MAE, RMSE and mean error disparities.

No bootstrap here: resampling needs the count table of discrete outcomes, and error sums are
not one. Intervals for regression are left to a later version (documented in docs/fairness.md).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from mlwarden.engines.fairness.counts import GROUP_SEP, GroupCounts
from mlwarden.engines.fairness.metrics import FairnessMetric
from mlwarden.engines.fairness.report import AttributeResult
from mlwarden.errors import ValidationError

# name → direction of the per-group value
REGRESSION_RATES = {
    "mean_absolute_error": "lower_is_better",
    "root_mean_squared_error": "lower_is_better",
    "mean_error": "closer_to_0",
    "mean_prediction": "context",
    "mean_target": "context",
}


def regression_rates(t: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Per-group regression summaries from sums of shape (n_groups,)."""
    n = t["n"].astype(float)
    with np.errstate(invalid="ignore", divide="ignore"):
        safe = np.where(n > 0, n, np.nan)
        return {
            "mean_absolute_error": t["sum_abs_err"] / safe,
            "root_mean_squared_error": np.sqrt(t["sum_sq_err"] / safe),
            "mean_error": t["sum_err"] / safe,
            "mean_prediction": t["sum_pred"] / safe,
            "mean_target": t["sum_true"] / safe,
        }


def regression_attribute(
    counts: GroupCounts, attr: str, feats: tuple[str, ...], given_ref: Any, min_size: int
) -> AttributeResult:
    labels, t = counts.group_table(feats)
    n_g = t["n"].astype(int)
    eligible = n_g >= min_size
    if given_ref is not None:
        key = (
            GROUP_SEP.join(map(str, given_ref)) if isinstance(given_ref, tuple) else str(given_ref)
        )
        if key not in labels:
            raise ValidationError("reference group not present", group=key, groups=labels)
        ref = labels.index(key)
    else:
        ref = int(np.argmax(np.where(eligible, n_g, -1) if eligible.any() else n_g))
    sizes = {g: int(n) for g, n in zip(labels, n_g, strict=True)}
    excluded = tuple(g for g, ok in zip(labels, eligible, strict=True) if not ok)
    common: dict[str, Any] = {
        "attribute": attr,
        "favorable_label": None,
        "excluded_groups": excluded,
    }
    rates = regression_rates(t)
    metrics = []
    for name, direction in REGRESSION_RATES.items():
        for i, g in enumerate(labels):
            metrics.append(
                FairnessMetric(
                    name=name,
                    value=float(rates[name][i]),
                    form="rate",
                    aggregation="per_group",
                    direction=direction,
                    group=g,
                    group_sizes={g: sizes[g]},
                    note=None if eligible[i] else "insufficient data: excluded from aggregates",
                    **common,
                )
            )
    summary: dict[str, float] = {}
    for base in ("mean_absolute_error", "root_mean_squared_error", "mean_error"):
        r = rates[base]
        diff = r - r[ref]
        others = eligible & (np.arange(len(labels)) != ref)
        v = np.where(others, diff, np.nan)
        pick = int(np.nanargmax(np.abs(v))) if np.isfinite(v).any() else None
        ref_val = float(v[pick]) if pick is not None else float("nan")
        e = np.where(eligible, r, np.nan)
        btw = float(np.nanmax(e) - np.nanmin(e)) if np.isfinite(e).any() else float("nan")
        worst = labels[int(np.nanargmax(np.abs(e)))] if np.isfinite(e).any() else None
        for agg, val, w in (("reference", ref_val, pick), ("between_groups", btw, worst)):
            metrics.append(
                FairnessMetric(
                    name=f"{base}_difference",
                    value=val,
                    form="difference",
                    aggregation=agg,
                    direction="closer_to_0",
                    reference_group=labels[ref] if agg == "reference" else None,
                    group_sizes=sizes,
                    worst_group=labels[w] if isinstance(w, int) else w,
                    **common,
                )
            )
        summary[f"{base}_difference"] = btw
    # Ratio of the best to the worst error: 1 means every group is served equally well.
    mae = np.where(eligible, rates["mean_absolute_error"], np.nan)
    with np.errstate(invalid="ignore", divide="ignore"):
        ratio = float(np.nanmin(mae) / np.nanmax(mae)) if np.isfinite(mae).any() else float("nan")
    metrics.append(
        FairnessMetric(
            name="mean_absolute_error_ratio",
            value=ratio,
            form="ratio",
            aggregation="between_groups",
            direction="closer_to_1",
            group_sizes=sizes,
            **common,
        )
    )
    summary["mean_absolute_error_ratio"] = ratio
    counts_arr = np.stack([t[k] for k in ("n", "sum_err", "sum_sq_err", "sum_abs_err")], axis=-1)
    return AttributeResult(
        attribute=attr,
        groups=labels,
        sizes=n_g,
        eligible=eligible,
        reference=labels[ref],
        counts=counts_arr,
        rates=rates,
        rate_ci={},
        metrics=metrics,
        summary=summary,
        summary_ci={},
        extra={"worst_group": summary and _worst(rates, eligible, labels)},
    )


def _worst(rates, eligible, labels) -> str | None:
    e = np.where(eligible, rates["mean_absolute_error"], np.nan)
    return labels[int(np.nanargmax(e))] if np.isfinite(e).any() else None
