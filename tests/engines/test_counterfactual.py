"""The counterfactual search on its own: exact boundaries, constraints kept, nothing invented."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from mlwarden.engines.counterfactual import FeatureSpace, find_counterfactual, tree_thresholds


def _black_box(records):
    """Approves when income - 2 * debt > 3.14159, or when the plan is gold."""
    return [
        "yes" if r["plan"] == "gold" or r["income"] - 2 * r["debt"] > 3.14159 else "no"
        for r in records
    ]


ROW = {"income": 2.0, "debt": 0.5, "plan": "basic"}


def test_bisection_finds_the_boundary_of_a_black_box():
    spaces = [FeatureSpace("income", low=0, high=10, scale=1.0)]
    cf = find_counterfactual(_black_box, ROW, spaces)
    assert cf.method == "grid + bisection" and cf.output_after == "yes"
    assert cf.after == pytest.approx(4.14159, abs=1e-5) and cf.after > 4.14159


def test_the_cheapest_feature_wins_and_constraints_hold():
    spaces = [
        FeatureSpace("income", low=0, high=10, scale=1.0),
        FeatureSpace("debt", low=0, high=5, scale=0.1),  # a tenth is a whole unit of cost
        FeatureSpace("plan", "category", categories=("basic", "gold")),
    ]
    cf = find_counterfactual(_black_box, ROW, spaces)
    # income +2.14 costs 2.14; debt can only reach 0 (cost 5) without flipping; plan costs 1
    assert (cf.feature, cf.after, cf.cost) == ("plan", "gold", 1.0)
    # income may only decrease: no flip that way; debt is the only lever left and cannot flip
    only_down = [FeatureSpace("income", low=0, high=10, direction="-"), spaces[1]]
    assert find_counterfactual(_black_box, ROW, only_down) is None


def test_tree_thresholds_are_exact_and_integer_features_land_on_whole_numbers():
    from sklearn.tree import DecisionTreeClassifier

    rng = np.random.default_rng(0)
    X = pd.DataFrame({"age": rng.integers(18, 80, 500), "hours": rng.integers(1, 80, 500)})
    y = np.where((X["age"] > 40) & (X["hours"] > 30), "hi", "lo")
    model = DecisionTreeClassifier(random_state=0).fit(X, y)

    def predict(records):
        return list(model.predict(pd.DataFrame(records)[["age", "hours"]]))

    assert set(tree_thresholds(model, "age")) and tree_thresholds(model, "nope") is None
    row = {"age": 30, "hours": 50}
    spaces = [FeatureSpace("age", low=18, high=80, scale=10, integer=True)]
    cf = find_counterfactual(predict, row, spaces, model=model)
    assert cf.method == "tree thresholds" and isinstance(cf.after, int)
    assert predict([{**row, "age": cf.after}])[0] == "hi"
    assert predict([{**row, "age": cf.after - 1}])[0] == "lo"  # the nearest flip
    frozen = [FeatureSpace("age", low=18, high=80, integer=True, direction="-")]
    assert find_counterfactual(predict, row, frozen, model=model) is None


def test_a_target_output_skips_changes_into_other_classes():
    """Three classes along one axis: the nearest change reaches the next class; with the far
    class as the target, only a change into it counts."""

    def three(records):
        return ["a" if r["x"] < 1 else "b" if r["x"] < 2 else "c" for r in records]

    spaces = [FeatureSpace("x", low=0, high=3, scale=1.0)]
    nearest = find_counterfactual(three, {"x": 0.5}, spaces)
    assert nearest.output_after == "b" and nearest.after == pytest.approx(1.0, abs=1e-5)
    far = find_counterfactual(three, {"x": 0.5}, spaces, target="c")
    assert far.output_after == "c" and far.after == pytest.approx(2.0, abs=1e-5)
    assert find_counterfactual(three, {"x": 0.5}, spaces, target="a") is None  # already "a"


def test_multiclass_linear_closed_form_crosses_the_pair_margin():
    from sklearn.linear_model import LogisticRegression

    from mlwarden.engines.counterfactual import linear_crossing

    rng = np.random.default_rng(0)
    X = pd.DataFrame(rng.normal(size=(600, 2)), columns=["u", "v"])
    y = np.where(X["u"] > 0.8, "hi", np.where(X["u"] < -0.8, "lo", "mid"))
    model = LogisticRegression(max_iter=2000).fit(X, y)
    row = {"u": 0.0, "v": 0.0}
    assert model.predict(pd.DataFrame([row]))[0] == "mid"
    assert linear_crossing(model, "u", row) is None  # no target: no single margin
    u = linear_crossing(model, "u", row, ("mid", "hi"))
    p = model.predict_proba(pd.DataFrame([{"u": u, "v": 0.0}]))[0]
    classes = list(model.classes_)
    # on the crossing the two classes' scores are equal
    assert p[classes.index("mid")] == pytest.approx(p[classes.index("hi")], abs=1e-9)

    def predict(records):
        return list(model.predict(pd.DataFrame(records)[["u", "v"]]))

    cf = find_counterfactual(
        predict, row, [FeatureSpace("u", low=-3, high=3)], model=model, target="hi"
    )
    assert cf.output_after == "hi" and cf.method == "linear closed form"
    assert cf.after > u and cf.after == pytest.approx(u, abs=2e-6)  # a hair past it
