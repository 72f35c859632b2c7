"""TreeSHAP: LightGBM and XGBoost through their native contributions, scikit-learn through shap.

Tree explainers use path-dependent TreeSHAP (the trees' own cover statistics are the
background), so a background passed in is not used and the explanation's background hash is
``None``. Classifiers are explained in their raw margin: log-odds for boosted binary models.
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pandas as pd

from mlwarden.engines.explain.base import Explainer
from mlwarden.engines.explain.lightgbm_batch import PatternTreeShap
from mlwarden.engines.fitted import as_fitted
from mlwarden.errors import ValidationError, require


def _split_bias(contrib: np.ndarray, n_features: int | None = None) -> tuple[np.ndarray, ...]:
    contrib = np.asarray(contrib, dtype=float)
    if contrib.ndim != 2 or (n_features is not None and contrib.shape[1] != n_features + 1):
        raise ValidationError(
            "multi-output tree models are not supported yet; explain one output at a time",
            shape=list(contrib.shape),
        )
    return contrib[:, :-1], contrib[:, -1]


#: batches at least this large go through the per-pattern path (see ``lightgbm_batch``); below
#: it, LightGBM's one-call ``pred_contrib`` is as fast and has no per-tree overhead
PATTERN_MIN_ROWS = 1000


class LightGBMExplainer(Explainer):
    """LightGBM's native TreeSHAP (``pred_contrib=True``); shap is not needed."""

    method = "tree_shap_lightgbm"
    uses_background = False

    def _fit_estimator(self) -> None:
        est = self.estimator_
        self.booster_ = est.booster_ if hasattr(est, "booster_") else est
        objective = str(self.booster_.params.get("objective", ""))
        if hasattr(est, "objective_"):
            objective = str(est.objective_)
        binary = objective in ("binary", "cross_entropy", "xentropy") or (
            hasattr(est, "classes_") and len(est.classes_) == 2
        )
        self.output_space_ = "log_odds" if binary else "raw"
        if self.output not in (None, self.output_space_):
            raise ValidationError(f"LightGBM explains its raw margin ({self.output_space_})")
        # Calling the Booster on a float array we build ourselves skips LightGBM's pandas
        # conversion and input checks, which are most of the cost of a one-row call.
        self.categories_ = self.booster_.pandas_categorical or []
        n_jobs = getattr(est, "n_jobs", None)
        self.n_threads_ = n_jobs if isinstance(n_jobs, int) and n_jobs > 0 else 0  # 0: OpenMP

    def _patterns(self) -> PatternTreeShap | None:
        # built on the first large batch: parsing the trees costs more than one small call
        if not hasattr(self, "patterns_"):
            ok = PatternTreeShap.supports(self.booster_)
            self.patterns_ = PatternTreeShap(self.booster_) if ok else None
        return self.patterns_

    def _to_array(self, frame: pd.DataFrame) -> np.ndarray:
        """Frame → float array (n, p) exactly as LightGBM's own pandas conversion does it."""
        arr = np.empty(frame.shape, dtype=float)
        if not hasattr(self, "_wanted"):
            self._wanted = [pd.Index(c) for c in self.categories_]
        k = 0
        for j, (_, col) in enumerate(frame.items()):  # items(): half the cost of iloc here
            values = col.array
            if isinstance(col.dtype, pd.CategoricalDtype):
                wanted = self._wanted[k] if k < len(self._wanted) else None
                k += 1
                if wanted is not None and not values.categories.equals(wanted):
                    values = values.set_categories(wanted)
                codes = values.codes
                arr[:, j] = np.where(codes < 0, np.nan, codes)
            elif isinstance(values, pd.arrays.NumpyExtensionArray):
                arr[:, j] = np.asarray(values, dtype=float)
            else:  # nullable and Arrow-backed columns: NA becomes NaN, as LightGBM reads it
                arr[:, j] = values.to_numpy(dtype=float, na_value=np.nan)
        return arr

    def _attribute(self, xt: Any):
        if isinstance(xt, pd.DataFrame):
            xt = self._to_array(xt)
        # Threads cost more than they save on a few rows (a request's reason codes); big
        # batches use as many as the model was set up with, as LightGBM's own wrapper does.
        threads = 1 if len(xt) < 2000 else self.n_threads_
        xt = np.asarray(xt, dtype=float)
        patterns = self._patterns() if len(xt) >= PATTERN_MIN_ROWS else None
        if patterns is not None:
            contrib = patterns.contributions(xt, num_threads=threads)
        else:
            contrib = self.booster_.predict(xt, pred_contrib=True, num_threads=threads)
        phi, base = _split_bias(contrib, self.booster_.num_feature())
        out = self.booster_.predict(xt, raw_score=True, num_threads=threads)
        return phi, base, np.asarray(out, dtype=float)


