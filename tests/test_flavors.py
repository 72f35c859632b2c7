"""Every flavor saves and loads to identical predictions, through the real store."""

from __future__ import annotations

import numpy as np
import pytest

import mlwarden as mw


@pytest.fixture
def local(tmp_path):
    wd = mw.Warden(f"sqlite:///{tmp_path / 'w.db'}", artifacts=str(tmp_path / "a"))
    yield wd
    wd.close()


@pytest.fixture(scope="module")
def numeric(small_adult):
    train, test = small_adult
    cols = ["age", "education-num", "capital-gain", "capital-loss", "hours-per-week"]
    return (
        train[cols].astype("float64"),
        (train["income"] == ">50K").astype(int),
        test[cols].astype("float64"),
    )


def test_lightgbm_classifier_with_categoricals(local, small_adult):
    lgb = pytest.importorskip("lightgbm")
    train, test = small_adult
    X, y = train.drop(columns="income"), train["income"]
    model = lgb.LGBMClassifier(n_estimators=30, verbose=-1).fit(X, y)
    mv = local.register_model(
        "lgb", model, eval=mw.Dataset(test.drop(columns="income"), test["income"])
    )
    assert mv.flavor == "lightgbm" and mv.flavor_info["libraries"]["lightgbm"]
    loaded = local.load_model("lgb@1")
    Xt = test.drop(columns="income")
    np.testing.assert_allclose(loaded.predict_proba(Xt), model.predict_proba(Xt))
    np.testing.assert_array_equal(loaded.predict(Xt), model.predict(Xt))
    assert mv.metrics["roc_auc"] > 0.85


def test_lightgbm_booster(local, numeric):
    lgb = pytest.importorskip("lightgbm")
    X, y, Xt = numeric
    booster = lgb.train({"objective": "binary", "verbose": -1}, lgb.Dataset(X, y), 20)
    local.register_model("booster", booster)
    np.testing.assert_allclose(local.load_model("booster").predict(Xt), booster.predict(Xt))


def test_xgboost_classifier(local, numeric):
    xgb = pytest.importorskip("xgboost")
    X, y, Xt = numeric
    model = xgb.XGBClassifier(n_estimators=20, max_depth=3).fit(X, y)
    mv = local.register_model("xgb", model, eval=mw.Dataset(X, y))
    assert mv.flavor == "xgboost"
    np.testing.assert_allclose(local.load_model("xgb").predict_proba(Xt), model.predict_proba(Xt))


def test_onnx_model(local, numeric):
    pytest.importorskip("onnxruntime")
    skl2onnx = pytest.importorskip("skl2onnx")
    from skl2onnx.common.data_types import FloatTensorType
    from sklearn.linear_model import LogisticRegression

    X, y, Xt = numeric
    sk = LogisticRegression(max_iter=500).fit(X, y)
    onx = skl2onnx.convert_sklearn(
        sk,
        initial_types=[("X", FloatTensorType([None, X.shape[1]]))],
        options={id(sk): {"zipmap": False}},
    )
    mv = local.register_model("onnx", onx, eval=mw.Dataset(X, y))
    assert mv.flavor == "onnx" and "roc_auc" in mv.metrics
    loaded = local.load_model("onnx")
    np.testing.assert_allclose(loaded.predict_proba(Xt), sk.predict_proba(Xt), atol=1e-5)


def test_generic_flavor_with_user_functions(local, numeric):
    from _generic_model import ThresholdModel, load, save

    X, y, Xt = numeric
    model = ThresholdModel("age", 40.0)
    mv = local.register_model("rule", model, save_fn=save, load_fn=load, eval=mw.Dataset(X, y))
    assert mv.flavor == "generic" and mv.flavor_info["loader"] == "_generic_model:load"
    np.testing.assert_array_equal(local.load_model("rule").predict(Xt), model.predict(Xt))


def test_generic_flavor_refuses_lambdas(local, numeric):
    from _generic_model import ThresholdModel, save

    with pytest.raises(mw.ValidationError, match="importable module-level function"):
        local.register_model("rule", ThresholdModel("age", 1), save_fn=save, load_fn=lambda p: None)


def test_skops_refuses_types_not_trusted_at_registration(local, fitted_pipeline, small_adult):
    from mlwarden.registry.flavors.sklearn import SklearnFlavor

    data, info = SklearnFlavor().save(fitted_pipeline)
    info = dict(info, trusted_types=[])  # as if the record were edited to trust nothing
    with pytest.raises(mw.IntegrityError, match="not trusted at registration"):
        SklearnFlavor().load(data, info)
