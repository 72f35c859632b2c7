"""Serialization and readable summaries of a ColumnProfile (kept apart to keep column.py short).

The state is JSON-able: exact parts as numbers and lists, sketches as base64 of their own
DataSketches serialization, HLL registers as base64 bytes. Never pickle.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import datasketches as ds
import numpy as np

from ._common import CATEGORICAL, NUMERIC, TYPES, b64, finite_or_none, unb64

if TYPE_CHECKING:
    from .column import ColumnProfile

QUANTILE_KEYS = ("p01", "p05", "p25", "p50", "p75", "p95", "p99")


def to_state(col: ColumnProfile) -> dict[str, Any]:
    """Full state as JSON-able data (sketches as base64 bytes)."""
    return {
        "name": col.name,
        "kind": col.kind,
        "kll_k": col.kll_k,
        "categorical_cap": col.categorical_cap,
        "count": col.count_,
        "null_count": col.null_count_,
        "type_counts": dict(col.type_counts_),
        "n": col.n_,
        "n_finite": col.n_finite_,
        "min": col.min_ if col.n_ else None,
        "max": col.max_ if col.n_ else None,
        "mean": col.mean_,
        "m2": col.m2_,
        "kll": b64(col.kll_.serialize()) if col.kll_ is not None else None,
        "edges": col.edges_.tolist() if col.edges_ is not None else None,
        "bin_counts": col.bin_counts_.tolist() if col.bin_counts_ is not None else None,
        "bins_exact": col.bins_exact_,
        "counts": col.counts_,
        "frequent": b64(col.frequent_.serialize()) if col.frequent_ is not None else None,
        "hll": b64(col.hll_.tobytes()),
    }


def load_state(out: ColumnProfile, s: dict[str, Any]) -> ColumnProfile:
    """Fill a fresh ``out`` from ``to_state`` data."""
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


def summary(col: ColumnProfile, top: int = 20) -> dict[str, Any]:
    """Readable JSON-serializable summary (no sketch bytes)."""
    out: dict[str, Any] = {
        "kind": col.kind,
        "count": col.count_,
        "null_count": col.null_count_,
        "type_counts": dict(col.type_counts_),
        "distinct": float(col.distinct_count()),
    }
    if col.kind == NUMERIC and col.n_:
        qs = col.quantile(np.array([0.01, 0.05, 0.25, 0.5, 0.75, 0.95, 0.99]))
        assert isinstance(qs, np.ndarray)
        out.update(
            min=finite_or_none(col.min_),
            max=finite_or_none(col.max_),
            mean=col.mean_ if col.n_finite_ else None,
            std=col.std_ if col.n_finite_ else None,
            quantiles={
                k: finite_or_none(v) for k, v in zip(QUANTILE_KEYS, qs.tolist(), strict=True)
            },
            rank_error=col.rank_error,
        )
        if col.edges_ is not None and col.bin_counts_ is not None:
            edges = [None if not math.isfinite(e) else e for e in col.edges_.tolist()]
            out["histogram"] = {"edges": edges, "counts": col.bin_counts_.tolist()}
    elif col.kind == CATEGORICAL:
        out["top"] = col.category_counts(top)
        out["categories_exact"] = col.categories_exact
    return out
