"""Choose a drift method for a column and decide whether it drifted.

Warden alerts on *effect size*, not on p-values: with a million rows every p-value is tiny, so
a test flags shifts nobody cares about. The p-value is still reported beside the effect size.
Only small samples, where effect sizes are noisy, fall back to a significance test.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from mlwarden.errors import ValidationError

from ._result import DriftResult
from .methods import METHODS, NUMERIC, P_VALUE_METHODS, Pair, prepare

SMALL_SAMPLE = 1000
"""Below this many non-null rows on either side, defaults switch to a p-value test."""

DEFAULT_METHODS: dict[str, dict[str, Any]] = {
    "numeric": {"method": "wasserstein", "threshold": 0.1, "p_value": "ks"},
    "categorical": {"method": "jensen_shannon", "threshold": 0.1, "p_value": "chi_square"},
    "numeric_small": {"method": "ks", "threshold": 0.05, "p_value": "ks"},
    "categorical_small": {"method": "chi_square", "threshold": 0.05, "p_value": "chi_square"},
}
"""Default per column kind (``_small``: fewer than SMALL_SAMPLE rows on either side).

``method`` decides drift with ``threshold`` (statistic >= threshold for effect sizes, p-value <
threshold for tests); ``p_value`` names the test whose p-value is reported beside it.
"""

DEFAULT_THRESHOLDS: dict[str, float] = {
    "wasserstein": 0.1,
    "wasserstein_raw": 0.1,
    "jensen_shannon": 0.1,
    "psi": 0.1,
    "hellinger": 0.1,
    "total_variation": 0.1,
    "ks": 0.05,
    "chi_square": 0.05,
}
"""Threshold used when a method is named without one."""


def default_method(kind: str, n_ref: int, n_cur: int) -> dict[str, Any]:
    """The DEFAULT_METHODS entry for a column of ``kind`` with these sample sizes."""
    small = min(n_ref, n_cur) < SMALL_SAMPLE
    return DEFAULT_METHODS[f"{kind}_small" if small else kind]


def detect(
    ref: Any,
    cur: Any,
    *,
    method: str | None = None,
    threshold: float | None = None,
    bins: int = 10,
    column: str | None = None,
    kind: str | None = None,
) -> DriftResult:
    """Measure drift of one column and decide it against a threshold.

    Parameters
    ----------
    ref, cur : two 1-D arrays (n_ref,), (n_cur,) or two ColumnProfiles.
    method : a name in ``METHODS``; default from ``DEFAULT_METHODS`` by kind and sample size.
    threshold : effect-size cut (drift when statistic >= threshold) or, for ``ks`` and
        ``chi_square``, a significance level (drift when p-value < threshold).
    bins : bins for binned measures on arrays (profiles use the reference's stored edges).
    kind : ``"categorical"`` to treat numeric arrays (e.g. integer class labels) as categories.
    """
    pair = prepare(ref, cur, kind)
    default = default_method(pair.kind, pair.n_ref, pair.n_cur)
    name = method or default["method"]
    if name not in METHODS:
        raise ValidationError(
            f"unknown drift method {name!r}; choose one of {sorted(METHODS)}", method=name
        )
    if threshold is None:
        threshold = default["threshold"] if method is None else DEFAULT_THRESHOLDS[name]
    result = METHODS[name](pair, bins)
    p_method = name if name in P_VALUE_METHODS else _companion_test(pair)
    p_value = result.p_value
    if p_method != name and p_method is not None:
        p_value = METHODS[p_method](pair, bins).p_value
    if name in P_VALUE_METHODS:
        drifted = result.p_value is not None and result.p_value < threshold
    else:
        drifted = result.statistic >= threshold
    return dataclasses.replace(
        result,
        threshold=float(threshold),
        drifted=bool(drifted),
        p_value=p_value,
        p_value_method=p_method,
        column=column if column is not None else result.column,
    )


def _companion_test(pair: Pair) -> str:
    return "ks" if pair.kind == NUMERIC else "chi_square"
