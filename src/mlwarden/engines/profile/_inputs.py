"""Turn every supported input into a stream of pandas DataFrame chunks.

Supported: pandas DataFrame/Series, a mapping of column name to 1-D array, polars DataFrame,
pyarrow Table/RecordBatch, numpy 1-D or 2-D arrays (columns ``x0, x1, ...``), a Parquet file
path (read batch by batch, so memory stays bounded by ``chunk_rows``), and an iterator of any
of those. Dask DataFrames are handled in
``profile.py`` because their chunks are profiled on the workers.

Chunks are pandas because its ``value_counts`` and ``to_numpy(na_value=...)`` cover nullable,
categorical and Arrow-backed dtypes in C; converting a chunk from Arrow or polars is zero-copy
for numeric columns without nulls.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

from mlwarden.errors import ValidationError

CHUNK_ROWS = 1 << 19  # ~0.5M rows: 25 float columns are ~100 MB per chunk


def _module(obj: Any) -> str:
    return type(obj).__module__.split(".")[0]


def is_dask(data: Any) -> bool:
    return _module(data) in {"dask", "dask_expr"} and hasattr(data, "to_delayed")


def _select(df: pd.DataFrame, columns: list[str] | None) -> pd.DataFrame:
    if columns is None:
        return df
    missing = [c for c in columns if c not in df.columns]
    if missing:
        raise ValidationError(f"columns not in the data: {missing}", missing=missing)
    return df[columns]


def _numpy_frame(arr: np.ndarray) -> pd.DataFrame:
    if arr.ndim == 1:
        arr = arr.reshape(-1, 1)
    if arr.ndim != 2:
        raise ValidationError(f"numpy input must be 1-D or 2-D, got {arr.ndim}-D", ndim=arr.ndim)
    return pd.DataFrame(arr, columns=[f"x{i}" for i in range(arr.shape[1])], copy=False)


def _slices(df: pd.DataFrame, chunk_rows: int) -> Iterator[pd.DataFrame]:
    if len(df) <= chunk_rows:
        yield df
        return
    for start in range(0, len(df), chunk_rows):
        yield df.iloc[start : start + chunk_rows]


def _one_chunk(obj: Any, columns: list[str] | None, chunk_rows: int) -> Iterator[pd.DataFrame]:
    """Chunks of one in-memory object, or raise ValidationError naming its type."""
    if isinstance(obj, pd.DataFrame):
        yield from _slices(_select(obj, columns), chunk_rows)
    elif isinstance(obj, pd.Series):
        name = obj.name if obj.name is not None else "x0"
        yield from _slices(_select(obj.to_frame(str(name)), columns), chunk_rows)
    elif isinstance(obj, np.ndarray):
        yield from _slices(_select(_numpy_frame(obj), columns), chunk_rows)
    elif isinstance(obj, pa.Table | pa.RecordBatch):
        table = obj if columns is None else obj.select(columns)
        for start in range(0, max(table.num_rows, 1), chunk_rows):
            yield table.slice(start, chunk_rows).to_pandas()
    elif _module(obj) == "polars" and hasattr(obj, "to_arrow"):
        frame = obj if columns is None else obj.select(columns)
        if hasattr(frame, "collect"):  # a LazyFrame
            frame = frame.collect()
        for start in range(0, max(frame.height, 1), chunk_rows):
            yield frame.slice(start, chunk_rows).to_arrow().to_pandas()
    else:
        raise ValidationError(
            f"cannot profile an object of type {type(obj).__module__}.{type(obj).__name__}; "
            "pass a pandas/polars DataFrame, pyarrow Table, numpy array, Parquet path, "
            "Dask DataFrame or an iterator of chunks",
            type=type(obj).__name__,
        )


def _parquet_chunks(
    path: str, columns: list[str] | None, chunk_rows: int
) -> Iterator[pd.DataFrame]:
    import pyarrow.parquet as pq

    with pq.ParquetFile(path) as pf:
        for batch in pf.iter_batches(batch_size=chunk_rows, columns=columns):
            yield batch.to_pandas()


def chunk_source(
    data: Any, columns: list[str] | None = None, chunk_rows: int = CHUNK_ROWS
) -> tuple[Callable[[], Iterator[pd.DataFrame]], bool]:
    """A factory of chunk iterators over ``data`` and whether it can be iterated twice.

    A one-shot iterator (a generator) can only be read once, which matters for reference
    profiles: their histogram counts need a second pass after the edges are known.
    """
    if isinstance(data, str | os.PathLike):
        path = os.fspath(data)
        if not os.path.exists(path):
            raise ValidationError(f"no such file: {path}", path=path)
        if not path.endswith((".parquet", ".pq")) and not os.path.isdir(path):
            raise ValidationError(f"only Parquet files can be profiled from a path: {path}")
        return (lambda: _parquet_chunks(path, columns, chunk_rows)), True
    if isinstance(data, pd.DataFrame | pd.Series | np.ndarray | pa.Table | pa.RecordBatch) or (
        _module(data) == "polars" and hasattr(data, "to_arrow")
    ):
        next(_one_chunk(data, columns, chunk_rows), None)  # validate now, not mid-stream
        return (lambda: _one_chunk(data, columns, chunk_rows)), True
    if isinstance(data, Mapping):  # {name: 1-D array}
        try:
            frame = pd.DataFrame(dict(data))
        except (ValueError, TypeError) as exc:
            raise ValidationError(f"cannot build columns from the mapping: {exc}") from exc
        return (lambda: _one_chunk(frame, columns, chunk_rows)), True
    if isinstance(data, Iterable) and not isinstance(data, bytes | set | frozenset):
        items = iter(data)
        reusable = items is not data  # a list or tuple of chunks can be read again

        def stream() -> Iterator[pd.DataFrame]:
            for item in data if reusable else items:
                yield from _one_chunk(item, columns, chunk_rows)

        return stream, reusable
    next(_one_chunk(data, columns, chunk_rows))  # raises ValidationError naming the type
    raise AssertionError("unreachable")
