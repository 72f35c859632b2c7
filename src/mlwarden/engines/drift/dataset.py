"""Dataset-level drift: every column of two profiles, Benjamini–Hochberg, calibrated thresholds."""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import reduce
from typing import Any

import numpy as np
import pandas as pd

from mlwarden.errors import ValidationError

from ..profile import ColumnProfile, Profile, profile
from ..profile._inputs import chunk_source
from ._result import DriftResult
from .detect import DEFAULT_METHODS, detect
from .methods import METHODS, P_VALUE_METHODS, prepare


def benjamini_hochberg(p_values: Sequence[float] | np.ndarray) -> np.ndarray:
    """BH-adjusted p-values (q-values), shape (m,) like the input; same as scipy's
    ``false_discovery_control(p, method="bh")``."""
    p = np.asarray(p_values, dtype=np.float64)
    if p.ndim != 1:
        raise ValidationError("p-values must be 1-D")
    if p.size == 0:
        return p.copy()
    if np.isnan(p).any() or (p < 0).any() or (p > 1).any():
        raise ValidationError("p-values must lie in [0, 1]")
    m = p.size
    order = np.argsort(p, kind="stable")
    scaled = p[order] * m / np.arange(1, m + 1)
    # step-up: each adjusted value is the minimum over itself and every larger p-value's
    adjusted = np.minimum.accumulate(scaled[::-1])[::-1]
    out = np.empty(m)
    out[order] = np.minimum(adjusted, 1.0)
    return out


@dataclass(frozen=True)
class DatasetDrift:
    """Per-column drift results and the dataset verdict.

    ``share_drifted`` = drifted columns / compared columns; ``dataset_drifted`` when that share is
    at least ``drift_share``. Every result carries its BH-adjusted p-value.
    """

    results: tuple[DriftResult, ...]
    n_columns: int
    n_drifted: int
    share_drifted: float
    dataset_drifted: bool
    drift_share: float
    fdr: float
    skipped: dict[str, str] = field(default_factory=dict)

    def __getitem__(self, column: str) -> DriftResult:
        for r in self.results:
            if r.column == column:
                return r
        raise ValidationError(f"no drift result for column {column!r}", column=column)

    @property
    def drifted_columns(self) -> list[str]:
        return [str(r.column) for r in self.results if r.drifted]

    def to_dict(self) -> dict[str, Any]:
        """JSON-serializable summary (evidence, API responses)."""
        return {
            "n_columns": self.n_columns,
            "n_drifted": self.n_drifted,
            "share_drifted": self.share_drifted,
            "dataset_drifted": self.dataset_drifted,
            "drift_share": self.drift_share,
            "fdr": self.fdr,
            "drifted_columns": self.drifted_columns,
            "columns": {str(r.column): r.to_dict() for r in self.results},
            "skipped": dict(self.skipped),
        }

    def to_frame(self) -> pd.DataFrame:
        """One row per column: method, statistic, threshold, drifted, p-values, sizes."""
        rows = [{k: v for k, v in r.to_dict().items() if k != "details"} for r in self.results]
        cols = [f.name for f in dataclasses.fields(DriftResult) if f.name != "details"]
        return pd.DataFrame(rows, columns=cols).set_index("column")


def _as_profiles(ref: Any, cur: Any) -> tuple[Profile, Profile]:
    if not isinstance(ref, Profile):
        ref = profile(ref, reference=True)
    if not isinstance(cur, Profile):
        cur = profile(cur, bins_from=ref)
    return ref, cur


def compare(
    ref: Profile | Any,
    cur: Profile | Any,
    *,
    overrides: dict[str, dict[str, Any]] | None = None,
    fdr: float = 0.05,
    drift_share: float = 0.5,
    columns: Sequence[str] | None = None,
    bins: int = 10,
) -> DatasetDrift:
    """Drift of every shared column between a reference and a current profile.

    ``overrides`` maps a column to ``{"method": ..., "threshold": ...}`` (either key optional;
    ``calibrate_thresholds`` returns this shape). Columns decided by a test (``ks``,
    ``chi_square``) are decided on their BH-adjusted p-value against their threshold, which
    defaults to ``fdr``, so the false-discovery rate over all tested columns stays at ``fdr``.
    Raw data are profiled first (``ref`` as a reference, ``cur`` in its bins).
    """
    if not 0 < fdr < 1 or not 0 < drift_share <= 1:
        raise ValidationError("fdr must be in (0, 1) and drift_share in (0, 1]")
    ref, cur = _as_profiles(ref, cur)
    overrides = dict(overrides or {})
    names = list(columns) if columns is not None else [c for c in ref.columns if c in cur]
    unknown = [c for c in list(overrides) + names if c not in ref or c not in cur]
    if unknown:
        raise ValidationError(f"columns not in both profiles: {sorted(set(unknown))}")
    results: list[DriftResult] = []
    skipped: dict[str, str] = {}
    if columns is None:  # schema changes are worth reporting, not silently dropping
        skipped.update({c: "missing from current" for c in ref.columns if c not in cur})
        skipped.update({c: "not in reference" for c in cur.columns if c not in ref})
    for name in names:
        a, b = ref[name], cur[name]
        if a.n_ == 0 or b.n_ == 0 or a.kind is None or b.kind is None:
            skipped[name] = "no non-null values on one side"
            continue
        if a.kind != b.kind:
            skipped[name] = f"kind changed: {a.kind} -> {b.kind}"
            continue
        ov = overrides.get(name, {})
        method = ov.get("method")
        if method in P_VALUE_METHODS and "threshold" not in ov:
            ov = {**ov, "threshold": fdr}
        results.append(
            detect(a, b, method=method, threshold=ov.get("threshold"), bins=bins, column=name)
        )
    results = _adjust(results, fdr, overrides)
    n_drifted = sum(bool(r.drifted) for r in results)
    share = n_drifted / len(results) if results else 0.0
    return DatasetDrift(
        results=tuple(results),
        n_columns=len(results),
        n_drifted=n_drifted,
        share_drifted=share,
        dataset_drifted=bool(results) and share >= drift_share,
        drift_share=drift_share,
        fdr=fdr,
        skipped=skipped,
    )


