"""Data in the form a model was fitted on.

scikit-learn warns on every call when an estimator fitted on a DataFrame is given an array, or
one fitted on an array is given a DataFrame. Warden's own evidence, explanation and serving
code must not be the source of that noise, so every call it makes into a model goes through
:func:`as_fitted`.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd


def as_fitted(model: Any, X: Any) -> Any:
    """``X`` (n_rows, n_features) as ``model`` expects it.

    A model with ``feature_names_in_`` (fitted on a DataFrame) gets a DataFrame with those
    column names; a fitted scikit-learn-style model without them (``n_features_in_`` but no
    names: fitted on an array) gets a numpy array. Anything else (ONNX, proxies, a model
    that states nothing) gets ``X`` unchanged.
    """
    names = getattr(model, "feature_names_in_", None)
    if names is not None:
        if isinstance(X, pd.DataFrame):
            return X
        arr = X.toarray() if hasattr(X, "toarray") else np.asarray(X)
        if arr.ndim == 2 and arr.shape[1] == len(names):
            return pd.DataFrame(arr, columns=list(names))
        return X
    if isinstance(X, pd.DataFrame) and hasattr(model, "n_features_in_"):
        return X.to_numpy()
    return X
