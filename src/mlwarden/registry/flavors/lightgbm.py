"""LightGBM in its native text format (Booster or the scikit-learn wrappers)."""

from __future__ import annotations

from typing import Any

import numpy as np

from mlwarden.errors import ValidationError, require
from mlwarden.registry.flavors.base import Flavor, library_versions


class LightGBMFlavor(Flavor):
    name = "lightgbm"

    def matches(self, model: Any) -> bool:
        module = type(model).__module__
        return module.startswith("lightgbm")

    def save(self, model: Any) -> tuple[bytes, dict[str, Any]]:
        lgb = require("lightgbm", "lightgbm")
        info: dict[str, Any] = {"libraries": library_versions("lightgbm")}
        if isinstance(model, lgb.Booster):
            booster, info["wrapper"] = model, None
        else:
            if not getattr(model, "fitted_", False):
                raise ValidationError(
                    f"the {type(model).__name__} is not fitted: fit it before registering",
                    field="model",
                )
            booster = model.booster_
            info["wrapper"] = f"{type(model).__module__}.{type(model).__qualname__}"
            info["params"] = {
                k: v
                for k, v in model.get_params().items()
                if v is None or isinstance(v, bool | int | float | str)
            }
            info["objective"] = model._objective
            info["fitted_with_feature_names"] = bool(model._fitted_with_feature_names)
            if hasattr(model, "classes_"):
                info["classes"] = np.asarray(model.classes_).tolist()
        return booster.model_to_string().encode(), info

    def load(self, data: bytes, info: dict[str, Any]) -> Any:
        lgb = require("lightgbm", "lightgbm")
        booster = lgb.Booster(model_str=data.decode())
        if not info.get("wrapper"):
            return booster
        cls = lgb.LGBMClassifier if "Classifier" in info["wrapper"] else lgb.LGBMRegressor
        if "Ranker" in info["wrapper"]:
            cls = lgb.LGBMRanker
        # Rebuild the fitted wrapper around the native booster (LightGBM has no loader for
        # its scikit-learn classes); the round-trip test pins these attributes.
        est = cls(**info.get("params", {}))
        est._Booster = booster
        est._n_features = est._n_features_in = booster.num_feature()
        est._objective = info.get("objective")
        est._fitted_with_feature_names = info.get("fitted_with_feature_names", False)
        est._best_iteration = booster.best_iteration
        est._best_score = {}
        est._evals_result = {}
        if "classes" in info:
            from lightgbm.sklearn import _LGBMLabelEncoder

            est._le = _LGBMLabelEncoder().fit(np.asarray(info["classes"]))
            est._classes = est._le.classes_
            est._n_classes = len(est._classes)
            est._class_map = {c: i for i, c in enumerate(est._classes)}
        est.fitted_ = True
        return est
