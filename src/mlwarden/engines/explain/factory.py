"""``explainer_for``: pick the exact, fastest method a model allows."""

from __future__ import annotations

from typing import Any

from mlwarden.engines.explain.base import Explainer
from mlwarden.engines.explain.lime import LimeExplainer
from mlwarden.engines.explain.linear import LinearExplainer, is_linear
from mlwarden.engines.explain.mapping import split_pipeline
from mlwarden.engines.explain.permutation import PermutationExplainer
from mlwarden.engines.explain.tree import (
    LightGBMExplainer,
    SklearnTreeExplainer,
    XGBoostExplainer,
)
from mlwarden.errors import ValidationError

METHODS = ("auto", "tree", "linear", "permutation", "lime")

_SKLEARN_TREES = (
    "DecisionTreeClassifier",
    "DecisionTreeRegressor",
    "ExtraTreeClassifier",
    "ExtraTreeRegressor",
    "RandomForestClassifier",
    "RandomForestRegressor",
    "ExtraTreesClassifier",
    "ExtraTreesRegressor",
    "GradientBoostingClassifier",
    "GradientBoostingRegressor",
)


def _tree_class(est: Any) -> type[Explainer] | None:
    module = type(est).__module__
    if module.startswith("lightgbm"):
        return LightGBMExplainer
    if module.startswith("xgboost"):
        return XGBoostExplainer
    if module.startswith("sklearn") and type(est).__name__ in _SKLEARN_TREES:
        return SklearnTreeExplainer
    return None


def explainer_for(
    model: Any,
    background: Any = None,
    *,
    method: str = "auto",
    seed: int = 0,
    max_background: int = 200,
    output: str | None = None,
    **options: Any,
) -> Explainer:
    """A fitted explainer for ``model`` (an estimator or a scikit-learn Pipeline).

    ``method="auto"`` chooses native TreeSHAP for LightGBM/XGBoost, ``shap.TreeExplainer`` for
    scikit-learn trees, the exact linear formula for linear models, and permutation SHAP on the
    original columns otherwise. ``background`` (n_rows, n_features) is a sample of inputs; at
    most ``max_background`` rows are kept, sampled with ``seed``. Attributions always come back
    on the ORIGINAL input columns of a Pipeline.
    """
    if method not in METHODS:
        raise ValidationError(f"method must be one of {METHODS}", method=method)
    _, est = split_pipeline(model)
    kwargs: dict[str, Any] = {"seed": seed, "max_background": max_background, "output": output}
    cls: type[Explainer]
    if method == "auto":
        tree = _tree_class(est)
        if tree is not None:
            cls = tree
        elif is_linear(est) and background is not None:
            cls = LinearExplainer
        else:
            cls = PermutationExplainer
    elif method == "tree":
        tree = _tree_class(est)
        if tree is None:
            raise ValidationError(f"{type(est).__name__} is not a supported tree model")
        cls = tree
    elif method == "linear":
        cls = LinearExplainer
    elif method == "permutation":
        cls = PermutationExplainer
    else:
        cls = LimeExplainer
    if cls is PermutationExplainer or cls is LimeExplainer:
        kwargs.update(options)
    elif options:
        raise ValidationError(f"unexpected options for {cls.__name__}", options=sorted(options))
    if background is None and cls.needs_background:
        raise ValidationError(f"{cls.__name__} needs background data: pass a sample of X")
    return cls(model, **kwargs).fit(background)
