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
    favorable_label: Any = None,
) -> dict[str, Any]:
    inputs = [
        _column_spec(X[c], c in identifying) | {"sensitive": c in sensitive} for c in X.columns
    ]
    if classes is not None:
        output: dict[str, Any] = {"type": "class", "classes": [_plain(c) for c in classes]}
        if favorable_label is not None:
            output["favorable_label"] = _plain(favorable_label)
    elif y is not None:
        output = {"type": "number", "dtype": str(np.asarray(y).dtype)}
    else:
        output = {"type": "unknown"}
    output["scores"] = has_scores
    return {"inputs": inputs, "output": output}


def favorable_label(signature: dict[str, Any]) -> Any:
    """The outcome counted as favourable in fairness: the one declared at registration, else
    (for a binary classifier that never declared it) the last class; ``None`` otherwise."""
    output = signature.get("output", {})
    if "favorable_label" in output:
        return output["favorable_label"]
    classes = output.get("classes") or []
    return classes[-1] if len(classes) == 2 else None


def canonical_labels(values: np.ndarray, signature: dict[str, Any]) -> tuple[list[str], list[int]]:
    """Ground-truth labels as stored (text), checked against the version's output: one of its
    classes (``1.0`` matches class ``1``), or a finite number for a regressor. Returns the
    labels and the positions of those that are not."""
    classes = signature.get("output", {}).get("classes")
    if classes is None:
        return [str(v) for v in values], [i for i, v in enumerate(values) if not _finite(v)]
    by_text = {str(c): str(c) for c in classes}
    by_number = {float(c): str(c) for c in classes if _is_number(c)}
    out: list[str] = []
    bad: list[int] = []
    for i, v in enumerate(values):
        label = by_text.get(str(v))
        if label is None and _is_number(v):
            label = by_number.get(float(v))
        out.append(str(v) if label is None else label)
        if label is None:
            bad.append(i)
    return out, bad


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float | np.integer | np.floating) and not isinstance(
        value, bool | np.bool_
    )


def _finite(value: Any) -> bool:
    try:
        return bool(np.isfinite(float(value)))
    except (TypeError, ValueError):
        return False


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
