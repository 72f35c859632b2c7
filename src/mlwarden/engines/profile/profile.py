"""Dataset profiles: one :class:`ColumnProfile` per column, mergeable and serializable.

``profile(data)`` streams ``data`` in chunks (see ``_inputs``) and folds each column into its
sketches; a Dask DataFrame is profiled partition by partition on the workers and the partial
profiles are merged in a tree. A reference profile (``reference=True``) also fixes histogram
edges at its quantiles and counts its own rows in them; a current profile built with
``bins_from=reference`` counts its rows in the same edges, which makes binned drift measures
(PSI, Jensen–Shannon, Hellinger) exact on profiles.
"""

from __future__ import annotations

import json
import zlib
from collections.abc import Iterator
from typing import Any

import numpy as np
import pandas as pd

from mlwarden.errors import ValidationError

from ._common import DEFAULT_KLL_K, NUMERIC, bin_counts, kind_of, numeric_values
from ._inputs import CHUNK_ROWS, chunk_source, is_dask
from .column import ColumnProfile

_MAGIC = b"MWPROF1\n"


class Profile:
    """Summary of a dataset: ``n_rows`` rows and a :class:`ColumnProfile` per column.

    ``profile[name]`` gives a column; ``profile.columns`` lists names in input order.
    """

    def __init__(
        self,
        columns: dict[str, ColumnProfile],
        n_rows: int,
        *,
        reference: bool = False,
        params: dict[str, Any] | None = None,
    ) -> None:
        self._columns = dict(columns)
        self.n_rows = int(n_rows)
        self.reference = reference
        self.params = dict(params or {})

    @property
    def columns(self) -> list[str]:
        return list(self._columns)

    def __getitem__(self, name: str) -> ColumnProfile:
        try:
            return self._columns[name]
        except KeyError:
            raise ValidationError(f"no column {name!r} in this profile", column=name) from None

    def __contains__(self, name: object) -> bool:
        return name in self._columns

    def __iter__(self) -> Iterator[str]:
        return iter(self._columns)

    def __len__(self) -> int:
        return len(self._columns)

    def __repr__(self) -> str:
        return f"Profile(n_rows={self.n_rows}, columns={len(self._columns)})"

    def merge(self, other: Profile) -> Profile:
        """A new profile of both inputs' rows. A column missing on one side counts as null there."""
        if not isinstance(other, Profile):
            raise ValidationError(f"can only merge a Profile, got {type(other).__name__}")
        out: dict[str, ColumnProfile] = {}
        for name in self.columns + [c for c in other.columns if c not in self._columns]:
            a = self._columns.get(name) or _null_column(name, self.n_rows, other[name])
            b = other._columns.get(name) or _null_column(name, other.n_rows, a)
            out[name] = a.merge(b)
        return Profile(
            out,
            self.n_rows + other.n_rows,
            reference=self.reference and other.reference,
            params=self.params or other.params,
        )

    # ------------------------------------------------------------------ serialization
    def to_bytes(self) -> bytes:
        """Compact bytes: a magic line, then zlib-compressed JSON with base64 sketch bytes.

        The sketches hardly compress: what zlib wins is mostly base64's 2 unused bits a byte,
        which Huffman coding alone takes back. Run-length matching (``Z_RLE``) gives 1% more
        bytes than level 1's string matching for a fifth of its time (3 against 14 ms for a
        10-column window profile); level 6 took 1.7x level 1's time for 4% fewer bytes. Any
        zlib stream reads back the same (``from_bytes``)."""
        state = {
            "n_rows": self.n_rows,
            "reference": self.reference,
            "params": self.params,
            "columns": [c.to_state() for c in self._columns.values()],
        }
        packer = zlib.compressobj(1, zlib.DEFLATED, zlib.MAX_WBITS, 8, zlib.Z_RLE)
        raw = json.dumps(state, separators=(",", ":")).encode()
        return _MAGIC + packer.compress(raw) + packer.flush()

    @classmethod
    def from_bytes(cls, raw: bytes) -> Profile:
        if not raw.startswith(_MAGIC):
            raise ValidationError("not a Warden profile (bad magic bytes)")
        try:
            state = json.loads(zlib.decompress(raw[len(_MAGIC) :]))
            cols = {c["name"]: ColumnProfile.from_state(c) for c in state["columns"]}
        except (ValueError, KeyError, zlib.error) as exc:
            raise ValidationError(f"corrupt Warden profile: {exc}") from exc
        return cls(cols, state["n_rows"], reference=state["reference"], params=state["params"])

    def __reduce__(self) -> tuple[Any, ...]:
        # never pickle the sketches themselves: ship the documented byte format
        return (Profile.from_bytes, (self.to_bytes(),))

    def to_dict(self, top: int = 20) -> dict[str, Any]:
        """JSON-serializable summary for evidence and display (no sketch bytes)."""
        return {
            "n_rows": self.n_rows,
            "reference": self.reference,
            "columns": {name: c.summary(top) for name, c in self._columns.items()},
        }


