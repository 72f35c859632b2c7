"""Mergeable per-column profiles: exact counts and moments, KLL quantiles, frequent items, HLL.

``profile(data)`` accepts pandas, polars, pyarrow, numpy, Parquet paths, iterators of chunks and
Dask DataFrames; ``Profile.merge`` combines batches; ``Profile.to_bytes`` / ``from_bytes``
serialize without pickle.
"""

from .column import ColumnProfile
from .profile import Profile, profile

__all__ = ["ColumnProfile", "Profile", "profile"]
