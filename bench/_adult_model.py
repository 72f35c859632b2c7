"""The model both sides of the end-to-end registration benchmark fit: one definition.

Imported by ``bench/registry.py`` and by ``bench/peers/mlflow_registry.py`` (in MLflow's own
environment), so it needs only scikit-learn and pandas.
"""

from __future__ import annotations

from typing import Any

import pandas as pd

TARGET = "income"


def adult_pipeline(train: pd.DataFrame) -> Any:
    """A one-hot + scaled logistic regression on Adult, fitted on ``train`` (with ``income``)."""
    from sklearn.compose import ColumnTransformer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    x, y = split(train)
    categorical = [c for c in x.columns if not pd.api.types.is_numeric_dtype(x[c])]
    numeric = [c for c in x.columns if c not in categorical]
    pre = ColumnTransformer(
        [
            ("cat", OneHotEncoder(handle_unknown="ignore"), categorical),
            ("num", StandardScaler(), numeric),
        ]
    )
    return Pipeline([("pre", pre), ("clf", LogisticRegression(max_iter=300))]).fit(x, y)


def split(frame: pd.DataFrame) -> tuple[pd.DataFrame, pd.Series]:
    """(features, 0/1 label) of an Adult frame."""
    return frame.drop(columns=TARGET), (frame[TARGET] == ">50K").astype(int)
