"""The one-row LightGBM predictor gives exactly what ``Booster.predict`` gives."""

from __future__ import annotations

import sys

import lightgbm as lgb
import numpy as np
import pytest

from mlwarden.serving.lightgbm_row import SingleRowPredictor


def _data(n: int = 600, k: int = 6, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, k))
    X[rng.random(size=X.shape) < 0.05] = np.nan  # missing values take the trees' default path
    return X, X[:, 0] - 2 * np.nan_to_num(X[:, 1]) + rng.normal(scale=0.3, size=n)


@pytest.mark.parametrize(
    ("params", "target"),
    [
        ({"objective": "binary"}, lambda y: (y > 0).astype(int)),
        ({"objective": "multiclass", "num_class": 3}, lambda y: np.digitize(y, [-1, 1])),
        ({"objective": "regression"}, lambda y: y),
    ],
    ids=["binary", "multiclass", "regression"],
)
def test_equals_booster_predict(params, target):
    X, y = _data()
    booster = lgb.train({**params, "verbose": -1, "num_leaves": 15}, lgb.Dataset(X, target(y)), 40)
    single = SingleRowPredictor(booster)
    expected = booster.predict(X[:50], num_threads=1)
    for i in range(50):
        got = single.predict(np.ascontiguousarray(X[i]))
        np.testing.assert_allclose(got, np.atleast_1d(expected[i]), rtol=1e-12, atol=0)


def test_best_iteration_is_used_as_booster_predict_does():
    X, y = _data()
    train, valid = lgb.Dataset(X[:400], y[:400]), lgb.Dataset(X[400:], y[400:])
    booster = lgb.train(
        {"objective": "regression", "verbose": -1, "learning_rate": 0.5},
        train,
        200,
        valid_sets=[valid],
        callbacks=[lgb.early_stopping(3, verbose=False)],
        keep_training_booster=True,  # keeps the trees after the best iteration
    )
    assert 0 < booster.best_iteration < booster.current_iteration()
    single = SingleRowPredictor(booster)
    row = np.ascontiguousarray(X[7])
    assert single.predict(row)[0] == pytest.approx(booster.predict(X[7:8])[0], rel=1e-12)
    assert single.predict(row)[0] != pytest.approx(
        booster.predict(X[7:8], num_iteration=-1)[0], rel=1e-9
    )


def test_a_row_of_the_wrong_shape_is_refused():
    X, y = _data()
    booster = lgb.train({"objective": "regression", "verbose": -1}, lgb.Dataset(X, y), 5)
    single = SingleRowPredictor(booster)
    assert single.predict(np.zeros(X.shape[1])).shape == (1,)
    for bad in (np.zeros(X.shape[1] - 1), np.zeros((1, X.shape[1])), np.zeros(12)[::2]):
        with pytest.raises(ValueError, match="contiguous float64 row of 6"):
            single.predict(bad)


def test_threads_sharing_one_predictor_each_get_their_own_row():
    from concurrent.futures import ThreadPoolExecutor

    X, y = _data()
    booster = lgb.train({"objective": "regression", "verbose": -1}, lgb.Dataset(X, y), 30)
    single = SingleRowPredictor(booster)
    expected = booster.predict(X, num_threads=1)
    rows = [np.ascontiguousarray(r) for r in X]

    def run(offset: int) -> bool:
        return all(
            single.predict(rows[(offset + i) % len(rows)])[0] == expected[(offset + i) % len(rows)]
            for i in range(2000)
        )

    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)  # switch threads as often as possible
    try:
        with ThreadPoolExecutor(8) as pool:
            assert all(pool.map(run, range(0, 8 * 75, 75)))
    finally:
        sys.setswitchinterval(interval)


def test_predict_values_equals_predict():
    X, y = _data()
    booster = lgb.train({"objective": "multiclass", "num_class": 3, "verbose": -1},
                        lgb.Dataset(X, np.digitize(y, [-1, 1])), 10)  # fmt: skip
    single = SingleRowPredictor(booster)
    for row in X[:20]:
        assert (
            single.predict_values(row.tolist())
            == single.predict(np.ascontiguousarray(row)).tolist()
        )
