"""``Explainer``: the common contract of every attribution method.

A subclass implements ``_fit_estimator`` and ``_attribute``, which works on the *transformed*
features of a Pipeline's final estimator; this base maps the result back to the original
input columns and records provenance (method, output space, background hash, seed, residual).
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

import numpy as np
import pandas as pd

from mlwarden.engines.explain.explanation import Explanation, mean_abs_shap
from mlwarden.engines.explain.mapping import feature_map, input_names, split_pipeline, to_dense
from mlwarden.engines.fitted import as_fitted
from mlwarden.errors import ValidationError


def background_hash(background: Any) -> str | None:
    """sha256 of the background's bytes (frames: column names + pandas' stable row hashes)."""
    if background is None:
        return None
    h = hashlib.sha256()
    if isinstance(background, pd.DataFrame):
        # object columns hold pointers, so their raw bytes are not stable; hash the values
        h.update(json.dumps([str(c) for c in background.columns]).encode())
        h.update(pd.util.hash_pandas_object(background, index=False).to_numpy().tobytes())
    else:
        arr = np.ascontiguousarray(np.asarray(background))
        if arr.dtype == object:
            return background_hash(pd.DataFrame(arr))
        h.update(str(arr.dtype).encode())
        h.update(str(arr.shape).encode())
        h.update(arr.tobytes())
    return h.hexdigest()


def sample_rows(data: Any, max_rows: int, seed: int) -> Any:
    """At most ``max_rows`` rows of ``data`` (n_rows, n_features), drawn without replacement."""
    n = len(data)
    if n <= max_rows:
        return data
    idx = np.sort(np.random.default_rng(seed).choice(n, max_rows, replace=False))
    return data.iloc[idx] if isinstance(data, pd.DataFrame) else np.asarray(data)[idx]


class Explainer:
    """Explain a fitted model's predictions as additive contributions of its input columns.

    Parameters
    ----------
    model : a fitted estimator or scikit-learn Pipeline.
    seed : seed for background sampling and any random permutations.
    max_background : background rows kept (sampled with ``seed`` when more are given).
    output : output space to explain; ``None`` picks the method's default.

    Attributes (after ``fit``)
    --------------------------
    estimator_ : the final estimator; ``prefix_`` the preprocessing steps before it (or None).
    feature_names_ : original input column names.
    background_ : the background rows used (original columns), ``background_hash_`` their hash.
    map_ : ndarray (n_transformed, n_original) folding transformed features into inputs.
    output_space_ : ``log_odds``, ``probability`` or ``raw``.
    """

    method = "base"
    output_space_: str
    #: largest |base + sum(contributions) - output| accepted as additive
    tolerance = 1e-6
    needs_background = False

    def __init__(
        self, model: Any, *, seed: int = 0, max_background: int = 200, output: str | None = None
    ) -> None:
        self.model = model
        self.seed = seed
        self.max_background = max_background
        self.output = output

    def fit(self, background: Any = None) -> Explainer:
        self.prefix_, self.estimator_ = split_pipeline(self.model)
        if background is None and self.needs_background:
            raise ValidationError(f"{type(self).__name__} needs background data (a sample of X)")
        self.background_ = (
            None if background is None else sample_rows(background, self.max_background, self.seed)
        )
        self.background_hash_ = background_hash(self.background_) if self.uses_background else None
        try:
            self.feature_names_: list[str] | None = input_names(self.model, self.background_)
        except ValidationError:
            self.feature_names_ = None  # learnt from the first batch explained
        self.notes_: list[str] = []
        self.map_: np.ndarray | None = None
        if self.prefix_ is not None and self.maps_back and self.feature_names_ is not None:
            self.map_, self.notes_ = feature_map(self.prefix_, self.feature_names_)
        self._fit_estimator()
        return self

    # -- to implement ---------------------------------------------------------------------
    uses_background = True
    maps_back = True  # False for methods that explain the whole pipeline on its inputs

    def _fit_estimator(self) -> None:
        raise NotImplementedError

    def _attribute(self, xt: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(contributions (n, n_transformed), base values (n,), output (n,)) for ``xt``."""
        raise NotImplementedError

    # -- shared ---------------------------------------------------------------------------
    def transform(self, X: Any) -> Any:
        """Inputs as the final estimator sees them: (n_rows, n_transformed)."""
        if self.prefix_ is None or not self.maps_back:
            return X
        return to_dense(self.prefix_.transform(as_fitted(self.prefix_, X)))

    def _frame(self, X: Any) -> pd.DataFrame:
        if self.feature_names_ is None:
            self.feature_names_ = input_names(self.model, X)
            if self.prefix_ is not None and self.maps_back:
                self.map_, self.notes_ = feature_map(self.prefix_, self.feature_names_)
        if isinstance(X, pd.DataFrame):
            if [str(c) for c in X.columns] == self.feature_names_:
                return X
            missing = [c for c in self.feature_names_ if c not in X.columns]
            if missing:
                raise ValidationError("X lacks input columns of the model", missing=missing)
            # attributions follow the model's column order; so must the data they describe
            return X[self.feature_names_]
        arr = np.asarray(X)
        if arr.ndim == 1:
            arr = arr.reshape(1, -1)
        return pd.DataFrame(arr, columns=self.feature_names_)

    def explain(self, X: Any) -> Explanation:
        """Explain rows ``X`` of shape (n_rows, n_features) in the original input columns."""
        if not hasattr(self, "estimator_"):
            raise ValidationError("explainer is not fitted; call fit() or use explainer_for()")
        frame = self._frame(X)
        if (
            isinstance(X, pd.DataFrame)
            or getattr(self.model, "feature_names_in_", None) is not None
        ):
            X = frame  # in the model's column order; frame-fitted pipelines need names
        elif np.ndim(X) == 1:
            X = np.asarray(X).reshape(1, -1)
        phi, base, out = self._attribute(self.transform(X))
        if self.map_ is not None:
            phi = phi @ self.map_
        if phi.shape[1] != frame.shape[1]:
            raise ValidationError(
                "attributions do not match the input columns",
                attributions=phi.shape[1],
                columns=frame.shape[1],
            )
        return Explanation(
            phi,
            base,
            out,
            frame,
            method=self.method,
            output_space=self.output_space_,
            background_hash=self.background_hash_,
            seed=self.seed,
            tolerance=self.tolerance,
            notes=tuple(self.notes_),
        )

    def global_importance(self, X: Any) -> dict[str, float]:
        """Mean |contribution| per original input column over ``X``, sorted descending."""
        exp = self.explain(X)
        return mean_abs_shap(exp.values, exp.feature_names)

    def importance_summary(self, X: Any) -> dict[str, Any]:
        """JSON-serializable global-importance evidence (see ``Explanation.summary``)."""
        return self.explain(X).summary()

    def __repr__(self) -> str:
        return f"{type(self).__name__}(model={type(self.model).__name__}, seed={self.seed})"
