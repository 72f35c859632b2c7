"""Fixtures for the engine tests: the UCI Adult data (``mlwarden.datasets``) and models on it."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from mlwarden.datasets import ADULT_COLUMNS, ADULT_NUMERIC, load_adult

COLUMNS = ADULT_COLUMNS
CATEGORICAL = [c for c in ADULT_COLUMNS[:-1] if c not in ADULT_NUMERIC]
NUMERIC = list(ADULT_NUMERIC)


@pytest.fixture(scope="session")
def adult_parts() -> tuple[pd.DataFrame, pd.DataFrame]:
    """(train 32,561 rows, test 16,281 rows); categoricals are ``category``, missing is NaN."""
    return load_adult()


@pytest.fixture(scope="session")
def adult_all(adult_parts) -> pd.DataFrame:
    """All 48,842 rows (train then test). Named apart from the root ``adult`` (a tuple)."""
    return pd.concat(adult_parts, ignore_index=True)


def to_model_frame(frame: pd.DataFrame, categories: dict | None = None) -> pd.DataFrame:
    """Features with pandas ``category`` dtypes, the form LightGBM/XGBoost take natively."""
    x = frame[COLUMNS[:-1]].copy()
    for c in CATEGORICAL:
        cats = categories[c] if categories else sorted(x[c].dropna().unique())
        x[c] = pd.Categorical(x[c], categories=cats)
    return x


@pytest.fixture(scope="session")
def adult_xy(adult_parts):
    """(X_train, y_train, X_test, y_test): category-typed features, 0/1 labels (1 = '>50K')."""
    train, test = adult_parts
    xtr = to_model_frame(train)
    cats = {c: list(xtr[c].cat.categories) for c in CATEGORICAL}
    xte = to_model_frame(test, cats)
    ytr = (train["income"] == ">50K").to_numpy(dtype=int)
    yte = (test["income"] == ">50K").to_numpy(dtype=int)
    return xtr, ytr, xte, yte


@pytest.fixture(scope="session")
def lgbm_model(adult_xy):
    """A small LightGBM classifier on Adult (native categorical handling)."""
    lightgbm = pytest.importorskip("lightgbm")
    xtr, ytr, _, _ = adult_xy
    model = lightgbm.LGBMClassifier(
        n_estimators=60, num_leaves=15, verbose=-1, random_state=0, n_jobs=1
    )
    return model.fit(xtr, ytr)


@pytest.fixture(scope="session")
def adult_test_predictions(adult_xy, lgbm_model):
    """(y_true, y_pred, y_score) of the LightGBM model on the Adult test set."""
    _, _, xte, yte = adult_xy
    score = lgbm_model.predict_proba(xte)[:, 1]
    return yte, (score >= 0.5).astype(int), score


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(0)


@pytest.fixture(scope="session")
def adult_pipelines(adult_xy):
    """Pipelines with a ColumnTransformer + OneHotEncoder: logistic regression and a forest."""
    from sklearn.compose import ColumnTransformer
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    xtr, ytr, _, _ = adult_xy
    xtr, ytr = xtr.iloc[:8000], ytr[:8000]  # plenty for the checks, quick on 2 cores
    linear = Pipeline(
        [
            (
                "pre",
                ColumnTransformer(
                    [
                        ("cat", OneHotEncoder(handle_unknown="ignore"), CATEGORICAL),
                        ("num", StandardScaler(), NUMERIC),
                    ]
                ),
            ),
            ("model", LogisticRegression(max_iter=1000)),
        ]
    ).fit(xtr, ytr)
    forest = Pipeline(
        [
            (
                "pre",
                ColumnTransformer(
                    [
                        (
                            "cat",
                            OneHotEncoder(handle_unknown="ignore", sparse_output=False),
                            CATEGORICAL,
                        )
                    ],
                    remainder="passthrough",
                ),
            ),
            (
                "model",
                RandomForestClassifier(n_estimators=20, max_depth=6, random_state=0, n_jobs=1),
            ),
        ]
    ).fit(xtr, ytr)
    return {"linear": linear, "forest": forest}


@pytest.fixture(scope="session")
def xgb_model(adult_xy):
    xgboost = pytest.importorskip("xgboost")
    xtr, ytr, _, _ = adult_xy
    model = xgboost.XGBClassifier(
        n_estimators=60, max_depth=4, enable_categorical=True, tree_method="hist", n_jobs=1
    )
    return model.fit(xtr, ytr)
