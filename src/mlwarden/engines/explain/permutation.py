"""Permutation SHAP for any model, on the ORIGINAL input columns of the whole pipeline.

For each row and each of ``n_permutations`` feature orders (half of them the reverse of the
other half: antithetic sampling halves the variance), columns are switched one by one from
background values to the row's values, and each switch's change in the mean output over the
background is credited to that column. The changes telescope, so base value + contributions
equals the model output exactly (up to float rounding), whatever the number of permutations;
only the split between columns is an estimate.

All hybrid rows for a chunk of explained rows are built with index arithmetic and scored in
one model call, so there is no per-row Python.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from mlwarden.engines.explain.base import Explainer
from mlwarden.engines.fitted import as_fitted
from mlwarden.errors import ValidationError

#: hybrid rows scored per model call; bounds memory at a few hundred MB for wide frames
CHUNK_ROWS = 400_000
_EPS = 1e-12


class PermutationExplainer(Explainer):
    """Model-agnostic permutation SHAP with an independent background.

    Classifiers are explained as the probability of the positive class by default
    (``output="log_odds"`` explains ``logit(p)``); regressors in their prediction.
    """

    method = "permutation_shap"
    needs_background = True
    maps_back = False  # the whole pipeline is the black box; inputs are the original columns
    tolerance = 1e-8

    def __init__(
        self,
        model: Any,
        *,
        seed: int = 0,
        max_background: int = 100,
        output: str | None = None,
        n_permutations: int = 10,
    ) -> None:
        super().__init__(model, seed=seed, max_background=max_background, output=output)
        self.n_permutations = n_permutations

    def _fit_estimator(self) -> None:
        is_classifier = hasattr(self.model, "predict_proba") and hasattr(self.model, "classes_")
        if is_classifier:
            if len(self.model.classes_) != 2:
                raise ValidationError("only binary classifiers and regressors are supported")
            self.output_space_ = self.output or "probability"
            if self.output_space_ not in ("probability", "log_odds"):
                raise ValidationError("output must be 'probability' or 'log_odds'")
        else:
            self.output_space_ = self.output or "raw"
        self.base_value_ = float(self._f(self.background_).mean())

    def _f(self, X: Any) -> np.ndarray:
        """Model output in ``output_space_`` for rows (n,) ."""
        X = as_fitted(self.model, X)
        if self.output_space_ in ("probability", "log_odds"):
            p = np.asarray(self.model.predict_proba(X), dtype=float)[:, 1]
            if self.output_space_ == "log_odds":
                p = np.clip(p, _EPS, 1 - _EPS)
                return np.log(p / (1 - p))
            return p
        return np.asarray(self.model.predict(X), dtype=float).reshape(-1)

    def _orders(self, p: int) -> np.ndarray:
        rng = np.random.default_rng(self.seed)
        half = max(1, self.n_permutations // 2)
        fwd = np.argsort(rng.random((half, p)), axis=1)
        return np.concatenate([fwd, fwd[:, ::-1]])  # (M, p)

    def _attribute(self, X: Any):
        bg = self.background_
        assert bg is not None  # needs_background: fit() refused to run without one
        is_frame = isinstance(bg, pd.DataFrame)
        if is_frame and not isinstance(X, pd.DataFrame):
            X = pd.DataFrame(np.asarray(X), columns=bg.columns)
        n, p, k = len(X), np.shape(bg)[1], len(bg)
        orders = self._orders(p)
        m = len(orders)
        pos = np.argsort(orders, axis=1)  # pos[m, j]: step at which column j switches on
        steps = np.arange(1, p)  # steps 0 (all background) and p (the row) need no hybrids
        on = pos[:, None, :] < steps[None, :, None]  # (M, p-1, p)
        per_row = m * (p - 1) * k
        out = self._f(X)
        phi = np.empty((n, p))
        chunk = max(1, CHUNK_ROWS // max(per_row, 1))
        for start in range(0, n, chunk):
            rows = np.arange(start, min(start + chunk, n))
            r = len(rows)
            # source index per (row, perm, step, bg row, column): the row itself or a bg row
            idx = np.where(
                on[None, :, :, None, :],
                k + np.arange(r)[:, None, None, None, None],
                np.arange(k)[None, None, None, :, None],
            ).reshape(-1, p)
            hybrid = _gather(bg, _rows(X, rows), idx, is_frame)
            v_mid = self._f(hybrid).reshape(r, m, p - 1, k).mean(axis=3) if p > 1 else None
            v = np.empty((r, m, p + 1))
            v[:, :, 0] = self.base_value_
            v[:, :, p] = out[rows, None]
            if v_mid is not None:
                v[:, :, 1:p] = v_mid
            delta = np.diff(v, axis=2)  # (r, M, p): change when the step's column switched on
            phi[rows] = np.take_along_axis(delta, pos[None, :, :], axis=2).mean(axis=1)
        return phi, np.full(n, self.base_value_), out


def _rows(X: Any, rows: np.ndarray) -> Any:
    return X.iloc[rows] if isinstance(X, pd.DataFrame) else np.asarray(X)[rows]


def _gather(bg: Any, x: Any, idx: np.ndarray, is_frame: bool) -> Any:
    """Hybrid rows: column j of row i comes from row ``idx[i, j]`` of ``[bg; x]``."""
    if is_frame:
        both = pd.concat([bg, x], ignore_index=True)
        # ExtensionArray.take keeps categorical and nullable dtypes intact
        return pd.DataFrame(
            {c: both[c].array.take(idx[:, j]) for j, c in enumerate(both.columns)},
            columns=both.columns,
        )
    both = np.concatenate([np.asarray(bg), np.asarray(x)])
    return both[idx, np.arange(idx.shape[1])[None, :]]
