"""Input/output signatures inferred from training data."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

MAX_CATEGORIES = 1000


def _column_spec(series: pd.Series, identifying: bool = False) -> dict[str, Any]:
    dtype = series.dtype
    spec: dict[str, Any] = {"name": str(series.name), "nullable": bool(series.isna().any())}
    if isinstance(dtype, pd.CategoricalDtype):
        spec["type"] = "category"
        spec["categories"] = [_plain(c) for c in dtype.categories]
    elif pd.api.types.is_bool_dtype(dtype):
        spec["type"] = "boolean"
    elif pd.api.types.is_integer_dtype(dtype):
        spec["type"] = "integer"
    elif pd.api.types.is_float_dtype(dtype):
        spec["type"] = "float"
    elif pd.api.types.is_datetime64_any_dtype(dtype):
        spec["type"] = "datetime"
    else:
        spec["type"] = "string"
        values = series.dropna().unique()
        # a near-unique or personal column is a key, not a category: never list its values
        if not identifying and len(values) <= min(MAX_CATEGORIES, 0.5 * max(len(series), 1)):
            spec["categories"] = sorted(str(v) for v in values)
    spec["dtype"] = str(dtype)
    return spec


def _plain(value: Any) -> Any:
    return value.item() if isinstance(value, np.generic) else value


def infer_signature(
    X: pd.DataFrame,
    y: np.ndarray | None,
    *,
    sensitive: list[str],
    classes: list[Any] | None,
    has_scores: bool,
    identifying: list[str] = (),  # type: ignore[assignment]
) -> dict[str, Any]:
    inputs = [
        _column_spec(X[c], c in identifying) | {"sensitive": c in sensitive} for c in X.columns
    ]
    if classes is not None:
        output: dict[str, Any] = {"type": "class", "classes": [_plain(c) for c in classes]}
    elif y is not None:
        output = {"type": "number", "dtype": str(np.asarray(y).dtype)}
    else:
        output = {"type": "unknown"}
    output["scores"] = has_scores
    return {"inputs": inputs, "output": output}


def conform(frame: pd.DataFrame, signature: dict[str, Any]) -> pd.DataFrame:
    """Give logged or JSON-decoded inputs back the dtypes the model was trained with:
    categories as ``category`` with the training categories (unseen values become missing),
    integers and floats as numbers, columns in signature order."""
    columns = {}
    for spec in signature.get("inputs", []):
        name = spec["name"]
        if name not in frame.columns:
            continue
        col = frame[name]
        if spec["type"] == "category":
            columns[name] = pd.Categorical(col, categories=spec.get("categories"))
        elif spec["type"] in ("integer", "float"):
            columns[name] = pd.to_numeric(col, errors="coerce")
        else:
            columns[name] = col
    return pd.DataFrame(columns, index=frame.index)