class XGBoostExplainer(Explainer):
    """XGBoost's native TreeSHAP (``pred_contribs=True``); shap is not needed.

    XGBoost accumulates in float32, so additivity holds to about 1e-5, not 1e-12.
    """

    method = "tree_shap_xgboost"
    uses_background = False
    tolerance = 1e-4

    def _fit_estimator(self) -> None:
        est = self.estimator_
        self.booster_ = est.get_booster() if hasattr(est, "get_booster") else est
        config = json.loads(self.booster_.save_config())
        objective = config["learner"]["objective"]["name"]
        self.output_space_ = "log_odds" if objective.startswith("binary:") else "raw"
        if objective.startswith("multi:"):
            raise ValidationError("multiclass XGBoost models are not supported yet")
        if self.output not in (None, self.output_space_):
            raise ValidationError(f"XGBoost explains its raw margin ({self.output_space_})")
        self._xgb = require("xgboost", "xgboost")

    def _attribute(self, xt: Any):
        dm = self._xgb.DMatrix(xt, enable_categorical=True)
        phi, base = _split_bias(self.booster_.predict(dm, pred_contribs=True))
        out = self.booster_.predict(dm, output_margin=True)
        return phi, base, np.asarray(out, dtype=float)


# scikit-learn classifiers whose tree outputs are log-odds (boosting) rather than probabilities
_MARGIN_CLASSIFIERS = ("GradientBoostingClassifier",)


class SklearnTreeExplainer(Explainer):
    """scikit-learn trees, forests and gradient boosting via ``shap.TreeExplainer``.

    Forest and single-tree classifiers average leaf probabilities, so their natural output is
    the probability of the positive class; ``GradientBoostingClassifier`` is explained in
    log-odds.
    """

    method = "tree_shap"
    uses_background = False
    tolerance = 1e-6

    def _fit_estimator(self) -> None:
        shap = require("shap", "explain")
        est = self.estimator_
        self.explainer_ = shap.TreeExplainer(est)
        self.is_classifier_ = hasattr(est, "classes_")
        if self.is_classifier_ and len(est.classes_) != 2:
            raise ValidationError("only binary classifiers and regressors are supported")
        if not self.is_classifier_:
            self.output_space_ = "raw"
        elif type(est).__name__ in _MARGIN_CLASSIFIERS:
            self.output_space_ = "log_odds"
        else:
            self.output_space_ = "probability"

    def _model_output(self, xt: np.ndarray) -> np.ndarray:
        est = self.estimator_
        xt = as_fitted(est, xt)
        if self.output_space_ == "log_odds":
            return np.asarray(est.decision_function(xt), dtype=float).reshape(-1)
        if self.output_space_ == "probability":
            return est.predict_proba(xt)[:, 1]
        return np.asarray(est.predict(xt), dtype=float).reshape(-1)

    def _attribute(self, xt: Any):
        xt = np.asarray(xt, dtype=float)
        sv = self.explainer_.shap_values(xt, check_additivity=False)
        ev = np.atleast_1d(np.asarray(self.explainer_.expected_value, dtype=float))
        if isinstance(sv, list):  # older shap: one array per class
            sv = sv[-1]
        sv = np.asarray(sv, dtype=float)
        if sv.ndim == 3:  # (n, p, n_outputs): the positive class is the last one
            sv = sv[:, :, -1]
        base = np.full(len(xt), ev[-1])
        return sv, base, self._model_output(xt)
