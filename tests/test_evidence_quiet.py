"""Issue 15 item 11: Warden's own evidence, explanation, serving and monitoring code passes data
in the form the model was fitted on, so a model fitted on arrays (or on frames) and registered
with the other form raises no scikit-learn feature-name warning."""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd
import pytest
from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.neighbors import KNeighborsClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from mlwarden import Dataset, Warden
from mlwarden.engines.fitted import as_fitted
from mlwarden.serving.core import served_for

MODELS: dict[str, Callable[[], Any]] = {
    "logistic": lambda: LogisticRegression(),
    "pipeline": lambda: make_pipeline(StandardScaler(), LogisticRegression()),
    "forest": lambda: RandomForestClassifier(n_estimators=5, random_state=0),
    # no tree, no coef_: explained by permutation SHAP on the whole model
    "knn": lambda: KNeighborsClassifier(n_neighbors=5),
}


def _data(n: int = 240) -> tuple[pd.DataFrame, np.ndarray]:
    rng = np.random.default_rng(0)
    X = pd.DataFrame(
        {"income": rng.normal(50, 10, n), "debt": rng.normal(10, 3, n), "age": rng.normal(40, 9, n)}
    )
    y = ((X.income - 3 * X.debt + rng.normal(0, 5, n)) > 20).astype(int).to_numpy()
    return X, y


def _feature_name_warnings(caught: list[warnings.WarningMessage]) -> list[str]:
    return [
        str(w.message)
        for w in caught
        if issubclass(w.category, UserWarning) and "feature names" in str(w.message)
    ]


@pytest.mark.parametrize("fitted_on", ["arrays", "frames"])
@pytest.mark.parametrize("kind", sorted(MODELS))
def test_register_serve_and_monitor_emit_no_feature_name_warning(tmp_path, kind, fitted_on):
    X, y = _data()
    model = MODELS[kind]().fit(X.to_numpy() if fitted_on == "arrays" else X, y)
    wd = Warden(f"sqlite:///{tmp_path}/w.db")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        mv = wd.register_model(
            "quiet", model, train=Dataset(X[:160], y[:160]), eval=Dataset(X[160:], y[160:])
        )
        explain = wd.get_evidence(mv.ref, "explain")
        served = served_for(mv, wd.load_model(mv.ref))
        records = X[:5].to_dict("records")
        pred = served.predict(records)
        wd.log_predictions("quiet", X, pred.outputs[:1] * len(X), scores=[0.5] * len(X))
        report = wd.monitor("quiet", window="1000rows", explain=True)
    assert _feature_name_warnings(caught) == []
    assert explain["status"] == "ok", explain
    assert len(pred.outputs) == 5
    assert report.windows


def test_as_fitted_gives_each_model_its_own_form():
    X, y = _data(60)
    on_frames = LogisticRegression().fit(X, y)
    on_arrays = LogisticRegression().fit(X.to_numpy(), y)
    framed = as_fitted(on_frames, X.to_numpy())
    assert isinstance(framed, pd.DataFrame) and list(framed.columns) == list(X.columns)
    assert isinstance(as_fitted(on_arrays, X), np.ndarray)
    assert as_fitted(on_frames, X) is X
    plain = object()  # states nothing about how it was fitted: left alone
    assert as_fitted(plain, X) is X