def _adjust(results: list[DriftResult], fdr: float, overrides: dict) -> list[DriftResult]:
    tested = [i for i, r in enumerate(results) if r.p_value is not None]
    adjusted = benjamini_hochberg([results[i].p_value for i in tested])  # type: ignore[misc]
    out = list(results)
    for i, q in zip(tested, adjusted.tolist(), strict=True):
        r = results[i]
        changes: dict[str, Any] = {"p_value_adjusted": q}
        if r.method in P_VALUE_METHODS:
            # a test decides on its BH-adjusted p-value; default level is the FDR
            level = overrides.get(str(r.column), {}).get("threshold")
            level = fdr if level is None else level
            changes.update(threshold=float(level), drifted=q < level)
        out[i] = dataclasses.replace(r, **changes)
    return out


def _chunk_profiles(data: Any, n_chunks: int, kw: dict[str, Any]) -> list[Profile]:
    if isinstance(data, Sequence) and data and all(isinstance(p, Profile) for p in data):
        return list(data)
    n = None
    if hasattr(data, "__len__") and not isinstance(data, str | list | tuple):
        n = len(data)
    elif isinstance(data, str):
        import pyarrow.parquet as pq

        n = pq.ParquetFile(data).metadata.num_rows
    if n is None:  # an iterator or a list of chunks: each chunk is one reference slice
        source, _ = chunk_source(data, kw.get("columns"))
        return [profile(chunk, reference=True, **kw) for chunk in source()]
    rows = max(math.ceil(n / n_chunks), 1)
    source, _ = chunk_source(data, kw.get("columns"), chunk_rows=rows)
    return [profile(chunk, reference=True, **kw) for chunk in source()]


def _merge_all(cols: list[ColumnProfile]) -> ColumnProfile:
    return reduce(lambda a, b: a.merge(b), cols)


def calibrate_thresholds(
    reference: Any,
    n_chunks: int = 10,
    k: float = 3.0,
    *,
    methods: dict[str, str] | None = None,
    bins: int = 10,
    **profile_kw: Any,
) -> dict[str, dict[str, Any]]:
    """Per-column thresholds from the reference's own variability.

    Splits ``reference`` (data, or a list of chunk Profiles) into ``n_chunks`` slices, computes
    each column's default effect-size statistic (or ``methods[column]``) between each slice and
    the merge of the other slices, and sets ``threshold = mean + k * std`` (std with ddof=1).
    The result plugs into ``compare(..., overrides=...)``. Thresholds suit current windows about
    one slice in size.
    """
    if n_chunks < 2 or k < 0:
        raise ValidationError("n_chunks must be >= 2 and k >= 0")
    chunks = _chunk_profiles(reference, n_chunks, profile_kw)
    if len(chunks) < 2:
        raise ValidationError("calibration needs at least two reference chunks")
    methods = dict(methods or {})
    out: dict[str, dict[str, Any]] = {}
    for name in chunks[0].columns:
        cols = [c[name] for c in chunks if name in c and c[name].n_ > 0]
        kinds = {c.kind for c in cols}
        if len(cols) < 2 or len(kinds) != 1:
            continue
        method = methods.get(name) or DEFAULT_METHODS[str(kinds.pop())]["method"]
        if method not in METHODS or method in P_VALUE_METHODS:
            raise ValidationError(f"calibrate an effect-size method, not {method!r}")
        # leave one out: each slice against the merge of the others, like a current window
        # against a (larger) reference; the statistics are then close to independent
        stats = np.array(
            [
                METHODS[method](prepare(_merge_all(cols[:i] + cols[i + 1 :]), c), bins).statistic
                for i, c in enumerate(cols)
            ]
        )
        mean, std = float(stats.mean()), float(stats.std(ddof=1)) if len(stats) > 1 else 0.0
        out[name] = {
            "method": method,
            "threshold": mean + k * std,
            "mean": mean,
            "std": std,
            "n_chunks": len(stats),
        }
    return out
