"""Fixtures for the engine tests: the UCI Adult data and models fitted on it.

The loader is local on purpose: ``mlwarden.datasets.load_adult()`` is being written in parallel;
once it lands these fixtures can call it instead (the frame layout below is the UCI one).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

ADULT_DIR = Path(os.environ.get("MLWARDEN_ADULT_DIR", "/work/shared/data/adult"))
COLUMNS = [
    "age",
    "workclass",
    "fnlwgt",
    "education",
    "education-num",
    "marital-status",
    "occupation",
    "relationship",
    "race",
    "sex",
    "capital-gain",
    "capital-loss",
    "hours-per-week",
    "native-country",
    "income",
]
CATEGORICAL = [
    "workclass",
    "education",
    "marital-status",
    "occupation",
    "relationship",
    "race",
    "sex",
    "native-country",
]
NUMERIC = [c for c in COLUMNS[:-1] if c not in CATEGORICAL]


def _read(path: Path, skiprows: int) -> pd.DataFrame:
    frame = pd.read_csv(
        path,
        header=None,
        names=COLUMNS,
        skipinitialspace=True,
        skiprows=skiprows,
        na_values="?",
    )
    # adult.test writes its labels with a trailing '.' ('>50K.')
    frame["income"] = frame["income"].str.rstrip(".")
    return frame


@pytest.fixture(scope="session")
def adult_parts() -> tuple[pd.DataFrame, pd.DataFrame]:
    """(train 32,561 rows, test 16,281 rows) as read from the UCI files; missing is NaN."""
    if not (ADULT_DIR / "adult.data").exists():
        pytest.skip(f"Adult data not found in {ADULT_DIR}")
    return _read(ADULT_DIR / "adult.data", 0), _read(ADULT_DIR / "adult.test", 1)


@pytest.fixture(scope="session")
def adult(adult_parts) -> pd.DataFrame:
    """All 48,842 rows (train then test)."""
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
