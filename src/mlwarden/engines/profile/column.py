"""One column's mergeable summary: exact counts and moments plus DataSketches sketches.

A :class:`ColumnProfile` is built chunk by chunk with :meth:`ColumnProfile.partial_fit` and two
of them combine with :meth:`ColumnProfile.merge`. Exact parts (counts, type counts, min, max,
category counts below the cap, histogram counts in fixed edges) merge exactly, so profiling
chunks and merging equals profiling the whole. Moments use Chan et al.'s parallel update, exact
up to floating-point rounding. Quantiles (KLL), frequent items and distinct counts (HLL) carry
the documented error of their sketch.
"""

from __future__ import annotations

import math
from typing import Any

import datasketches as ds
import numpy as np
import pandas as pd

from mlwarden.errors import ValidationError

from . import _hll
from ._common import (
    CATEGORICAL,
    DEFAULT_KLL_K,
    NUMERIC,
    TYPES,
    b64,
    bin_counts,
    finite_or_none,
    kind_of,
    kll_items,
    numeric_values,
    python_type,
    unb64,
)

__all__ = ["CATEGORICAL", "DEFAULT_KLL_K", "NUMERIC", "ColumnProfile", "bin_counts", "kind_of"]

QUANTILE_KEYS = ("p01", "p05", "p25", "p50", "p75", "p95", "p99")

_NO_FALSE_NEG = ds.frequent_items_error_type.NO_FALSE_NEGATIVES


