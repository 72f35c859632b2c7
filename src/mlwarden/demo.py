"""The end-to-end demo behind ``mlwarden demo`` and ``make demo``.

Trains two credit-risk models on the vendored Adult data, registers them with lineage and
evidence, moves aliases, and proves the stored model predicts exactly as the trained one.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from rich.console import Console
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

from mlwarden.client import Warden
from mlwarden.datasets import load_adult
from mlwarden.entities import Dataset

MODEL = "credit-risk"
INTENDED_USE = "Pre-screening of credit applications; not for final decisions."


def build_pipeline(kind: str) -> Any:
    from lightgbm import LGBMClassifier
    from sklearn.compose import make_column_selector, make_column_transformer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    encode = make_column_transformer(
        (
            OneHotEncoder(handle_unknown="ignore", min_frequency=20),
            make_column_selector(dtype_include="category"),
        ),
        (StandardScaler(), make_column_selector(dtype_include="number")),
        sparse_threshold=0,
    )
    if kind == "logistic":
        return make_pipeline(encode, LogisticRegression(max_iter=1000))
    # LightGBM reads pandas categoricals natively and is explained by exact TreeSHAP.
    return LGBMClassifier(
        n_estimators=200, learning_rate=0.05, num_leaves=31, verbose=-1, random_state=0
    )


def run_demo(wd: Warden, console: Console | None = None) -> dict[str, Any]:
    console = console or Console()
    results: dict[str, Any] = {}
    with Progress(
        SpinnerColumn(),
        TextColumn("{task.description}"),
        TimeElapsedColumn(),
        console=console,
        transient=False,
    ) as progress:
        step = progress.add_task("Loading the Adult census data", total=None)
        train, test = load_adult()
        X, y = train.drop(columns="income"), train["income"]
        Xt, yt = test.drop(columns="income"), test["income"]
        progress.update(
            step, description="Loaded Adult: 32,561 train / 16,281 test rows", completed=1, total=1
        )

        versions = []
        for kind in ("logistic", "boosting"):
            step = progress.add_task(f"Training and registering a {kind} pipeline", total=None)
            model = build_pipeline(kind).fit(X, y)
            mv = wd.register_model(
                MODEL,
                model,
                train=Dataset(X, y, name="adult-train"),
                eval=Dataset(Xt, yt, name="adult-test"),
                sensitive_features=["sex", "race"],
                owner="risk-team",
                risk_tier="high",
                intended_use=INTENDED_USE,
                description=f"{kind} pipeline on Adult",
            )
            versions.append((mv, model))
            progress.update(
                step,
                completed=1,
                total=1,
                description=f"Registered {mv.ref} (ROC AUC {mv.metrics['roc_auc']:.3f})",
            )

        step = progress.add_task("Moving aliases and reloading from the store", total=None)
        first, second = versions[0][0], versions[1][0]
        wd.set_alias(MODEL, "staging", second.version, reason="demo: newest candidate")
        wd.set_alias(MODEL, "production", first.version, reason="demo: baseline")
        loaded = wd.load_model(f"{MODEL}@staging")
        same = bool(np.array_equal(loaded.predict_proba(Xt), versions[1][1].predict_proba(Xt)))
        progress.update(
            step,
            completed=1,
            total=1,
            description=f"Reloaded {MODEL}@staging: identical predictions = {same}",
        )
    results.update(versions=[mv.ref for mv, _ in versions], identical_predictions=same)
    return results
