"""Fairness metrics computed from confusion counts, vectorised over groups and replicates.

Every function takes counts of shape (..., n_groups, 4) in ``tp, fp, tn, fn`` order, so the same
code serves the observed table (leading shape ``()``) and the bootstrap replicates (``(B,)``).
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, field, fields
from typing import Any

import numpy as np

TP, FP, TN, FN = 0, 1, 2, 3
ALL = (TP, FP, TN, FN)

# name → (numerator columns, denominator columns, direction, reason when the denominator is 0)
RATES: dict[str, tuple[tuple[int, ...], tuple[int, ...], str, str]] = {
    "selection_rate": ((TP, FP), ALL, "higher_is_better", "empty group"),
    "base_rate": ((TP, FN), ALL, "higher_is_better", "empty group"),
    "true_positive_rate": ((TP,), (TP, FN), "higher_is_better", "no favorable labels"),
    "false_positive_rate": ((FP,), (FP, TN), "lower_is_better", "no unfavorable labels"),
    "false_negative_rate": ((FN,), (TP, FN), "lower_is_better", "no favorable labels"),
    "true_negative_rate": ((TN,), (FP, TN), "higher_is_better", "no unfavorable labels"),
    "positive_predictive_value": ((TP,), (TP, FP), "higher_is_better", "no favorable predictions"),
    "false_discovery_rate": ((FP,), (TP, FP), "lower_is_better", "no favorable predictions"),
    "false_omission_rate": ((FN,), (FN, TN), "lower_is_better", "no unfavorable predictions"),
    "accuracy": ((TP, TN), ALL, "higher_is_better", "empty group"),
}

# Disparities against a reference group (AIF360: signed ``unprivileged - privileged``).
# name → (rate, form); average odds is special-cased.
REFERENCE: dict[str, tuple[str, str]] = {
    "statistical_parity_difference": ("selection_rate", "difference"),
    "disparate_impact": ("selection_rate", "ratio"),
    "equal_opportunity_difference": ("true_positive_rate", "difference"),
    "false_positive_rate_difference": ("false_positive_rate", "difference"),
    "false_negative_rate_difference": ("false_negative_rate", "difference"),
    "average_odds_difference": ("", "difference"),
    "predictive_parity_difference": ("positive_predictive_value", "difference"),
    "false_discovery_rate_difference": ("false_discovery_rate", "difference"),
    "false_omission_rate_difference": ("false_omission_rate", "difference"),
    "accuracy_difference": ("accuracy", "difference"),
}

# Disparities between all groups (Fairlearn: ``max - min`` and ``min / max``).
# name → (rates combined, form); several rates take the worst case, as Fairlearn does.
BETWEEN: dict[str, tuple[tuple[str, ...], str]] = {
    "demographic_parity_difference": (("selection_rate",), "difference"),
    "demographic_parity_ratio": (("selection_rate",), "ratio"),
    "equalized_odds_difference": (("true_positive_rate", "false_positive_rate"), "difference"),
    "equalized_odds_ratio": (("true_positive_rate", "false_positive_rate"), "ratio"),
    "equal_opportunity_difference": (("true_positive_rate",), "difference"),
    "equal_opportunity_ratio": (("true_positive_rate",), "ratio"),
    # error-rate balance: who bears the false alarms, who the misses (COMPAS, credit default)
    "false_positive_rate_difference": (("false_positive_rate",), "difference"),
    "false_positive_rate_ratio": (("false_positive_rate",), "ratio"),
    "false_negative_rate_difference": (("false_negative_rate",), "difference"),
    "false_negative_rate_ratio": (("false_negative_rate",), "ratio"),
    "predictive_parity_difference": (("positive_predictive_value",), "difference"),
    "accuracy_difference": (("accuracy",), "difference"),
}


def rate(counts: np.ndarray, name: str) -> np.ndarray:
    """Rate ``name`` of counts (..., G, 4) → (..., G); NaN where the denominator is zero."""
    num_cols, den_cols, _, _ = RATES[name]
    num = counts[..., list(num_cols)].sum(axis=-1).astype(float)
    den = counts[..., list(den_cols)].sum(axis=-1).astype(float)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(den > 0, num / np.where(den > 0, den, 1.0), np.nan)


def all_rates(counts: np.ndarray) -> dict[str, np.ndarray]:
    return {name: rate(counts, name) for name in RATES}


def _masked(values: np.ndarray, eligible: np.ndarray) -> np.ndarray:
    return np.where(eligible, values, np.nan)


def _nan_reduce(fn: Any, values: np.ndarray) -> np.ndarray:
    # All-NaN slices are expected (a replicate where no group has positives): NaN, quietly.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return fn(values, axis=-1)


def reference_disparities(
    rates: dict[str, np.ndarray], ref: int
) -> dict[str, tuple[np.ndarray, str]]:
    """Per-group disparity vs group ``ref``: name → (values (..., G), form)."""
    out = {}
    with np.errstate(invalid="ignore", divide="ignore"):
        for name, (rate_name, form) in REFERENCE.items():
            if name == "average_odds_difference":
                tpr, fpr = rates["true_positive_rate"], rates["false_positive_rate"]
                vals = ((tpr - tpr[..., ref : ref + 1]) + (fpr - fpr[..., ref : ref + 1])) / 2
            else:
                r = rates[rate_name]
                base = r[..., ref : ref + 1]
                vals = r - base if form == "difference" else np.where(base > 0, r / base, np.nan)
            out[name] = (vals, form)
    return out


def summarise_reference(values: np.ndarray, form: str, others: np.ndarray) -> np.ndarray:
    """Reduce per-group disparities (..., G) over the non-reference eligible groups ``others``.

    Ratios take the minimum (the group most disadvantaged relative to the reference, the one a
    ``>= 0.8`` rule must catch); differences take the signed value of largest magnitude.
    """
    v = _masked(values, others)
    if form == "ratio":
        return _nan_reduce(np.nanmin, v)
    filled = np.where(np.isnan(v), -1.0, np.abs(v))
    idx = np.argmax(filled, axis=-1)
    picked = np.take_along_axis(v, idx[..., None], axis=-1)[..., 0]
    return np.where(np.all(np.isnan(v), axis=-1), np.nan, picked)


def between_groups(
    rates: dict[str, np.ndarray], eligible: np.ndarray
) -> dict[str, tuple[np.ndarray, str]]:
    """Fairlearn-style disparities over eligible groups: name → (values (...,), form)."""
    out = {}
    for name, (rate_names, form) in BETWEEN.items():
        parts = []
        for rn in rate_names:
            r = _masked(rates[rn], eligible)
            hi, lo = _nan_reduce(np.nanmax, r), _nan_reduce(np.nanmin, r)
            if form == "difference":
                parts.append(hi - lo)
            else:
                with np.errstate(invalid="ignore", divide="ignore"):
                    parts.append(np.where(hi > 0, lo / np.where(hi > 0, hi, 1.0), np.nan))
        stacked = np.stack(parts, axis=-1)
        # worst case over the combined rates: the largest gap, the smallest ratio
        reduce = np.nanmax if form == "difference" else np.nanmin
        out[name] = (_nan_reduce(reduce, stacked), form)
    return out


@dataclass(frozen=True)
class FairnessMetric:
    """One self-describing fairness number.

    ``aggregation`` is ``per_group`` (a rate of one group), ``reference`` (AIF360 convention:
    ``group − reference`` or ``group / reference``; ``group=None`` is the attribute summary), or
    ``between_groups`` (Fairlearn convention: ``max − min`` or ``min / max`` over groups).
    ``direction`` is ``higher_is_better``, ``lower_is_better``, ``closer_to_0`` or
    ``closer_to_1``. ``value`` is NaN with ``reason`` set when it cannot be computed.
    """

    name: str
    attribute: str
    value: float
    form: str
    aggregation: str
    direction: str
    favorable_label: Any
    group: str | None = None
    reference_group: str | None = None
    ci_low: float | None = None
    ci_high: float | None = None
    group_sizes: dict[str, int] = field(default_factory=dict)
    excluded_groups: tuple[str, ...] = ()
    worst_group: str | None = None
    reason: str | None = None
    note: str | None = None
    threshold: float | None = None
    passed: bool | None = None

    def to_dict(self) -> dict[str, Any]:
        # a shallow copy: asdict's deep copy was most of a registration's fairness evidence time
        d = {f.name: getattr(self, f.name) for f in fields(self)}
        d["group_sizes"] = dict(self.group_sizes)
        for k in ("value", "ci_low", "ci_high", "threshold"):
            d[k] = json_float(d[k])
        d["excluded_groups"] = list(self.excluded_groups)
        d["favorable_label"] = json_scalar(self.favorable_label)
        return d


def json_float(x: Any) -> float | None:
    """NaN and infinities become ``None``: JSON has no NaN and policies must see 'missing'."""
    if x is None:
        return None
    x = float(x)
    return x if math.isfinite(x) else None


def json_scalar(x: Any) -> Any:
    return x.item() if isinstance(x, np.generic) else x
