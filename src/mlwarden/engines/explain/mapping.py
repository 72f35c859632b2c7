"""Map attributions on a Pipeline's transformed features back to its ORIGINAL input columns.

The map is a matrix ``M`` of shape (n_transformed, n_original); original attributions are
``phi_transformed @ M``. Each row of ``M`` sums to 1, so the sum of attributions, and with it
additivity, is preserved exactly. One-hot columns map wholly to their source column, so summing
is exact even though the encoding is not additive in the source: SHAP values on transformed
features summed per source column are the SHAP values of the grouped feature.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from mlwarden.errors import ValidationError


def split_pipeline(model: Any) -> tuple[Any | None, Any]:
    """(preprocessing prefix or None, final estimator) of a scikit-learn Pipeline or a model."""
    try:
        from sklearn.pipeline import Pipeline
    except ImportError:  # pragma: no cover - scikit-learn is a core dependency
        return None, model
    if isinstance(model, Pipeline) and len(model.steps) > 1:
        return model[:-1], model.steps[-1][1]
    if isinstance(model, Pipeline):
        return None, model.steps[-1][1]
    return None, model


def input_names(model: Any, X: Any = None) -> list[str]:
    """Original input column names: the fitted ``feature_names_in_``, the frame's, or x0..."""
    names = getattr(model, "feature_names_in_", None)
    if names is not None:
        return [str(n) for n in names]
    if isinstance(X, pd.DataFrame):
        return [str(c) for c in X.columns]
    if X is not None:
        return [f"x{i}" for i in range(np.asarray(X).shape[1])]
    raise ValidationError("cannot tell the input column names; pass a DataFrame")


def to_dense(x: Any) -> np.ndarray:
    """Transformed features as a float ndarray (n_rows, n_features): sparse and frames too."""
    if hasattr(x, "toarray"):
        x = x.toarray()
    if isinstance(x, pd.DataFrame):
        x = x.to_numpy()
    return np.asarray(x, dtype=float)


def feature_map(transformer: Any, names: list[str]) -> tuple[np.ndarray, list[str]]:
    """(M of shape (n_out, n_in), notes) for a fitted transformer fed columns ``names``."""
    notes: list[str] = []
    m = _map(transformer, names, notes)
    return m, notes


def _map(t: Any, names: list[str], notes: list[str]) -> np.ndarray:
    from sklearn.compose import ColumnTransformer
    from sklearn.pipeline import Pipeline

    n_in = len(names)
    if t is None or (isinstance(t, str) and t == "passthrough"):
        return np.eye(n_in)
    if isinstance(t, Pipeline):
        m = np.eye(n_in)
        current = list(names)
        for _, step in t.steps:
            if step is None or (isinstance(step, str) and step == "passthrough"):
                continue
            step_m = _map(step, current, notes)
            m = step_m @ m
            current = _out_names(step, current, step_m.shape[0])
        return m
    if isinstance(t, ColumnTransformer):
        return _column_transformer(t, names, notes)
    n_outs = getattr(t, "_n_features_outs", None)  # OneHotEncoder: outputs per input column
    if n_outs is not None and len(n_outs) == n_in:
        m = np.zeros((int(sum(n_outs)), n_in))
        m[np.arange(m.shape[0]), np.repeat(np.arange(n_in), n_outs)] = 1.0
        return m
    outs = _out_names(t, names, None)
    return _match_names(t, names, outs, notes)


def _column_transformer(ct: Any, names: list[str], notes: list[str]) -> np.ndarray:
    out_idx = ct.output_indices_
    n_out = max((s.stop for s in out_idx.values()), default=0)
    m = np.zeros((n_out, len(names)))
    in_idx = getattr(ct, "_transformer_to_input_indices", None)
    for name, trans, cols in ct.transformers_:
        if isinstance(trans, str) and trans == "drop":
            continue
        sl = out_idx[name]
        if sl.stop == sl.start:
            continue
        # scikit-learn keeps the resolved input indices privately; resolve them ourselves
        # when that attribute is gone
        idx = list(in_idx[name]) if in_idx is not None else _resolve_columns(cols, names)
        sub = _map(trans, [names[i] for i in idx], notes)
        if sub.shape[0] != sl.stop - sl.start:
            raise ValidationError(
                f"transformer {name!r} produced {sl.stop - sl.start} columns, mapped {sub.shape[0]}"
            )
        block = np.zeros((sub.shape[0], len(names)))
        block[:, idx] = sub
        m[sl] = block
    dropped = [names[j] for j in np.flatnonzero(m.sum(axis=0) == 0)]
    if dropped:
        notes.append(f"columns dropped by the pipeline get zero attribution: {', '.join(dropped)}")
    return m


def _resolve_columns(cols: Any, names: list[str]) -> list[int]:  # pragma: no cover
    if isinstance(cols, slice):
        return list(range(len(names)))[cols]
    arr = np.atleast_1d(np.asarray(cols))
    if arr.dtype == bool:
        return list(np.flatnonzero(arr))
    if arr.dtype.kind in "iu":
        return [int(i) for i in arr]
    return [names.index(str(c)) for c in arr]


def _out_names(t: Any, names: list[str], n_out: int | None) -> list[str]:
    try:
        return [str(n) for n in t.get_feature_names_out(names)]
    except Exception:
        if n_out is None:
            n_out = getattr(t, "n_features_out_", None) or len(names)
        return [f"{type(t).__name__.lower()}{i}" for i in range(n_out)]


def _match_names(t: Any, names: list[str], outs: list[str], notes: list[str]) -> np.ndarray:
    """Attribute each output to the input(s) its name derives from; never silently drop one."""
    n_in = len(names)
    m = np.zeros((len(outs), n_in))
    if n_in == 1:
        m[:, 0] = 1.0
        return m
    pos = {n: i for i, n in enumerate(names)}
    shared = 0
    for o, out in enumerate(outs):
        if out in pos:
            m[o, pos[out]] = 1.0
            continue
        hits = [i for i, n in enumerate(names) if n and n in out]
        # drop a hit contained in a longer hit ("age" inside "age_group")
        hits = [i for i in hits if not any(i != j and names[i] in names[j] for j in hits)]
        if not hits and out == "1":
            # PolynomialFeatures' bias column is constant, so its attribution is always 0;
            # spreading it keeps M's rows summing to 1
            hits = list(range(n_in))
        if not hits:
            raise ValidationError(
                f"cannot attribute output {out!r} of {type(t).__name__} to its input columns; "
                "use method='permutation' to explain the whole pipeline on its inputs",
                output=out,
            )
        m[o, hits] = 1.0 / len(hits)
        shared += len(hits) > 1
    if shared:
        notes.append(
            f"{shared} outputs of {type(t).__name__} combine several inputs; their attribution "
            "is split equally between them"
        )
    return m