def _null_column(name: str, n_rows: int, like: ColumnProfile) -> ColumnProfile:
    col = ColumnProfile(name, kll_k=like.kll_k, categorical_cap=like.categorical_cap)
    col.count_ = col.null_count_ = n_rows
    return col


# ---------------------------------------------------------------------- building
def _accumulate(
    chunks: Iterator[pd.DataFrame], edges: dict[str, np.ndarray], params: dict[str, Any]
) -> Profile:
    categorical = set(params.get("categorical") or ())
    cols: dict[str, ColumnProfile] = {}
    n_rows = 0
    for chunk in chunks:
        names = [str(c) for c in chunk.columns]
        if len(set(names)) != len(names):
            raise ValidationError("duplicate column names in the data", columns=names)
        for name, raw in zip(names, chunk.columns, strict=True):
            col = cols.get(name)
            if col is None:
                col = cols[name] = ColumnProfile(
                    name, kll_k=params["kll_k"], categorical_cap=params["categorical_cap"]
                )
                if name in edges:
                    col.set_edges(edges[name])
                col.count_ = col.null_count_ = n_rows  # absent from earlier chunks
            values = chunk[raw]
            if name in categorical and kind_of(values) == NUMERIC:
                # forced categorical (integer class labels, codes): categories by string form
                values = values.astype("string")
            col.partial_fit(values)
        for name, col in cols.items():
            if name not in names:
                col.count_ += len(chunk)
                col.null_count_ += len(chunk)
        n_rows += len(chunk)
    return Profile(cols, n_rows, params=params)


def _count_pass(chunks: Iterator[pd.DataFrame], edges: dict[str, np.ndarray]) -> dict[str, Any]:
    """Second pass of a reference profile: counts in the fixed edges, numeric columns only."""
    totals = {name: np.zeros(len(e) - 1, dtype=np.int64) for name, e in edges.items()}
    for chunk in chunks:
        for raw in chunk.columns:
            name = str(raw)
            if name in edges:
                totals[name] += bin_counts(numeric_values(chunk[raw])[0], edges[name])
    return totals


def _reference_edges(prof: Profile, bins: int) -> dict[str, np.ndarray]:
    return {
        name: col.reference_edges(bins)
        for name, col in prof._columns.items()
        if col.kind == NUMERIC and col.n_
    }


def _set_reference(prof: Profile, edges: dict[str, np.ndarray], counts: dict | None) -> Profile:
    for name, e in edges.items():
        col = prof[name]
        if counts is not None:
            col.set_edges(e)
            col.bin_counts_ = counts[name]
        else:  # one-shot stream: estimate the reference's own counts from its KLL sketch
            approx = np.rint(col.counts_in(e)).astype(np.int64)
            col.set_edges(e)
            col.bin_counts_ = approx
            col.bins_exact_ = False
    prof.reference = True
    return prof


def profile(
    data: Any,
    *,
    reference: bool = False,
    bins_from: Profile | None = None,
    categorical_cap: int = 1000,
    kll_k: int = DEFAULT_KLL_K,
    bins: int = 10,
    columns: list[str] | None = None,
    categorical: list[str] | None = None,
    chunk_rows: int = CHUNK_ROWS,
) -> Profile:
    """Profile ``data`` column by column.

    Parameters
    ----------
    data : pandas/polars DataFrame, pyarrow Table, numpy array (n,) or (n, d), Parquet path,
        Dask DataFrame, or an iterator of chunks of those types.
    reference : also fix ``bins`` quantile bins per numeric column and count rows in them
        (exactly when ``data`` can be read twice; estimated from KLL for a one-shot iterator).
    bins_from : a reference profile whose bin edges this profile counts in.
    categorical_cap : distinct categories counted exactly before switching to frequent items.
    kll_k : KLL sketch size (rank error ~0.3 % at the default 1000, 1.3 % at 200; 99 %).
    columns : profile only these columns.
    categorical : columns to profile as categorical even when numeric (class labels, codes).
    chunk_rows : rows per chunk for in-memory and Parquet inputs; bounds memory.
    """
    if reference and bins_from is not None:
        raise ValidationError("a reference profile fixes its own bins; drop bins_from")
    if kll_k < 8 or categorical_cap < 1 or chunk_rows < 1:
        raise ValidationError("kll_k must be >= 8, categorical_cap and chunk_rows >= 1")
    params: dict[str, Any] = {
        "kll_k": kll_k,
        "categorical_cap": categorical_cap,
        "bins": bins,
        "categorical": sorted(categorical or []),
    }
    edges: dict[str, np.ndarray] = {}
    if bins_from is not None:
        for name in bins_from.columns:
            e = bins_from[name].edges_
            if e is not None:
                edges[name] = e
    if is_dask(data):
        from ._dask import profile_dask

        return profile_dask(data, edges, params, reference=reference, columns=columns)
    source, reusable = chunk_source(data, columns, chunk_rows)
    prof = _accumulate(source(), edges, params)
    if reference:
        ref_edges = _reference_edges(prof, bins)
        counts = _count_pass(source(), ref_edges) if reusable else None
        _set_reference(prof, ref_edges, counts)
    return prof
