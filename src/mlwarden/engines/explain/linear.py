"""Exact SHAP for linear models: ``coef_j * (x_j - mean_background_j)``.

With independent features this is the SHAP value of a linear model, and it is additive by
construction: the base value is the model output at the background mean.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from mlwarden.engines.explain.base import Explainer
from mlwarden.engines.explain.mapping import to_dense
from mlwarden.engines.fitted import as_fitted
from mlwarden.errors import ValidationError


def is_linear(est: Any) -> bool:
    """A fitted estimator exposing one row of ``coef_`` and an ``intercept_``."""
    coef = getattr(est, "coef_", None)
    if coef is None or not hasattr(est, "intercept_"):
        return False
    coef = np.asarray(coef)
    return coef.ndim == 1 or coef.shape[0] == 1


class LinearExplainer(Explainer):
    """Linear and logistic models; classifiers are explained in their decision function.

    ``mean`` (n_transformed,), the background's mean as the final estimator sees it, replaces
    the background itself: it is all the formula needs, so a server can explain from means
    stored at registration (``background_hash`` then records which sample they came from).
    """

    method = "linear_exact"
    needs_background = True
    tolerance = 1e-6

    def __init__(
        self,
        model: Any,
        *,
        seed: int = 0,
        max_background: int = 200,
        output: str | None = None,
        mean: Any = None,
        background_hash: str | None = None,
    ) -> None:
        super().__init__(model, seed=seed, max_background=max_background, output=output)
        self.mean = mean
        self.stored_background_hash = background_hash
        if mean is not None:
            self.needs_background = False

    def _fit_estimator(self) -> None:
        est = self.estimator_
        if not is_linear(est):
            raise ValidationError("estimator has no single row of coef_; not a binary linear model")
        self.coef_ = np.asarray(est.coef_, dtype=float).reshape(-1)
        self.intercept_ = float(np.ravel(est.intercept_)[0]) if np.size(est.intercept_) else 0.0
        if self.mean is not None:
            self.mean_ = np.asarray(self.mean, dtype=float).reshape(-1)
            self.background_hash_ = self.stored_background_hash
        else:
            self.mean_ = to_dense(self.transform(self.background_)).mean(axis=0)
        if self.mean_.shape != self.coef_.shape:
            raise ValidationError(
                "background does not match the model's features",
                background=list(self.mean_.shape),
                coef=list(self.coef_.shape),
            )
        self.is_classifier_ = hasattr(est, "classes_")
        if self.is_classifier_:
            logistic = type(est).__name__.startswith("LogisticRegression")
            self.output_space_ = "log_odds" if logistic else "margin"
        else:
            self.output_space_ = "raw"
        if self.output not in (None, self.output_space_):
            raise ValidationError(
                f"the linear explainer works in {self.output_space_}; "
                "use method='permutation' for probabilities"
            )

    def _attribute(self, xt: Any):
        x = to_dense(xt)
        phi = (x - self.mean_) * self.coef_
        base = np.full(len(x), self.intercept_ + float(self.mean_ @ self.coef_))
        est = self.estimator_
        xf = as_fitted(est, x)
        out = est.decision_function(xf) if self.is_classifier_ else est.predict(xf)
        return phi, base, np.asarray(out, dtype=float).reshape(-1)
