"""``Dataset``: the data a user hands to registration, with a name for lineage."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from mlwarden.errors import ValidationError


@dataclass(frozen=True)
class Dataset:
    """Features ``X`` (n_rows × n_features), optional labels ``y`` (n_rows,).

    ``sensitive`` holds protected attributes that are *not* model inputs but must be recorded
    for fairness audits (n_rows × n_attributes). Names default to ``"train"``/``"eval"``.
    """

    X: Any
    y: Any = None
    name: str | None = None
    sensitive: Any = None

    def frame(self, role: str) -> pd.DataFrame:
        """``X`` as a DataFrame, with a clear error when it is not tabular."""
        return as_frame(self.X, f"{role}.X")

    def labels(self, role: str, n_rows: int) -> np.ndarray | None:
        if self.y is None:
            return None
        y = np.asarray(self.y.to_numpy() if hasattr(self.y, "to_numpy") else self.y)
        if y.ndim != 1:
            raise ValidationError(f"{role}.y must be one-dimensional, got shape {y.shape}")
        if len(y) != n_rows:
            raise ValidationError(
                f"{role}.X has {n_rows} rows but {role}.y has {len(y)}: they must match",
                field=f"{role}.y",
            )
        return y

    def sensitive_frame(self, role: str, n_rows: int) -> pd.DataFrame | None:
        if self.sensitive is None:
            return None
        frame = as_frame(self.sensitive, f"{role}.sensitive")
        if len(frame) != n_rows:
            raise ValidationError(
                f"{role}.sensitive has {len(frame)} rows but {role}.X has {n_rows}",
                field=f"{role}.sensitive",
            )
        return frame


def as_frame(data: Any, field: str) -> pd.DataFrame:
    """Accept pandas, pyarrow, polars or a 2-D array; refuse anything else by name."""
    if isinstance(data, pd.DataFrame):
        return data
    if isinstance(data, pd.Series):
        return data.to_frame()
    if hasattr(data, "to_pandas") and hasattr(data, "columns"):  # pyarrow / polars
        return data.to_pandas()
    if isinstance(data, np.ndarray):
        if data.ndim != 2:
            raise ValidationError(
                f"{field} must be tabular (2-D), got an array of shape {data.shape}", field=field
            )
        return pd.DataFrame(data, columns=[f"x{i}" for i in range(data.shape[1])])
    raise ValidationError(
        f"{field} must be tabular (a pandas/polars DataFrame, pyarrow Table or 2-D numpy array), "
        f"got {type(data).__name__}",
        field=field,
    )
