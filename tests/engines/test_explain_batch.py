"""Batch explanations: native TreeSHAP values equal shap's; batch reason codes equal one-row ones.

Synthetic data with categorical features, NaNs, exact zeros and values on split thresholds, so
every branch of LightGBM's decision logic (mirrored by the per-pattern batch path) is exercised.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from mlwarden.engines.explain import explainer_for
from mlwarden.engines.explain.tree import PATTERN_MIN_ROWS

lightgbm = pytest.importorskip("lightgbm")
shap = pytest.importorskip("shap")

N_ROWS = max(2500, PATTERN_MIN_ROWS)
TIGHT = {"rtol": 1e-9, "atol": 1e-9}


def _frame(n: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    x = pd.DataFrame(
        {
            "num": rng.normal(size=n),
            "ints": rng.integers(0, 12, size=n).astype(float),  # rows sit exactly on thresholds
            "sparse": np.where(rng.random(n) < 0.5, 0.0, rng.normal(size=n)),
            "gaps": np.where(rng.random(n) < 0.15, np.nan, rng.normal(size=n)),
            "color": pd.Categorical(rng.choice(list("abcdefg"), size=n)),
            "city": pd.Categorical(rng.choice(["x", "y", "z", None], size=n)),
        }
    )
    return x


def _target(x: pd.DataFrame, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return (
        x["num"]
        + 0.3 * x["ints"]
        - x["sparse"]
        + np.nan_to_num(x["gaps"].to_numpy())
        + x["color"].cat.codes * 0.4
        - (x["city"] == "y") * 1.0
        + rng.normal(scale=0.5, size=len(x))
    ).to_numpy()


def _shap(model, x):
    sv = shap.TreeExplainer(model).shap_values(x)
    return np.asarray(sv[-1] if isinstance(sv, list) else sv)


@pytest.fixture(scope="module")
def data():
    train, test = _frame(4000, 0), _frame(N_ROWS, 1)
    test.loc[test.index[:50], "num"] = np.nan  # NaN where training had none (missing: None)
    return train, _target(train, 2), test


@pytest.mark.filterwarnings("ignore:LightGBM binary classifier:UserWarning")
@pytest.mark.parametrize(
    "kind,params",
    [
        ("binary", {}),
        ("regression", {}),
        ("regression", {"zero_as_missing": True}),  # missing_type Zero
        ("regression", {"num_leaves": 100}),  # more than 64 splits: patterns over 8 bytes
    ],
)
def test_lightgbm_batch_equals_shap_and_pred_contrib(data, kind, params):
    train, y, test = data
    cls = lightgbm.LGBMClassifier if kind == "binary" else lightgbm.LGBMRegressor
    target = (y > np.median(y)).astype(int) if kind == "binary" else y
    model = cls(**{"n_estimators": 40, "num_leaves": 31, "verbose": -1, "n_jobs": 1, **params})
    model.fit(train, target)
    explainer = explainer_for(model)
    exp = explainer.explain(test)
    assert explainer.patterns_ is not None  # the per-pattern batch path was taken
    np.testing.assert_allclose(exp.values, _shap(model, test), **TIGHT)
    native = model.predict(test, pred_contrib=True)
    np.testing.assert_allclose(exp.values, native[:, :-1], **TIGHT)
    np.testing.assert_allclose(exp.base_values, native[:, -1], **TIGHT)
    assert exp.additive
    # a small batch goes through LightGBM's one call: same numbers
    small = explainer.explain(test.iloc[:7])
    np.testing.assert_allclose(small.values, exp.values[:7], **TIGHT)


def test_xgboost_native_equals_shap(data):
    xgboost = pytest.importorskip("xgboost")
    train, y, test = data
    for kind in ("binary", "regression"):
        if kind == "binary":
            model = xgboost.XGBClassifier(n_estimators=30, enable_categorical=True, n_jobs=1)
            model.fit(train, (y > np.median(y)).astype(int))
        else:
            model = xgboost.XGBRegressor(n_estimators=30, enable_categorical=True, n_jobs=1)
            model.fit(train, y)
        exp = explainer_for(model).explain(test)
        assert exp.method == "tree_shap_xgboost"
        # both call XGBoost's pred_contribs; XGBoost works in float32
        np.testing.assert_allclose(exp.values, _shap(model, test), rtol=1e-6, atol=1e-6)
        assert exp.additive


@pytest.mark.filterwarnings("ignore:LightGBM binary classifier:UserWarning")
def test_batch_reason_codes_equal_one_row_codes(data):
    train, y, test = data
    model = lightgbm.LGBMClassifier(n_estimators=30, verbose=-1, n_jobs=1)
    model.fit(train, (y > np.median(y)).astype(int))
    exp = explainer_for(model).explain(test.iloc[:600])
    for options in (
        {"k": 3},
        {"k": 2, "direction": "lowered", "exclude": ["color"]},
        {"k": 4, "direction": "raised", "units": "probability"},
    ):
        batch = exp.reason_codes_all(**options)
        assert len(batch) == len(exp)
        assert batch == [exp.reason_codes(row=i, **options) for i in range(len(exp))]
    assert any(c.value is None for codes in exp.reason_codes_all(k=6) for c in codes)  # NaN
    left_out = ["city", "num"]
    np.testing.assert_array_equal(
        exp.excluded_contributions(left_out, units="probability"),
        [exp.excluded_contribution(left_out, row=i, units="probability") for i in range(len(exp))],
    )


@pytest.mark.parametrize("fallback", ["lightgbm_per_pattern", "sorted_codes"])
def test_lightgbm_batch_fallbacks_equal_pred_contrib(data, monkeypatch, fallback):
    from mlwarden.engines.explain import lightgbm_batch

    train, y, test = data
    model = lightgbm.LGBMRegressor(n_estimators=20, num_leaves=15, verbose=-1, n_jobs=1)
    model.fit(train, y)
    if fallback == "lightgbm_per_pattern":
        # trees with paths of more features than the narrowest tree's go to LightGBM
        widths = [
            lv.feature.shape[1] for lv in lightgbm_batch.PatternTreeShap(model.booster_).leaves
        ]
        assert min(widths) < max(widths)
        monkeypatch.setattr(lightgbm_batch, "_MAX_PLAYERS", min(widths))
    else:  # distinct (leaf, code) pairs found by sorting instead of a lookup table
        monkeypatch.setattr(lightgbm_batch, "_TABLE_SLOTS", 0)
    explainer = explainer_for(model)
    exp = explainer.explain(test)
    solved_here = [leaves is not None for leaves in explainer.patterns_.leaves]
    assert any(solved_here)
    assert all(solved_here) == (fallback == "sorted_codes")  # both paths ran in one batch
    native = model.predict(test, pred_contrib=True)
    np.testing.assert_allclose(exp.values, native[:, :-1], **TIGHT)
    np.testing.assert_allclose(exp.base_values, native[:, -1], **TIGHT)


def test_lightgbm_batch_single_leaf_trees(data):
    train, y, test = data
    # no split can keep this many rows on both sides: every tree is one leaf
    model = lightgbm.LGBMRegressor(
        n_estimators=3, min_child_samples=len(train), verbose=-1, n_jobs=1
    ).fit(train, y)
    exp = explainer_for(model).explain(test)
    native = model.predict(test, pred_contrib=True)
    np.testing.assert_array_equal(exp.values, 0.0)
    np.testing.assert_allclose(exp.base_values, native[:, -1], **TIGHT)
