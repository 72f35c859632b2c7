"""Profile a Dask DataFrame on its workers: one profile per partition, merged in a tree.

Profiles merge exactly for counts, moments and fixed-edge histograms, so this map-reduce gives
the same exact statistics as a single-process pass; sketches stay within their error bounds.
Partial profiles travel between processes through ``Profile.to_bytes`` (``__reduce__``), never
through pickled sketch objects.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from mlwarden.errors import require

from .profile import Profile, _accumulate, _count_pass, _reference_edges, _set_reference


def _profile_partition(
    part: pd.DataFrame, edges: dict[str, np.ndarray], params: dict[str, Any]
) -> Profile:
    if isinstance(part, pd.Series):  # a Dask Series: one column
        part = part.to_frame(str(part.name) if part.name is not None else "x0")
    return _accumulate(iter([part]), edges, params)


def _count_partition(part: pd.DataFrame, edges: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    if isinstance(part, pd.Series):
        part = part.to_frame(str(part.name) if part.name is not None else "x0")
    return _count_pass(iter([part]), edges)


def _merge(a: Profile, b: Profile) -> Profile:
    return a.merge(b)


def _add(a: dict[str, np.ndarray], b: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    return {k: a[k] + b[k] for k in a}


def _tree(items: list[Any], combine: Any) -> Any:
    """Pairwise reduction so no single task merges every partition's result."""
    dask = require("dask", "dask")
    while len(items) > 1:
        pairs = [dask.delayed(combine)(a, b) for a, b in zip(items[::2], items[1::2], strict=False)]
        items = pairs + ([items[-1]] if len(items) % 2 else [])
    return items[0]


def profile_dask(
    data: Any,
    edges: dict[str, np.ndarray],
    params: dict[str, Any],
    *,
    reference: bool,
    columns: list[str] | None,
) -> Profile:
    """Profile every partition where it lives, then merge (two passes for a reference)."""
    dask = require("dask", "dask")
    if columns is not None:
        data = data[columns]
    parts = data.to_delayed()
    partials = [dask.delayed(_profile_partition)(p, edges, params) for p in parts]
    (prof,) = dask.compute(_tree(partials, _merge))
    if reference:
        ref_edges = _reference_edges(prof, params["bins"])
        counted = [dask.delayed(_count_partition)(p, ref_edges) for p in parts]
        (counts,) = dask.compute(_tree(counted, _add))
        _set_reference(prof, ref_edges, counts)
    return prof
