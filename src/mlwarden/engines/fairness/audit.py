"""``audit()``: fairness metrics with bootstrap intervals from a :class:`GroupCounts` table.

The bootstrap resamples the count table, not the rows: one multinomial draw of all
``n_cells × 4`` confusion categories with the total ``n`` is distributed exactly like the count
table of a row bootstrap (what Fairlearn's ``MetricFrame(n_boot=...)`` does), but costs
``O(B × cells)`` instead of ``O(B × rows)`` and needs no raw rows, so it runs on merged windows.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from mlwarden.engines.fairness.calibration import calibration_metrics
from mlwarden.engines.fairness.counts import CONFUSION, GROUP_SEP, GroupCounts
from mlwarden.engines.fairness.metrics import (
    BETWEEN,
    RATES,
    REFERENCE,
    FairnessMetric,
    all_rates,
    between_groups,
    reference_disparities,
    summarise_reference,
)
from mlwarden.engines.fairness.regression import regression_attribute
from mlwarden.engines.fairness.report import AttributeResult, FairnessReport
from mlwarden.errors import ValidationError

FOUR_FIFTHS = 0.8


def audit(
    y_true: Any,
    y_pred: Any,
    sensitive_features: Any,
    y_score: Any = None,
    favorable_label: Any = 1,
    reference_groups: dict[str, Any] | None = None,
    min_group_size: int = 30,
    n_boot: int = 1000,
    seed: int = 0,
    intersections: bool = True,
    task: str = "classification",
    confidence_level: float = 0.95,
) -> FairnessReport:
    """Audit predictions for group fairness.

    ``y_true``, ``y_pred`` and ``y_score`` have shape (n_samples,); ``sensitive_features`` is a
    Series, a DataFrame, a dict of arrays or an array of shape (n_samples,) or
    (n_samples, n_features). ``reference_groups`` maps an attribute to its reference
    (privileged) group; by default the largest sufficient group is the reference.
    """
    counts = GroupCounts(task=task, favorable_label=favorable_label).fit(
        y_true, y_pred, sensitive_features, y_score=y_score
    )
    return audit_counts(
        counts,
        reference_groups=reference_groups,
        min_group_size=min_group_size,
        n_boot=n_boot,
        seed=seed,
        intersections=intersections,
        confidence_level=confidence_level,
    )


def audit_counts(
    counts: GroupCounts,
    reference_groups: dict[str, Any] | None = None,
    min_group_size: int = 30,
    n_boot: int = 1000,
    seed: int = 0,
    intersections: bool = True,
    confidence_level: float = 0.95,
) -> FairnessReport:
    """Audit from an existing (possibly merged) count table; see :func:`audit`."""
    reference_groups = dict(reference_groups or {})
    attrs = counts.attributes(intersections)
    unknown = set(reference_groups) - set(attrs)
    if unknown:
        raise ValidationError("reference_groups names unknown attributes", unknown=sorted(unknown))
    if counts.task == "regression":
        results = [
            regression_attribute(counts, name, feats, reference_groups.get(name), min_group_size)
            for name, feats in attrs.items()
        ]
        return FairnessReport(counts, results, {}, min_group_size, 0, seed, confidence_level)

    cell = np.stack([counts.table_[k] for k in CONFUSION], axis=-1)  # (cells, 4)
    boot = _bootstrap(cell, n_boot, seed)  # (B, cells, 4) or None
    q = (100 * (1 - confidence_level) / 2, 100 * (1 + confidence_level) / 2)
    total = cell.sum(axis=0)
    overall = {}
    total_b = all_rates(boot.sum(axis=1)) if boot is not None else None
    for name, val in all_rates(total).items():
        lo_hi = _ci(total_b[name], q) if total_b is not None else (None, None)
        overall[name] = (float(val), *lo_hi)
    results = []
    for name, feats in attrs.items():
        labels, m = counts.membership(feats)
        obs = np.rint(m @ cell).astype(np.int64)  # 0/1 membership: exact integer sums
        reps = np.einsum("gc,bck->bgk", m, boot) if boot is not None else None
        results.append(
            _classification_attribute(
                counts, name, labels, obs, reps, reference_groups.get(name), min_group_size, q
            )
        )
    return FairnessReport(counts, results, overall, min_group_size, n_boot, seed, confidence_level)


def _bootstrap(cell: np.ndarray, n_boot: int, seed: int) -> np.ndarray | None:
    n = int(cell.sum())
    if n_boot <= 0 or n == 0:
        return None
    rng = np.random.default_rng(seed)
    flat = cell.ravel().astype(float)
    draws = rng.multinomial(n, flat / flat.sum(), size=n_boot)
    return draws.reshape(n_boot, *cell.shape)


def _ci(samples: np.ndarray, q: tuple[float, float]) -> Any:
    """Percentile interval over axis 0, ignoring replicates where the metric is undefined."""
    ok = np.isfinite(samples)
    if ok.all():  # the common case: nanpercentile's per-column masking costs 10x more
        return np.percentile(samples, q, axis=0)
    finite = np.where(ok, samples, np.nan)
    with np.errstate(all="ignore"):
        import warnings

        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            lo, hi = np.nanpercentile(finite, q, axis=0)
    return lo, hi


def _resolve_reference(labels: list[str], given: Any, n_g: np.ndarray, eligible: np.ndarray):
    if given is not None:
        key = GROUP_SEP.join(map(str, given)) if isinstance(given, tuple | list) else str(given)
        if key not in labels:
            raise ValidationError("reference group not present", group=key, groups=labels)
        return labels.index(key)
    # The largest group is stable from window to window (the highest-rate one can flip).
    sizes = np.where(eligible, n_g, -1) if eligible.any() else n_g
    return int(np.argmax(sizes))


def _classification_attribute(
    counts: GroupCounts,
    attr: str,
    labels: list[str],
    obs: np.ndarray,
    reps: np.ndarray | None,
    given_ref: Any,
    min_size: int,
    q: tuple[float, float],
) -> AttributeResult:
    n_g = obs.sum(axis=-1).astype(int)
    eligible = n_g >= min_size
    ref = _resolve_reference(labels, given_ref, n_g, eligible)
    others = eligible & (np.arange(len(labels)) != ref)
    sizes = {g: int(n) for g, n in zip(labels, n_g, strict=True)}
    excluded = tuple(g for g, ok in zip(labels, eligible, strict=True) if not ok)
    fav = counts.favorable_label
    common: dict[str, Any] = {
        "attribute": attr,
        "favorable_label": fav,
        "excluded_groups": excluded,
    }
    ref_label = labels[ref]
    ref_note = None if eligible[ref] else f"reference group has fewer than {min_size} rows"
    excl_note = (
        f"groups with fewer than {min_size} rows excluded: {', '.join(excluded)}"
        if excluded
        else None
    )

    rates = all_rates(obs)
    rates_b = all_rates(reps) if reps is not None else None
    metrics: list[FairnessMetric] = []
    group_ci: dict[str, tuple[Any, Any]] = {}

    for rname, (_, _, direction, reason) in RATES.items():
        lo, hi = _ci(rates_b[rname], q) if rates_b is not None else (None, None)
        group_ci[rname] = (lo, hi) if lo is not None else (np.full(len(labels), np.nan),) * 2
        for i, g in enumerate(labels):
            v = rates[rname][i]
            metrics.append(
                FairnessMetric(
                    name=rname,
                    value=float(v),
                    form="rate",
                    aggregation="per_group",
                    direction=direction,
                    group=g,
                    ci_low=None if lo is None else float(lo[i]),
                    ci_high=None if hi is None else float(hi[i]),
                    group_sizes={g: sizes[g]},
                    reason=reason if np.isnan(v) else None,
                    note=None if eligible[i] else "insufficient data: excluded from aggregates",
                    **common,
                )
            )

    # AIF360 convention: each group against the reference, then a summary per metric.
    ref_obs = reference_disparities(rates, ref)
    ref_boot = reference_disparities(rates_b, ref) if rates_b is not None else None
    summary: dict[str, float] = {}
    summary_ci: dict[str, tuple[float | None, float | None]] = {}
    for mname, (vals, form) in ref_obs.items():
        direction = "closer_to_1" if form == "ratio" else "closer_to_0"
        lo, hi = _ci(ref_boot[mname][0], q) if ref_boot is not None else (None, None)
        rate_name = REFERENCE[mname][0] or "true_positive_rate"
        for i, g in enumerate(labels):
            if i == ref:
                continue
            v = float(vals[i])
            metrics.append(
                FairnessMetric(
                    name=mname,
                    value=v,
                    form=form,
                    aggregation="reference",
                    direction=direction,
                    group=g,
                    reference_group=ref_label,
                    ci_low=None if lo is None else float(lo[i]),
                    ci_high=None if hi is None else float(hi[i]),
                    group_sizes={g: sizes[g], ref_label: sizes[ref_label]},
                    reason=_why_nan(v, rates, rate_name, i, ref, form) if np.isnan(v) else None,
                    note=None if eligible[i] else "insufficient data: excluded from aggregates",
                    **_four_fifths(mname, v),
                    **common,
                )
            )
        s = summarise_reference(vals, form, others)
        s_b = summarise_reference(ref_boot[mname][0], form, others) if ref_boot else None
        s_lo, s_hi = _ci(s_b, q) if s_b is not None else (None, None)
        worst = _pick_worst(vals, form, others, labels)
        metrics.append(
            FairnessMetric(
                name=mname,
                value=float(s),
                form=form,
                aggregation="reference",
                direction=direction,
                reference_group=ref_label,
                ci_low=_f(s_lo),
                ci_high=_f(s_hi),
                group_sizes=sizes,
                worst_group=worst,
                reason=None if np.isfinite(s) else "no eligible group has a defined value",
                note=_join(
                    "ratio: minimum over groups" if form == "ratio" else "largest |difference|",
                    ref_note,
                    excl_note,
                ),
                **_four_fifths(mname, float(s)),
                **common,
            )
        )
        summary[mname] = float(s)
        summary_ci[mname] = (_f(s_lo), _f(s_hi))

    # Fairlearn convention: max − min and min / max over the eligible groups.
    btw = between_groups(rates, eligible)
    btw_b = between_groups(rates_b, eligible) if rates_b is not None else None
    for mname, (val, form) in btw.items():
        lo, hi = _ci(btw_b[mname][0], q) if btw_b is not None else (None, None)
        rate_names = BETWEEN[mname][0]
        v = float(val)
        metrics.append(
            FairnessMetric(
                name=mname,
                value=v,
                form=form,
                aggregation="between_groups",
                direction="closer_to_1" if form == "ratio" else "closer_to_0",
                ci_low=_f(lo),
                ci_high=_f(hi),
                group_sizes=sizes,
                worst_group=_worst_by_rate(rates, rate_names, eligible, labels),
                reason=None if np.isfinite(v) else "fewer than two groups with a defined rate",
                note=_join(
                    "worst case over " + " and ".join(rate_names) if len(rate_names) > 1 else None,
                    excl_note,
                ),
                **common,
            )
        )
        summary[mname] = v  # between-groups wins a shared name: non-negative, policy-friendly
        summary_ci[mname] = (_f(lo), _f(hi))

    di = summary["disparate_impact"]
    extra = {
        "four_fifths_rule": bool(di >= FOUR_FIFTHS) if np.isfinite(di) else None,
        "worst_group": _worst_by_rate(rates, ("selection_rate",), eligible, labels),
    }
    calib = (
        calibration_metrics(counts, attr, labels, eligible, sizes, common)
        if counts.has_scores_
        else []
    )
    metrics.extend(calib)
    for rec in calib:
        if rec.aggregation == "between_groups":
            summary[rec.name] = rec.value
    return AttributeResult(
        attribute=attr,
        groups=labels,
        sizes=n_g,
        eligible=eligible,
        reference=ref_label,
        counts=obs,
        rates=rates,
        rate_ci=group_ci,
        metrics=metrics,
        summary=summary,
        summary_ci=summary_ci,
        extra=extra,
    )


def _four_fifths(name: str, v: float) -> dict[str, Any]:
    if name != "disparate_impact":
        return {}
    return {"threshold": FOUR_FIFTHS, "passed": bool(v >= FOUR_FIFTHS) if np.isfinite(v) else None}


def _why_nan(v, rates, rate_name, i, ref, form) -> str:
    reason = RATES[rate_name][3]
    if np.isnan(rates[rate_name][i]):
        return f"{rate_name} undefined for this group: {reason}"
    if np.isnan(rates[rate_name][ref]):
        return f"{rate_name} undefined for the reference group: {reason}"
    return f"{rate_name} of the reference group is 0" if form == "ratio" else "undefined"


def _pick_worst(vals, form, others, labels) -> str | None:
    v = np.where(others, vals, np.nan)
    if not np.isfinite(v).any():
        return None
    i = np.nanargmin(v) if form == "ratio" else np.nanargmax(np.abs(v))
    return labels[int(i)]


def _worst_by_rate(rates, rate_names, eligible, labels) -> str | None:
    best_gap, worst = -1.0, None
    for rn in rate_names:
        r = np.where(eligible, rates[rn], np.nan)
        if not np.isfinite(r).any():
            continue
        gap = np.nanmax(r) - np.nanmin(r)
        if gap > best_gap:
            higher = RATES[rn][2] == "higher_is_better"
            best_gap, worst = gap, labels[int(np.nanargmin(r) if higher else np.nanargmax(r))]
    return worst


def _f(x: Any) -> float | None:
    return None if x is None else float(x)


def _join(*parts: str | None) -> str | None:
    kept = [p for p in parts if p]
    return "; ".join(kept) if kept else None
