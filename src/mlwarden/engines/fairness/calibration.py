"""Calibration per group from the score bins of a :class:`GroupCounts` table.

Per group: mean score, the gap to the observed favorable rate, and the expected calibration
error (ECE) over equal-width score bins; between groups: the spread of ECE. No bootstrap: the
bins hold score sums, not discrete outcomes.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from mlwarden.engines.fairness.counts import GroupCounts
from mlwarden.engines.fairness.metrics import FairnessMetric


def calibration_metrics(
    counts: GroupCounts,
    attr: str,
    labels: list[str],
    eligible: np.ndarray,
    sizes: dict[str, int],
    common: dict[str, Any],
) -> list[FairnessMetric]:
    """Mean score vs observed rate and expected calibration error per group (no bootstrap)."""
    _, t = counts.group_table(counts.attributes(True)[attr])
    n = t["tp"] + t["fn"] + t["fp"] + t["tn"]
    with np.errstate(invalid="ignore", divide="ignore"):
        mean_score = t["score_sum"] / n
        observed = (t["tp"] + t["fn"]) / n
        bn = t["bin_n"]
        gap = np.abs(t["bin_score"] - t["bin_label"])  # n_b × |mean score_b − rate_b|
        ece = gap.sum(axis=-1) / bn.sum(axis=-1)
    out = []
    for name, vals, direction in (
        ("mean_score", mean_score, "closer_to_observed"),
        ("calibration_gap", mean_score - observed, "closer_to_0"),
        ("expected_calibration_error", ece, "lower_is_better"),
    ):
        for i, g in enumerate(labels):
            out.append(
                FairnessMetric(
                    name=name,
                    value=float(vals[i]),
                    form="difference" if name != "mean_score" else "rate",
                    aggregation="per_group",
                    direction=direction,
                    group=g,
                    group_sizes={g: sizes[g]},
                    note=None if eligible[i] else "insufficient data: excluded from aggregates",
                    **common,
                )
            )
    e = np.where(eligible, ece, np.nan)
    if np.isfinite(e).any():
        out.append(
            FairnessMetric(
                name="expected_calibration_error_difference",
                value=float(np.nanmax(e) - np.nanmin(e)),
                form="difference",
                aggregation="between_groups",
                direction="closer_to_0",
                group_sizes=sizes,
                worst_group=labels[int(np.nanargmax(e))],
                **common,
            )
        )
    return out
