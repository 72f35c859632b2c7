"""Additive explanations on a model's ORIGINAL input columns, with provenance and reason codes.

``explainer_for(model, background).explain(X)`` gives an :class:`Explanation` whose base value
plus contributions reproduce the model output (its residual is recorded).
"""

from mlwarden.engines.explain.base import Explainer, background_hash
from mlwarden.engines.explain.explanation import Explanation, ReasonCode, mean_abs_shap
from mlwarden.engines.explain.factory import explainer_for

__all__ = [
    "Explainer",
    "Explanation",
    "ReasonCode",
    "background_hash",
    "explainer_for",
    "mean_abs_shap",
]
