"""LIME as an optional explainer (``method="lime"``, extra ``lime``).

LIME fits a local weighted linear surrogate, so its weights are not additive: the explanation's
residual is whatever the surrogate misses and ``tolerance`` is infinite. Prefer SHAP methods
for evidence; LIME is here for teams whose reviewers ask for it.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from mlwarden.engines.explain.base import Explainer
from mlwarden.engines.fitted import as_fitted
from mlwarden.errors import ValidationError, require


class LimeExplainer(Explainer):
    """``lime.lime_tabular.LimeTabularExplainer`` over numeric input columns."""

    method = "lime"
    needs_background = True
    maps_back = False
    tolerance = float("inf")

    def __init__(
        self,
        model: Any,
        *,
        seed: int = 0,
        max_background: int = 200,
        output: str | None = None,
        num_samples: int = 2000,
    ) -> None:
        super().__init__(model, seed=seed, max_background=max_background, output=output)
        self.num_samples = num_samples

    def _fit_estimator(self) -> None:
        lime_tabular = require("lime.lime_tabular", "lime")
        bg = self.background_
        arr = bg.to_numpy() if isinstance(bg, pd.DataFrame) else np.asarray(bg)
        if arr.dtype.kind not in "biuf":
            raise ValidationError("the LIME explainer takes numeric input columns only")
        self.is_classifier_ = hasattr(self.model, "predict_proba")
        self.output_space_ = "probability" if self.is_classifier_ else "raw"
        self.explainer_ = lime_tabular.LimeTabularExplainer(
            arr.astype(float),
            feature_names=self.feature_names_,
            mode="classification" if self.is_classifier_ else "regression",
            discretize_continuous=False,
            random_state=self.seed,
        )

    def _predict(self, arr: np.ndarray) -> np.ndarray:
        x = as_fitted(self.model, pd.DataFrame(arr, columns=self.feature_names_))
        return self.model.predict_proba(x) if self.is_classifier_ else self.model.predict(x)

    def _attribute(self, X: Any):
        arr = np.asarray(X.to_numpy() if isinstance(X, pd.DataFrame) else X, dtype=float)
        n, p = arr.shape
        phi, base = np.zeros((n, p)), np.zeros(n)
        mean, scale = self.explainer_.scaler.mean_, self.explainer_.scaler.scale_
        scale = np.where(scale > 0, scale, 1.0)
        for i, row in enumerate(arr):  # LIME fits one surrogate per row by design
            exp = self.explainer_.explain_instance(
                row, self._predict, labels=(1,), num_features=p, num_samples=self.num_samples
            )
            # Label 1 is the positive class; in regression mode LIME stores the surrogate
            # under 1 too (and a sign-flipped copy under 0).
            for j, w in exp.as_map()[1]:
                phi[i, j] = w * (row[j] - mean[j]) / scale[j]  # the surrogate is fit on z-scores
            base[i] = float(exp.intercept[1])
        pred = self._predict(arr)
        out = pred[:, 1] if self.is_classifier_ else np.ravel(pred)
        return phi, base, np.asarray(out, dtype=float)