class ColumnProfile:
    """Summary of one column over every chunk seen.

    Parameters
    ----------
    name : column name.
    kind : ``"numeric"``, ``"categorical"`` or ``None`` (decided by the first non-null chunk).
    kll_k : KLL accuracy parameter; single-rank error ~0.3 % at 1000 (1.3 % at 200), 99 % conf.
    categorical_cap : distinct categories counted exactly before switching to frequent items.

    Learned state (trailing underscore): ``count_``, ``null_count_``, ``type_counts_``, and for
    numeric columns ``n_``, ``n_finite_``, ``min_``, ``max_``, ``mean_``, ``m2_``, ``kll_``,
    ``edges_`` / ``bin_counts_`` (fixed histogram); for categorical ``counts_`` (exact dict, or
    ``None`` once over the cap) and ``frequent_`` (a ``frequent_strings_sketch``); ``hll_``.
    """

    def __init__(
        self,
        name: str,
        *,
        kind: str | None = None,
        kll_k: int = DEFAULT_KLL_K,
        categorical_cap: int = 1000,
    ) -> None:
        self.name = name
        self.kind = kind
        self.kll_k = kll_k
        self.categorical_cap = categorical_cap
        self.count_ = 0
        self.null_count_ = 0
        self.type_counts_ = dict.fromkeys(TYPES, 0)
        self.n_ = 0
        self.n_finite_ = 0
        self.min_ = math.inf
        self.max_ = -math.inf
        self.mean_ = 0.0
        self.m2_ = 0.0
        self.kll_: ds.kll_doubles_sketch | None = None
        self.edges_: np.ndarray | None = None
        self.bin_counts_: np.ndarray | None = None
        self.bins_exact_ = True
        self.counts_: dict[str, int] | None = {}
        self.frequent_: ds.frequent_strings_sketch | None = None
        self.hll_ = _hll.new_registers()

    # ------------------------------------------------------------------ building
    def _lg_map_size(self) -> int:
        # frequent-items map holds 0.75 * 2**lg items: keep at least the cap's worth
        return max(6, math.ceil(math.log2(self.categorical_cap / 0.75)) + 1)

    @classmethod
    def from_counts(
        cls,
        name: str,
        counts: dict[str, int],
        *,
        null_count: int = 0,
        kll_k: int = DEFAULT_KLL_K,
        categorical_cap: int = 1000,
    ) -> ColumnProfile:
        """A categorical profile of ``counts`` (category -> rows) plus ``null_count`` null rows:
        a column derived category by category from another (a masked reference profile)."""
        out = cls(name, kind=CATEGORICAL, kll_k=kll_k, categorical_cap=categorical_cap)
        kept = {str(k): int(c) for k, c in counts.items() if c > 0}
        keys = list(kept)
        values = np.fromiter(kept.values(), np.int64, len(keys))
        n_valid = int(values.sum())
        out.count_ = n_valid + int(null_count)
        out.null_count_ = int(null_count)
        out.n_ = n_valid
        out.type_counts_["string"] = n_valid
        if keys:
            _hll.update(out.hll_, _hll.hash_strings(pd.Index(keys)))
            out._add_counts(keys, values)
        return out

    def set_edges(self, edges: np.ndarray) -> ColumnProfile:
        """Fix histogram edges, shape (b + 1,) from -inf to +inf; counts start at zero."""
        self.edges_ = np.asarray(edges, dtype=np.float64)
        self.bin_counts_ = np.zeros(len(self.edges_) - 1, dtype=np.int64)
        self.bins_exact_ = True
        return self

    def partial_fit(self, values: pd.Series) -> ColumnProfile:
        """Fold one chunk of this column, a pandas Series of shape (n,), into the summary."""
        n = len(values)
        kind = kind_of(values) if n else None
        self.count_ += n
        if kind is None:  # all null (or empty): counts only, kind stays open
            self.null_count_ += int(values.isna().sum()) if n else 0
            return self
        if self.kind is None:
            self.kind = kind
        elif self.kind != kind:
            raise ValidationError(
                f"column {self.name!r} is {self.kind} in earlier data but {kind} "
                f"(dtype {values.dtype}) in this chunk",
                column=self.name,
            )
        if kind == NUMERIC:
            self._fit_numeric(values)
        else:
            self._fit_categorical(values)
        return self

    def _fit_numeric(self, values: pd.Series) -> None:
        v, n_null, type_key = numeric_values(values)
        self.null_count_ += n_null
        self.type_counts_[type_key] += len(v)
        if not len(v):
            return
        self.n_ += len(v)
        self.min_ = min(self.min_, float(v.min()))
        self.max_ = max(self.max_, float(v.max()))
        finite = np.isfinite(v)
        fv = v if finite.all() else v[finite]
        if len(fv):
            mean = float(fv.mean())
            self._merge_moments(len(fv), mean, float(np.square(fv - mean).sum()))
        if self.kll_ is None:
            self.kll_ = ds.kll_doubles_sketch(self.kll_k)
        if not (v.flags.writeable and v.flags.c_contiguous):
            v = v.copy()  # pandas copy-on-write hands out read-only views; nanobind refuses them
        self.kll_.update(v)
        _hll.update(self.hll_, _hll.hash_floats(v))
        if self.edges_ is not None:
            self.bin_counts_ += bin_counts(v, self.edges_)

    def _merge_moments(self, n_b: int, mean_b: float, m2_b: float) -> None:
        n_a, mean_a = self.n_finite_, self.mean_
        n = n_a + n_b
        delta = mean_b - mean_a
        # weighted mean instead of mean_a + delta*n_b/n: the same either way round (commutative)
        self.mean_ = (n_a * mean_a + n_b * mean_b) / n
        self.m2_ = self.m2_ + m2_b + delta * delta * n_a * n_b / n
        self.n_finite_ = n

    def _fit_categorical(self, values: pd.Series) -> None:
        dtype = values.dtype
        inferred = ""
        if dtype is np.dtype(object):
            inferred = pd.api.types.infer_dtype(values, skipna=True)
        if inferred.startswith("mixed"):
            # Python says True == 1, so value_counts would fold them into one key: count the
            # string forms instead, and type each row (only for mixed-type object columns)
            valid = values.dropna()
            types = valid.map(type)
            for t, total in types.value_counts(sort=False).items():
                self.type_counts_[python_type(t)] += int(total)
            vc = valid.astype(str).value_counts(sort=False)
        else:
            vc = values.value_counts(dropna=True, sort=False)
            vc = vc[vc > 0]  # a pandas category dtype lists unused categories with zero
        n_valid = int(vc.sum())
        self.null_count_ += len(values) - n_valid
        self.n_ += n_valid
        if inferred.startswith("mixed"):
            pass
        elif pd.api.types.is_bool_dtype(dtype) or inferred == "boolean":
            self.type_counts_["bool"] += n_valid
        elif inferred == "string" or (
            pd.api.types.is_string_dtype(dtype) and dtype is not np.dtype(object)
        ):
            self.type_counts_["string"] += n_valid
        else:  # homogeneous object or category column: type each *distinct* value once
            kinds = np.array([python_type(type(v)) for v in vc.index], dtype=object)
            for key, total in pd.Series(vc.to_numpy()).groupby(kinds).sum().items():
                self.type_counts_[str(key)] += int(total)
        keys = vc.index.astype(str)
        counts = vc.to_numpy(dtype=np.int64)
        _hll.update(self.hll_, _hll.hash_strings(keys))
        self._add_counts(keys, counts)

    def _add_counts(self, keys: Any, counts: np.ndarray) -> None:
        if self.counts_ is not None:
            merged = dict(self.counts_)
            for key, c in zip(keys, counts.tolist(), strict=True):
                merged[key] = merged.get(key, 0) + c
            if len(merged) <= self.categorical_cap:
                self.counts_ = merged
                return
            self._to_sketch()
        assert self.frequent_ is not None
        # one call per distinct value in the chunk (never per row)
        for key, c in zip(keys, counts.tolist(), strict=True):
            self.frequent_.update(str(key), int(c))

    def _to_sketch(self) -> None:
        sketch = ds.frequent_strings_sketch(self._lg_map_size())
        for key, c in (self.counts_ or {}).items():
            sketch.update(key, int(c))
        self.frequent_ = sketch
        self.counts_ = None

    # ------------------------------------------------------------------ merging
    def merge(self, other: ColumnProfile) -> ColumnProfile:
        """A new profile summarising both inputs' rows; neither input changes."""
        if self.kind and other.kind and self.kind != other.kind:
            raise ValidationError(
                f"cannot merge column {self.name!r}: {self.kind} with {other.kind}",
                column=self.name,
            )
        out = ColumnProfile.from_state(self.to_state())
        out.kind = self.kind or other.kind
        out.count_ += other.count_
        out.null_count_ += other.null_count_
        out.n_ += other.n_
        for key in TYPES:
            out.type_counts_[key] += other.type_counts_[key]
        out.min_ = min(self.min_, other.min_)
        out.max_ = max(self.max_, other.max_)
        if other.n_finite_:
            if out.n_finite_:
                out._merge_moments(other.n_finite_, other.mean_, other.m2_)
            else:
                out.n_finite_, out.mean_, out.m2_ = other.n_finite_, other.mean_, other.m2_
        if other.kll_ is not None:
            if out.kll_ is None:
                out.kll_ = ds.kll_doubles_sketch.deserialize(other.kll_.serialize())
            else:
                out.kll_.merge(other.kll_)
        out.hll_ = _hll.merge(self.hll_, other.hll_)
        out._merge_bins(self, other)
        if other.counts_ is not None:
            if other.counts_:
                keys = list(other.counts_)
                out._add_counts(keys, np.fromiter(other.counts_.values(), np.int64, len(keys)))
        else:
            if out.counts_ is not None:
                out._to_sketch()
            assert out.frequent_ is not None and other.frequent_ is not None
            out.frequent_.merge(other.frequent_)
        return out

    def _merge_bins(self, a: ColumnProfile, b: ColumnProfile) -> None:
        if a.edges_ is None and b.edges_ is None:
            return
        if a.edges_ is not None and b.edges_ is not None and np.array_equal(a.edges_, b.edges_):
            assert a.bin_counts_ is not None and b.bin_counts_ is not None
            self.edges_ = a.edges_.copy()
            self.bin_counts_ = a.bin_counts_ + b.bin_counts_
            self.bins_exact_ = a.bins_exact_ and b.bins_exact_
            return
        # one side has no (or different) edges: its rows cannot be placed, so drop the
        # histogram; histogram() then falls back to the merged KLL sketch
        if (a.edges_ is None and a.n_ == 0) or (b.edges_ is None and b.n_ == 0):
            src = a if a.edges_ is not None else b
            assert src.edges_ is not None and src.bin_counts_ is not None
            self.edges_, self.bin_counts_ = src.edges_.copy(), src.bin_counts_.copy()
            self.bins_exact_ = src.bins_exact_
            return
        self.edges_ = self.bin_counts_ = None

    # ------------------------------------------------------------------ queries
    @property
    def variance_(self) -> float:
        """Population variance (ddof=0) of the finite values; NaN when there are none."""
        return self.m2_ / self.n_finite_ if self.n_finite_ else math.nan

    @property
    def std_(self) -> float:
        return math.sqrt(self.variance_)

    @property
    def rank_error(self) -> float:
        """KLL single-rank error at 99 % confidence (0 while the sketch is exact)."""
        if self.kll_ is None or not self.kll_.is_estimation_mode():
            return 0.0
        return float(self.kll_.normalized_rank_error(False))

    def _require_numeric(self, what: str) -> ds.kll_doubles_sketch:
        if self.kind != NUMERIC or self.kll_ is None:
            raise ValidationError(
                f"{what} needs a numeric column with values; {self.name!r} is {self.kind}",
                column=self.name,
            )
        return self.kll_

    def quantile(self, q: float | np.ndarray) -> float | np.ndarray:
        """Approximate quantile(s) from the KLL sketch; ``q`` scalar or shape (m,) in [0, 1]."""
        kll = self._require_numeric("quantile")
        qs = np.atleast_1d(np.asarray(q, dtype=np.float64))
        if ((qs < 0) | (qs > 1)).any():
            raise ValidationError("quantile levels must lie in [0, 1]", q=str(q))
        out = np.asarray(kll.get_quantiles(qs.tolist()), dtype=np.float64)
        return float(out[0]) if np.ndim(q) == 0 else out

    def cdf(self, x: np.ndarray, inclusive: bool = True) -> np.ndarray:
        """Approximate P(X <= x) (or P(X < x) when not ``inclusive``), shape (m,) for x (m,)."""
        kll = self._require_numeric("cdf")
        xs = np.atleast_1d(np.asarray(x, dtype=np.float64))
        return np.array([kll.get_rank(float(v), inclusive) for v in xs])

    def sample(self) -> tuple[np.ndarray, np.ndarray]:
        """KLL's retained items and weights, shapes (r,), (r,): a weighted stand-in sample."""
        kll = self._require_numeric("sample")
        # parsed once per state: compare() asks for it twice per column
        cached = self.__dict__.get("_sample")
        if cached is None or cached[0] != kll.n:
            parsed = kll_items(kll.serialize(), kll.n)
            if parsed is None:
                pairs = np.array(list(kll), dtype=np.float64).reshape(-1, 2)
                parsed = pairs[:, 0], pairs[:, 1]
            cached = self.__dict__["_sample"] = (kll.n, *parsed)
        return cached[1], cached[2]

    def reference_edges(self, bins: int = 10) -> np.ndarray:
        """Bin edges, shape (b + 1,): -inf, deduplicated interior quantiles, +inf."""
        if bins < 1:
            raise ValidationError("bins must be at least 1", bins=bins)
        inner = np.asarray(self.quantile(np.linspace(0, 1, bins + 1)[1:-1]), dtype=np.float64)
        inner = np.unique(inner[np.isfinite(inner)])
        return np.concatenate([[-np.inf], inner, [np.inf]])

    def histogram(self, bins: int = 10) -> tuple[np.ndarray, np.ndarray]:
        """Numeric: (edges (b+1,), counts (b,)); categorical: (categories (c,), counts (c,)).

        Numeric counts are exact when the profile has fixed edges; otherwise ``bins`` equal-width
        bins between min and max are estimated from the KLL CDF.
        """
        if self.kind == CATEGORICAL:
            items = self.category_counts()
            return np.array(list(items), dtype=object), np.array(list(items.values()))
        if self.edges_ is not None and self.bin_counts_ is not None:
            return self.edges_.copy(), self.bin_counts_.copy()
        self._require_numeric("histogram")
        edges = np.linspace(self.min_, self.max_, bins + 1)
        return edges, self.counts_in(edges)

    def counts_in(self, edges: np.ndarray) -> np.ndarray:
        """Counts in ``edges`` (shape (b+1,)): exact if they are this profile's edges, else KLL."""
        if (
            self.edges_ is not None
            and self.bin_counts_ is not None
            and np.array_equal(self.edges_, edges)
        ):
            return self.bin_counts_.astype(np.float64)
        kll = self._require_numeric("binning")
        inner = [float(e) for e in edges[1:-1]]
        # left-closed bins [e_i, e_i+1) like np.searchsorted(side="right"): rank excludes e
        cum = np.concatenate([[0.0], kll.get_cdf(inner, False)[:-1], [1.0]]) if inner else None
        if cum is None:
            return np.array([float(self.n_)])
        return np.diff(cum) * self.n_

    def category_counts(self, top: int | None = None) -> dict[str, int]:
        """Category → count, most frequent first: exact under the cap, else sketch estimates."""
        if self.counts_ is not None:
            items = sorted(self.counts_.items(), key=lambda kv: (-kv[1], kv[0]))
        else:
            assert self.frequent_ is not None
            items = [(k, int(e)) for k, e, _, _ in self.frequent_.get_frequent_items(_NO_FALSE_NEG)]
        return dict(items[:top] if top else items)

    @property
    def categories_exact(self) -> bool:
        return self.counts_ is not None

    def distinct_count(self) -> float:
        """Exact for categorical columns under the cap, else the HLL estimate (±1.6 %)."""
        if self.kind == CATEGORICAL and self.counts_ is not None:
            return float(len(self.counts_))
        return round(float(_hll.estimate(self.hll_)), 1) if self.n_ else 0.0

    # ------------------------------------------------------------------ serialization
    def to_state(self) -> dict[str, Any]:
        """Full state as JSON-able data: exact parts as numbers and lists, sketches as base64
        of their own DataSketches serialization, HLL registers as base64 bytes. Never pickle."""
        return {
            "name": self.name,
            "kind": self.kind,
            "kll_k": self.kll_k,
            "categorical_cap": self.categorical_cap,
            "count": self.count_,
            "null_count": self.null_count_,
            "type_counts": dict(self.type_counts_),
            "n": self.n_,
            "n_finite": self.n_finite_,
            "min": self.min_ if self.n_ else None,
            "max": self.max_ if self.n_ else None,
            "mean": self.mean_,
            "m2": self.m2_,
            "kll": b64(self.kll_.serialize()) if self.kll_ is not None else None,
            "edges": self.edges_.tolist() if self.edges_ is not None else None,
            "bin_counts": self.bin_counts_.tolist() if self.bin_counts_ is not None else None,
            "bins_exact": self.bins_exact_,
            "counts": self.counts_,
            "frequent": b64(self.frequent_.serialize()) if self.frequent_ is not None else None,
            "hll": b64(self.hll_.tobytes()),
        }

    @classmethod
    def from_state(cls, s: dict[str, Any]) -> ColumnProfile:
        out = cls(s["name"], kind=s["kind"], kll_k=s["kll_k"], categorical_cap=s["categorical_cap"])
        out.count_, out.null_count_ = s["count"], s["null_count"]
        out.type_counts_ = {k: int(s["type_counts"].get(k, 0)) for k in TYPES}
        out.n_, out.n_finite_ = s["n"], s["n_finite"]
        out.min_ = math.inf if s["min"] is None else float(s["min"])
        out.max_ = -math.inf if s["max"] is None else float(s["max"])
        out.mean_, out.m2_ = float(s["mean"]), float(s["m2"])
        if s["kll"] is not None:
            out.kll_ = ds.kll_doubles_sketch.deserialize(unb64(s["kll"]))
        if s["edges"] is not None:
            out.edges_ = np.asarray(s["edges"], dtype=np.float64)
            out.bin_counts_ = np.asarray(s["bin_counts"], dtype=np.int64)
        out.bins_exact_ = bool(s["bins_exact"])
        out.counts_ = dict(s["counts"]) if s["counts"] is not None else None
        if s["frequent"] is not None:
            out.frequent_ = ds.frequent_strings_sketch.deserialize(unb64(s["frequent"]))
        out.hll_ = np.frombuffer(unb64(s["hll"]), dtype=np.uint8).copy()
        return out

    def __reduce__(self) -> tuple[Any, ...]:
        # sketches do not pickle; Dask ships column profiles through their own state
        return (ColumnProfile.from_state, (self.to_state(),))

    def summary(self, top: int = 20) -> dict[str, Any]:
        """Readable JSON-serializable summary (no sketch bytes)."""
        out: dict[str, Any] = {
            "kind": self.kind,
            "count": self.count_,
            "null_count": self.null_count_,
            "type_counts": dict(self.type_counts_),
            "distinct": float(self.distinct_count()),
        }
        if self.kind == NUMERIC and self.n_:
            qs = self.quantile(np.array([0.01, 0.05, 0.25, 0.5, 0.75, 0.95, 0.99]))
            assert isinstance(qs, np.ndarray)
            out.update(
                min=finite_or_none(self.min_),
                max=finite_or_none(self.max_),
                mean=self.mean_ if self.n_finite_ else None,
                std=self.std_ if self.n_finite_ else None,
                quantiles={
                    k: finite_or_none(v) for k, v in zip(QUANTILE_KEYS, qs.tolist(), strict=True)
                },
                rank_error=self.rank_error,
            )
            if self.edges_ is not None and self.bin_counts_ is not None:
                edges = [None if not math.isfinite(e) else e for e in self.edges_.tolist()]
                out["histogram"] = {"edges": edges, "counts": self.bin_counts_.tolist()}
        elif self.kind == CATEGORICAL:
            out["top"] = self.category_counts(top)
            out["categories_exact"] = self.categories_exact
        return out

    def __repr__(self) -> str:
        return f"ColumnProfile({self.name!r}, kind={self.kind}, count={self.count_})"
