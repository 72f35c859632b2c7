"""Explanation engine: additivity, mapping to original columns, reason codes, importance."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from mlwarden.engines.explain import (
    Explainer,
    Explanation,
    ReasonCode,
    background_hash,
    explainer_for,
    mean_abs_shap,
)
from mlwarden.errors import MissingDependency, ValidationError

N_EXPLAIN = 200


@pytest.fixture(scope="module")
def rows(adult_xy):
    return adult_xy[2].iloc[:N_EXPLAIN]


@pytest.fixture(scope="module")
def background(adult_xy):
    return adult_xy[0].iloc[:2000]


def _check(exp: Explanation, rows: pd.DataFrame, method: str, space: str, tol: float) -> None:
    assert isinstance(exp, Explanation)
    assert exp.values.shape == rows.shape
    assert exp.feature_names == list(rows.columns)  # the ORIGINAL columns, none dropped
    assert (exp.method, exp.output_space) == (method, space)
    np.testing.assert_allclose(exp.base_values + exp.values.sum(axis=1), exp.output, atol=tol)
    assert exp.max_abs_residual <= tol and exp.additive


@pytest.mark.filterwarnings("ignore:LightGBM binary classifier:UserWarning")
def test_lightgbm_native_additive_and_equals_shap(lgbm_model, rows):
    exp = explainer_for(lgbm_model).explain(rows)
    _check(exp, rows, "tree_shap_lightgbm", "log_odds", 1e-6)
    np.testing.assert_allclose(exp.output, lgbm_model.predict(rows, raw_score=True))
    assert exp.background_hash is None and exp.seed == 0
    shap = pytest.importorskip("shap")
    sv = shap.TreeExplainer(lgbm_model).shap_values(rows)
    sv = sv[1] if isinstance(sv, list) else sv
    np.testing.assert_allclose(exp.values, sv, atol=1e-9)


def test_xgboost_native_additive(xgb_model, rows):
    exp = explainer_for(xgb_model).explain(rows)
    # XGBoost sums in float32: additive to ~3e-6, documented tolerance 1e-4
    _check(exp, rows, "tree_shap_xgboost", "log_odds", 1e-4)
    assert exp.tolerance == 1e-4


def test_forest_in_pipeline_maps_one_hot_back(adult_pipelines, rows):
    pytest.importorskip("shap")
    forest = adult_pipelines["forest"]
    explainer = explainer_for(forest)
    exp = explainer.explain(rows)
    _check(exp, rows, "tree_shap", "probability", 1e-6)
    np.testing.assert_allclose(exp.output, forest.predict_proba(rows)[:, 1])
    # summing the transformed attributions of each source column by hand gives the same
    xt = explainer.transform(rows)
    phi_t, _, _ = explainer._attribute(xt)
    names = forest[:-1].get_feature_names_out()
    for j, col in enumerate(rows.columns):
        own = [
            i
            for i, n in enumerate(names)
            if n == f"remainder__{col}" or n.startswith(f"cat__{col}_")
        ]
        np.testing.assert_allclose(exp.values[:, j], phi_t[:, own].sum(axis=1), atol=1e-12)


def test_logistic_pipeline_exact_and_matches_permutation(adult_pipelines, rows, background):
    linear = adult_pipelines["linear"]
    exp = explainer_for(linear, background).explain(rows)
    _check(exp, rows, "linear_exact", "log_odds", 1e-6)
    np.testing.assert_allclose(exp.output, linear.decision_function(rows))
    assert exp.background_hash == background_hash(
        background.iloc[np.sort(np.random.default_rng(0).choice(2000, 200, replace=False))]
    )
    # The logit is additive in the original columns, so permutation SHAP in log-odds on the
    # same background must give the exact values whatever the permutations drawn.
    perm = explainer_for(
        linear, background, method="permutation", output="log_odds", n_permutations=2
    ).explain(rows.iloc[:20])
    np.testing.assert_allclose(perm.values, exp.values[:20], atol=1e-8)
    np.testing.assert_allclose(perm.base_values, exp.base_values[:20], atol=1e-8)


def test_generic_model_uses_permutation(adult_pipelines, rows, background):
    # naive Bayes: neither a tree nor linear, single-threaded and quick on 2 shared cores
    from sklearn.base import clone
    from sklearn.naive_bayes import GaussianNB
    from sklearn.pipeline import Pipeline

    model = Pipeline([("pre", clone(adult_pipelines["forest"][0])), ("model", GaussianNB())])
    model.fit(background, np.arange(len(background)) % 3 == 0)
    explainer = explainer_for(model, background, max_background=40, seed=3)
    exp = explainer.explain(rows.iloc[:10])
    _check(exp, rows.iloc[:10], "permutation_shap", "probability", 1e-8)
    np.testing.assert_allclose(exp.output, model.predict_proba(rows.iloc[:10])[:, 1])
    assert exp.seed == 3 and len(exp.background_hash) == 64
    again = explainer_for(model, background, max_background=40, seed=3).explain(rows.iloc[:10])
    np.testing.assert_array_equal(exp.values, again.values)
    with pytest.raises(ValidationError):
        explainer_for(model)  # permutation needs background


def test_reason_codes(lgbm_model, rows):
    exp = explainer_for(lgbm_model).explain(rows)
    codes = exp.reason_codes(k=3, row=4)
    assert len(codes) == 3 and all(isinstance(c, ReasonCode) for c in codes)
    mags = [abs(c.contribution) for c in codes]
    assert mags == sorted(mags, reverse=True)
    assert mags[0] == pytest.approx(np.abs(exp.values[4]).max())
    c = codes[0]
    assert c.value == rows.iloc[4][c.feature] or pd.isna(rows.iloc[4][c.feature])
    verb = "raised" if c.contribution > 0 else "lowered"
    assert c.direction == verb
    assert c.text.startswith(f"{c.feature} = ") and f"{verb} the score by" in c.text
    lowered = exp.reason_codes(k=5, row=4, direction="lowered")
    assert all(r.contribution < 0 for r in lowered)
    json.dumps([r.to_dict() for r in codes])
    logged = json.loads(json.dumps(exp.row_dict(4, k=3)))
    assert list(logged["contributions"]) == [c.feature for c in codes]
    assert logged["output_space"] == "log_odds" and abs(logged["residual"]) < 1e-9


def test_global_importance_and_summary(lgbm_model, rows):
    explainer = explainer_for(lgbm_model)
    imp = explainer.global_importance(rows)
    assert list(imp) == sorted(imp, key=imp.get, reverse=True)
    assert set(imp) == set(rows.columns)
    exp = explainer.explain(rows)
    assert imp == mean_abs_shap(exp.values, exp.feature_names)
    summary = json.loads(json.dumps(explainer.importance_summary(rows)))
    assert summary["method"] == "tree_shap_lightgbm" and summary["n_rows"] == N_EXPLAIN
    assert summary["importance"] == pytest.approx(imp)
    assert summary["max_abs_residual"] < 1e-6


def test_columns_in_another_order_are_realigned(adult_pipelines, rows, background):
    linear = adult_pipelines["linear"]
    explainer = explainer_for(linear, background)
    shuffled = rows[list(reversed(rows.columns))]
    a, b = explainer.explain(rows), explainer.explain(shuffled)
    assert b.feature_names == list(rows.columns)
    np.testing.assert_allclose(a.values, b.values)
    with pytest.raises(ValidationError, match="lacks"):
        explainer.explain(rows.drop(columns="age"))


def test_single_row_and_numpy_input(adult_pipelines, background):
    from sklearn.linear_model import LinearRegression

    x = background[["age", "hours-per-week", "education-num"]].to_numpy(dtype=float)
    y = x @ np.array([0.5, 0.1, 2.0]) + 1.0
    model = LinearRegression().fit(x, y)
    explainer = explainer_for(model, x)
    assert isinstance(explainer, Explainer)
    exp = explainer.explain(x[0])
    assert exp.feature_names == ["x0", "x1", "x2"] and exp.output_space == "raw"
    np.testing.assert_allclose(explainer.mean_, explainer.background_.mean(axis=0))
    np.testing.assert_allclose(exp.values[0], model.coef_ * (x[0] - explainer.mean_))
    assert exp.max_abs_residual < 1e-9


def test_unmappable_transform_raises_not_drops(background):
    from sklearn.decomposition import PCA
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline

    x = background[["age", "hours-per-week", "education-num"]].astype(float)
    model = make_pipeline(PCA(2), LogisticRegression()).fit(x, x["age"] > 40)
    with pytest.raises(ValidationError, match="permutation"):
        explainer_for(model, x)
    exp = explainer_for(model, x, method="permutation", max_background=30).explain(x.iloc[:3])
    assert exp.feature_names == list(x.columns) and exp.additive


def test_lime_is_optional(lgbm_model, background):
    try:
        import lime  # noqa: F401
    except ImportError:
        with pytest.raises(MissingDependency, match="lime"):
            explainer_for(lgbm_model, background, method="lime")
    else:  # pragma: no cover - only where the extra is installed
        pytest.skip("lime installed")


def test_background_hash_is_stable(background):
    assert background_hash(background) == background_hash(background.copy())
    assert background_hash(background) != background_hash(background.iloc[1:])
    arr = np.arange(6.0).reshape(3, 2)
    assert background_hash(arr) == background_hash(arr.copy())


def test_lime_glue_with_a_stand_in_module(monkeypatch, background):
    """The LIME wrapper's arithmetic, against a stand-in whose surrogate is exactly linear."""
    import sys
    import types

    from sklearn.linear_model import LinearRegression
    from sklearn.preprocessing import StandardScaler

    x = background[["age", "hours-per-week", "education-num"]].astype(float)
    model = LinearRegression().fit(x, x.to_numpy() @ np.array([0.5, 0.1, 2.0]) + 1.0)

    class FakeExplanation:
        def __init__(self, weights, intercept):
            self._map = {1: list(enumerate(weights)), 0: [(j, -w) for j, w in enumerate(weights)]}
            self.intercept = {0: intercept, 1: intercept}

        def as_map(self):
            return self._map

    class FakeLime:
        def __init__(self, data, **kwargs):
            assert kwargs["mode"] == "regression" and kwargs["discretize_continuous"] is False
            self.scaler = StandardScaler().fit(data)

        def explain_instance(self, row, predict_fn, labels, num_features, num_samples):
            # LIME fits on z-scores: exact surrogate weights are coef * scale
            w = model.coef_ * self.scaler.scale_
            return FakeExplanation(w, float(model.intercept_ + model.coef_ @ self.scaler.mean_))

    lime_mod = types.ModuleType("lime")
    tabular = types.ModuleType("lime.lime_tabular")
    tabular.LimeTabularExplainer = FakeLime
    lime_mod.lime_tabular = tabular
    monkeypatch.setitem(sys.modules, "lime", lime_mod)
    monkeypatch.setitem(sys.modules, "lime.lime_tabular", tabular)
    exp = explainer_for(model, x, method="lime").explain(x.iloc[:5])
    assert exp.method == "lime" and exp.output_space == "raw" and exp.tolerance == float("inf")
    assert exp.max_abs_residual < 1e-9


