"""Drift statistics between a reference and a current sample, on raw arrays or on profiles.

Every method takes ``(ref, cur)`` as two 1-D arrays (numpy, pandas, polars, pyarrow; nulls are
dropped) or two :class:`~mlwarden.engines.profile.ColumnProfile` objects, and returns a frozen
:class:`DriftResult`. On profiles, binned measures are exact when the current profile was built
with ``bins_from=reference``; KS and Wasserstein use the KLL sketches as weighted samples and
report ``approximate=True`` with an ``error_bound`` (see docs/monitoring.md).

A new method is one function ``(pair, bins) -> DriftResult`` added to :data:`METHODS`.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats
from scipy.special import rel_entr

from mlwarden.errors import ValidationError

from ..profile.column import CATEGORICAL, NUMERIC, ColumnProfile, bin_counts, kind_of
from ._result import DriftResult

PSI_EPS = 1e-4  # empty-bin share used by PSI (Evidently's value), so log(0) never occurs
STD_FLOOR = 1e-3  # normalised Wasserstein divides by max(std_ref, this), as Evidently does
IQR_TO_STD = 1.349  # a normal distribution's interquartile range in standard deviations
HEAVY_TAIL_RATIO = 3.0  # std above this many robust (IQR) scales: the tails dominate the std
TRIM = 0.05  # heavy-tailed columns: the distance between quantile functions on [5 %, 95 %]


@dataclass(frozen=True)
class Pair:
    """Reference and current data prepared once and shared by every method."""

    kind: str
    ref: Any  # np.ndarray (numeric), pd.Series of str (categorical) or ColumnProfile
    cur: Any
    n_ref: int
    n_cur: int
    profiles: bool
    name: str | None = None
    infinite: tuple[int, int] = (0, 0)  # ±inf values left out on each side (numeric only)
    # what several methods of one column share (the sketch CDFs: Wasserstein and its KS)
    memo: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)


def _as_series(x: Any) -> pd.Series:
    if isinstance(x, pd.Series):
        return x
    if isinstance(x, pd.DataFrame):
        raise ValidationError("drift methods take one column, not a DataFrame")
    module = type(x).__module__.split(".")[0]
    if module == "pyarrow" and hasattr(x, "to_pandas"):
        return x.to_pandas()
    if module == "polars" and hasattr(x, "to_pandas"):
        return x.to_pandas()
    arr = np.asarray(x)
    if arr.ndim != 1:
        raise ValidationError(f"drift methods take 1-D data, got shape {arr.shape}")
    return pd.Series(arr)


def _clean(x: Any, side: str, force: str | None = None) -> tuple[str, Any, int]:
    """(kind, values, infinities left out): nulls dropped, numeric as float64 without ±inf."""
    s = _as_series(x)
    kind = kind_of(s) if len(s) else None
    if force == CATEGORICAL and kind is not None:
        kind = CATEGORICAL  # e.g. integer class labels: categories, not magnitudes
    elif force not in (None, CATEGORICAL, NUMERIC):
        raise ValidationError(f"kind must be 'numeric' or 'categorical', not {force!r}")
    s = s.dropna()
    if not len(s) or kind is None:
        raise ValidationError(f"the {side} sample has no non-null values", side=side)
    if kind != NUMERIC:
        return kind, s.astype(str), 0
    if pd.api.types.is_datetime64_any_dtype(s.dtype):
        return kind, s.astype("datetime64[ns]").astype("int64").to_numpy(np.float64) / 1e9, 0
    values = s.to_numpy(dtype=np.float64)
    finite = np.isfinite(values)
    if finite.all():
        return kind, values, 0
    # As profiles do: infinities are counted and reported, never fed to the statistics
    # (one inf turns a Wasserstein distance into NaN and a KS CDF into a step at the edge).
    if not finite.any():
        raise ValidationError(f"the {side} sample has no finite values", side=side)
    return kind, values[finite], int((~finite).sum())


def prepare(ref: Any, cur: Any, kind: str | None = None) -> Pair:
    """Validate and normalise ``(ref, cur)``: both arrays or both column profiles.

    ``kind="categorical"`` treats numeric arrays (integer class labels) as categories; profiles
    keep the kind they were built with (see ``profile(..., categorical=[...])``).
    """
    if isinstance(ref, Pair):
        return ref
    if isinstance(ref, ColumnProfile) != isinstance(cur, ColumnProfile):
        raise ValidationError("compare two ColumnProfiles or two arrays, not one of each")
    if isinstance(ref, ColumnProfile):
        for side, col in (("reference", ref), ("current", cur)):
            if col.kind is None or col.n_ == 0:
                raise ValidationError(
                    f"the {side} profile of {col.name!r} has no non-null values", side=side
                )
        if ref.kind != cur.kind:
            raise ValidationError(f"column {ref.name!r} is {ref.kind} vs {cur.kind}")
        infinite = (0, 0)
        if ref.kind == NUMERIC:
            infinite = (ref.n_ - ref.n_finite_, cur.n_ - cur.n_finite_)
        return Pair(str(ref.kind), ref, cur, ref.n_, cur.n_, True, ref.name, infinite)
    kind_r, r, inf_r = _clean(ref, "reference", kind)
    kind_c, c, inf_c = _clean(cur, "current", kind)
    if kind_r != kind_c:
        raise ValidationError(f"reference is {kind_r} but current is {kind_c}")
    return Pair(kind_r, r, c, len(r), len(c), False, getattr(ref, "name", None), (inf_r, inf_c))


def quantile_edges(values: np.ndarray, bins: int) -> np.ndarray:
    """Edges (b+1,): -inf, unique interior quantiles of ``values`` (n,), +inf."""
    inner = np.unique(np.quantile(values, np.linspace(0, 1, bins + 1)[1:-1]))
    return np.concatenate([[-np.inf], inner[np.isfinite(inner)], [np.inf]])


def binned(pair: Pair, bins: int = 10) -> tuple[np.ndarray, np.ndarray, np.ndarray, bool]:
    """(labels, ref counts, cur counts, approximate) on a shared support.

    Numeric: reference-quantile bins (labels are the b+1 edges). Categorical: the union of
    categories (labels are the category names, plus ``"__other__"`` for the sketch's tail).
    """
    if pair.kind == NUMERIC:
        if not pair.profiles:
            edges = quantile_edges(pair.ref, bins)
            return edges, bin_counts(pair.ref, edges), bin_counts(pair.cur, edges), False
        ref, cur = pair.ref, pair.cur
        edges = ref.edges_ if ref.edges_ is not None else ref.reference_edges(bins)
        exact = all(
            p.edges_ is not None and np.array_equal(p.edges_, edges) and p.bins_exact_
            for p in (ref, cur)
        )
        return edges, ref.counts_in(edges), cur.counts_in(edges), not exact
    if not pair.profiles:
        r = pair.ref.value_counts()
        c = pair.cur.value_counts()
        labels = r.index.union(c.index)
        return (
            np.asarray(labels, dtype=object),
            r.reindex(labels, fill_value=0).to_numpy(np.float64),
            c.reindex(labels, fill_value=0).to_numpy(np.float64),
            False,
        )
    r_counts, c_counts = pair.ref.category_counts(), pair.cur.category_counts()
    exact = pair.ref.categories_exact and pair.cur.categories_exact
    if exact:
        labels = sorted(set(r_counts) | set(c_counts))
    else:
        # Above the exact-count cap a sketch lists only its frequent items. An item listed on
        # one side only has an unknown count on the other, and taking it as 0 inflated the
        # distances (JS twice the exact value on 10k+ categories). So compare the items both
        # sides list, and pool every other row in "__other__" on both sides: a coarsening of
        # the true distributions, which can only lower a divergence (see error_bound).
        labels = sorted(set(r_counts) & set(c_counts))
    r = np.array([r_counts.get(k, 0) for k in labels], dtype=np.float64)
    c = np.array([c_counts.get(k, 0) for k in labels], dtype=np.float64)
    if not exact:
        labels.append(OTHER)
        r = np.append(r, max(pair.n_ref - r.sum(), 0.0))
        c = np.append(c, max(pair.n_cur - c.sum(), 0.0))
    return np.asarray(labels, dtype=object), r, c, not exact


OTHER = "__other__"
"""The pooled category of rows a sketch no longer lists item by item."""


def _result(pair: Pair, method: str, statistic: float, **kw: Any) -> DriftResult:
    if any(pair.infinite):
        reference, current = pair.infinite
        kw["details"] = {
            **kw.get("details", {}),
            "infinite": {"reference": reference, "current": current},
        }
    return DriftResult(
        method=method,
        statistic=float(statistic),
        column=pair.name,
        kind=pair.kind,
        n_ref=pair.n_ref,
        n_cur=pair.n_cur,
        **kw,
    )


def _shares(pair: Pair, bins: int) -> tuple[np.ndarray, np.ndarray, bool]:
    _, r, c, approx = binned(pair, bins)
    return r / r.sum(), c / c.sum(), approx


def _psi(pair: Pair, bins: int = 10) -> DriftResult:
    p, q, approx = _shares(pair, bins)
    p = np.where(p == 0, PSI_EPS, p)
    q = np.where(q == 0, PSI_EPS, q)
    return _result(pair, "psi", np.sum((q - p) * np.log(q / p)), approximate=approx)


def _jensen_shannon(pair: Pair, bins: int = 10) -> DriftResult:
    labels, r, c, approx = binned(pair, bins)
    p, q = r / r.sum(), c / c.sum()
    m = 0.5 * (p + q)
    # same arithmetic as scipy.spatial.distance.jensenshannon(p, q, base=2)
    terms = 0.5 * (rel_entr(p, m) + rel_entr(q, m)) / math.log(2.0)
    js = max(float(terms.sum()), 0.0)
    if not (approx and pair.kind == CATEGORICAL and len(labels) and labels[-1] == OTHER):
        return _result(pair, "jensen_shannon", math.sqrt(js), approximate=approx)
    # The pooled bin hides how its rows split: the true divergence is at least the pooled one
    # and at most that plus half the pooled mass (each category adds at most (p + q) / 2 bits).
    # The midpoint of that interval is reported, with half its width as the error bound.
    lower = math.sqrt(js)
    upper = math.sqrt(max(min(js - float(terms[-1]) + 0.5 * float(p[-1] + q[-1]), 1.0), js))
    return _result(
        pair,
        "jensen_shannon",
        (lower + upper) / 2,
        approximate=True,
        error_bound=(upper - lower) / 2,
        details={
            "lower": lower,
            "upper": upper,
            "pooled_share": {"reference": float(p[-1]), "current": float(q[-1])},
        },
    )


def _hellinger(pair: Pair, bins: int = 10) -> DriftResult:
    p, q, approx = _shares(pair, bins)
    h = math.sqrt(0.5 * float(np.square(np.sqrt(p) - np.sqrt(q)).sum()))
    return _result(pair, "hellinger", h, approximate=approx)


def _total_variation(pair: Pair, bins: int = 10) -> DriftResult:
    p, q, approx = _shares(pair, bins)
    return _result(pair, "total_variation", 0.5 * float(np.abs(p - q).sum()), approximate=approx)


def _chi_square(pair: Pair, bins: int = 10) -> DriftResult:
    _, r, c, approx = binned(pair, bins)
    table = np.vstack([r, c])
    table = table[:, table.sum(axis=0) > 0]
    if table.shape[1] < 2:  # one category on both sides: nothing can differ
        return _result(pair, "chi_square", 0.0, p_value=1.0, approximate=approx)
    res = stats.chi2_contingency(table)
    return _result(
        pair,
        "chi_square",
        res.statistic,
        p_value=float(res.pvalue),
        approximate=approx,
        details={"dof": int(res.dof)},
    )


def _require_numeric(pair: Pair, method: str) -> None:
    if pair.kind != NUMERIC:
        raise ValidationError(f"{method} needs numeric data; this column is categorical")


def _finite_sample(col: ColumnProfile) -> tuple[np.ndarray, np.ndarray]:
    x, w = col.sample()
    finite = np.isfinite(x)
    return (x, w) if finite.all() else (x[finite], w[finite])


def _sketch_cdfs(pair: Pair) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Weighted KLL samples of both sides (finite items) and their CDFs' absolute difference
    on the union of retained items; computed once per pair (never changed by a caller)."""
    cached = pair.memo.get("sketch_cdfs")
    if cached is None:
        xa, wa = _finite_sample(pair.ref)
        xb, wb = _finite_sample(pair.cur)
        grid = np.union1d(xa, xb)
        fa = _weighted_cdf(xa, wa, grid)
        fb = _weighted_cdf(xb, wb, grid)
        cached = pair.memo["sketch_cdfs"] = (xa, wa, xb, wb, np.abs(fa - fb))
    return cached


def _weighted_cdf(x: np.ndarray, w: np.ndarray, grid: np.ndarray) -> np.ndarray:
    order = np.argsort(x, kind="stable")
    cum = np.cumsum(w[order]) / w.sum()
    idx = np.searchsorted(x[order], grid, side="right")
    return np.where(idx > 0, cum[np.maximum(idx - 1, 0)], 0.0)


def _ks(pair: Pair, bins: int = 10) -> DriftResult:
    _require_numeric(pair, "ks")
    if not pair.profiles:
        res = stats.ks_2samp(pair.ref, pair.cur)
        return _result(pair, "ks", res.statistic, p_value=float(res.pvalue))
    bound = pair.ref.rank_error + pair.cur.rank_error
    if bound == 0:
        # Both sketches still hold every value (weight 1 each): the samples are the data, so
        # scipy's exact test applies; the asymptotic law flips decisions on small windows.
        xa, wa = _finite_sample(pair.ref)
        xb, wb = _finite_sample(pair.cur)
        res = stats.ks_2samp(np.repeat(xa, wa.astype(np.int64)), np.repeat(xb, wb.astype(np.int64)))
        return _result(pair, "ks", res.statistic, p_value=float(res.pvalue))
    d = float(_sketch_cdfs(pair)[4].max())
    p = ks_p_value(max(d - bound, 0.0), pair.n_ref, pair.n_cur)
    return _result(
        pair,
        "ks",
        d,
        p_value=p,
        approximate=bound > 0,
        error_bound=bound,
        details={"p_value_at": "statistic - error_bound (conservative)"},
    )


def ks_p_value(d: float, n_ref: int, n_cur: int) -> float:
    """Asymptotic two-sided KS p-value, as scipy's ``ks_2samp(method="asymp")``.

    scipy evaluates ``kstwo.sf(d, round(en))``, which costs ~0.5 s at en = 5e5; above
    en = 10,000 the limiting Kolmogorov law ``kstwobign.sf(sqrt(en) * d)`` is used instead
    (relative difference about 1 %).
    """
    en = n_ref * n_cur / (n_ref + n_cur)
    if en <= 10_000:
        return float(stats.kstwo.sf(d, max(round(en), 1)))
    return float(stats.kstwobign.sf(math.sqrt(en) * d))


def _quantiles(pair: Pair, side: str, levels: np.ndarray) -> np.ndarray:
    col = pair.ref if side == "ref" else pair.cur
    if pair.profiles:
        return np.asarray(col.quantile(levels), dtype=np.float64)
    return np.quantile(col, levels)


def _trimmed_wasserstein(pair: Pair) -> tuple[float, float]:
    """W1 between the quantile functions on [TRIM, 1 - TRIM] (the bulk of both samples), and
    its sketch error bound: each quantile moved by the KLL rank error on either side."""
    levels = np.linspace(TRIM, 1 - TRIM, 197)
    qa, qb = _quantiles(pair, "ref", levels), _quantiles(pair, "cur", levels)
    distance = float(np.mean(np.abs(qa - qb))) * (1 - 2 * TRIM)
    if not pair.profiles:
        return distance, 0.0
    bound = 0.0
    for side, eps in (("ref", pair.ref.rank_error), ("cur", pair.cur.rank_error)):
        if eps > 0:
            lo = _quantiles(pair, side, np.clip(levels - eps, 0, 1))
            hi = _quantiles(pair, side, np.clip(levels + eps, 0, 1))
            bound += float(np.mean(hi - lo)) * (1 - 2 * TRIM)
    return distance, bound


def _wasserstein(pair: Pair, bins: int = 10, normalize: bool = True) -> DriftResult:
    _require_numeric(pair, "wasserstein")
    if pair.profiles:
        xa, wa, xb, wb, _ = _sketch_cdfs(pair)
        raw = stats.wasserstein_distance(xa, xb, wa, wb)
        std = pair.ref.std_
        low, high = min(xa.min(), xb.min()), max(xa.max(), xb.max())
        bound = (pair.ref.rank_error + pair.cur.rank_error) * float(high - low)
    else:
        raw = stats.wasserstein_distance(pair.ref, pair.cur)
        std, bound = float(np.std(pair.ref)), 0.0
    details: dict[str, Any] = {"raw": float(raw), "ref_std": float(std), "normalized": normalize}
    stat, norm = float(raw), 1.0
    if normalize:
        q25, q75 = _quantiles(pair, "ref", np.array([0.25, 0.75]))
        robust = float(q75 - q25) / IQR_TO_STD
        if robust > 0 and std > HEAVY_TAIL_RATIO * robust:
            # Heavy tails: a few extreme values set both the std and the distance, so raw/std
            # stays small whatever the shift (a Cauchy column scaled by 1.5 read 0.016), and a
            # sketch's error on those extremes swamps the value. Measure the bulk instead: W1
            # on the central quantiles, in units of the reference's IQR (as a std).
            stat, bound = _trimmed_wasserstein(pair)
            norm = robust
            details.update(scale="iqr", heavy_tailed=True, trimmed=[TRIM, 1 - TRIM])
        else:
            norm = max(std, STD_FLOOR)
            details["scale"] = "std"
        details["ref_scale"] = float(norm)
    return _result(
        pair,
        "wasserstein" if normalize else "wasserstein_raw",
        stat / norm,
        approximate=bound > 0,
        error_bound=(bound / norm) if bound > 0 else None,
        details=details,
    )


def _wasserstein_raw(pair: Pair, bins: int = 10) -> DriftResult:
    return _wasserstein(pair, bins, normalize=False)


METHODS: dict[str, Callable[..., DriftResult]] = {
    "psi": _psi,
    "jensen_shannon": _jensen_shannon,
    "hellinger": _hellinger,
    "total_variation": _total_variation,
    "chi_square": _chi_square,
    "ks": _ks,
    "wasserstein": _wasserstein,
    "wasserstein_raw": _wasserstein_raw,
}
"""Method name → function ``(pair, bins) -> DriftResult``; the one place to add a method."""

P_VALUE_METHODS = frozenset({"ks", "chi_square"})
"""Methods whose threshold is a significance level: drift when p-value < threshold."""


# ---------------------------------------------------------------------- public functions
def psi(ref: Any, cur: Any, *, bins: int = 10) -> DriftResult:
    """Population stability index sum((q - p) ln(q / p)) on reference-quantile bins/categories."""
    return _psi(prepare(ref, cur), bins)


def jensen_shannon(ref: Any, cur: Any, *, bins: int = 10) -> DriftResult:
    """Jensen–Shannon *distance*, base 2, in [0, 1]: scipy ``jensenshannon(p, q, base=2)``."""
    return _jensen_shannon(prepare(ref, cur), bins)


def hellinger(ref: Any, cur: Any, *, bins: int = 10) -> DriftResult:
    """Hellinger distance sqrt(1/2 · sum (sqrt p - sqrt q)^2), in [0, 1]."""
    return _hellinger(prepare(ref, cur), bins)


def total_variation(ref: Any, cur: Any, *, bins: int = 10) -> DriftResult:
    """Total variation distance 1/2 · sum |p - q|, in [0, 1]."""
    return _total_variation(prepare(ref, cur), bins)


def chi_square(ref: Any, cur: Any, *, bins: int = 10) -> DriftResult:
    """Chi-square homogeneity test on the 2 × k count table (``scipy.stats.chi2_contingency``)."""
    return _chi_square(prepare(ref, cur), bins)


def ks(ref: Any, cur: Any) -> DriftResult:
    """Two-sample Kolmogorov–Smirnov: scipy ``ks_2samp`` on arrays, KLL CDFs on profiles."""
    return _ks(prepare(ref, cur))


def wasserstein(ref: Any, cur: Any, *, normalize: bool = True) -> DriftResult:
    """Earth mover's distance W1; divided by max(reference std, 1e-3) when ``normalize``."""
    return _wasserstein(prepare(ref, cur), normalize=normalize)


__all__ = [
    "CATEGORICAL",
    "METHODS",
    "NUMERIC",
    "P_VALUE_METHODS",
    "chi_square",
    "hellinger",
    "jensen_shannon",
    "ks",
    "psi",
    "total_variation",
    "wasserstein",
]