def test_feature_map_indicators_and_shared_outputs():
    from sklearn.compose import ColumnTransformer
    from sklearn.impute import SimpleImputer
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder, PolynomialFeatures

    from mlwarden.engines.explain.mapping import feature_map

    x = pd.DataFrame(
        {"age": [20.0, np.nan, 40.0], "wage": [1.0, 2.0, np.nan], "c": ["a", "b", "a"]}
    )
    ct = ColumnTransformer(
        [
            ("num", SimpleImputer(add_indicator=True), ["age", "wage"]),
            ("cat", OneHotEncoder(drop="first"), ["c"]),
        ]
    ).fit(x)
    m, notes = feature_map(ct, list(x.columns))
    # outputs: age, wage, missingindicator_age, missingindicator_wage, c_b
    np.testing.assert_array_equal(m, [[1, 0, 0], [0, 1, 0], [1, 0, 0], [0, 1, 0], [0, 0, 1]])
    assert notes == []
    poly = make_pipeline(SimpleImputer(), PolynomialFeatures(2)).fit(x[["age", "wage"]])
    m, notes = feature_map(poly, ["age", "wage"])
    assert np.allclose(m.sum(axis=1), 1.0) and any("split equally" in n for n in notes)


def test_reason_codes_state_their_unit_skip_zeros_and_protected_features(lgbm_model, rows):
    exp = explainer_for(lgbm_model).explain(rows)
    codes = exp.reason_codes(k=3, row=4)
    assert {c.unit for c in codes} == {"log_odds"} and "(log-odds)" in codes[0].text
    # in probability points: additive, same signs and ranking as the log-odds contributions
    prob = exp.contributions(4, units="probability")
    base, out = exp.base_values[4], exp.base_values[4] + exp.values[4].sum()
    assert prob.sum() == pytest.approx(1 / (1 + np.exp(-out)) - 1 / (1 + np.exp(-base)))
    assert np.array_equal(np.sign(prob), np.sign(exp.values[4]))
    in_points = exp.reason_codes(k=3, row=4, units="probability")
    assert [c.feature for c in in_points] == [c.feature for c in codes]
    assert in_points[0].unit == "probability" and "percentage points" in in_points[0].text
    # a protected attribute is never cited; its share is reported apart
    top = codes[0].feature
    kept = exp.reason_codes(k=3, row=4, exclude=[top])
    assert top not in [c.feature for c in kept] and len(kept) == 3
    assert exp.excluded_contribution([top], row=4) == pytest.approx(codes[0].contribution)
    # zero contributions are no reason: a row whose lowering terms are all zero lists none
    exp.values[4] = np.where(exp.values[4] < 0, 0.0, exp.values[4])
    assert exp.reason_codes(k=5, row=4, direction="lowered") == []
    raw = Explanation(
        exp.values, exp.base_values, exp.output, exp.data, method="tree_shap",
        output_space="raw", background_hash=None, seed=None, tolerance=1.0,
    )  # fmt: skip
    with pytest.raises(ValidationError, match="cannot be given in probability"):
        raw.reason_codes(units="probability")
