"""numpy binary metrics against scikit-learn's (the registry's) on the same data."""

from __future__ import annotations

import numpy as np
import pytest

from mlwarden.engines.binary_metrics import binary_metrics, covers
from mlwarden.registry.metrics import classification_metrics


def sklearn_side(y_true, y_pred, scores, classes):
    proba = None if scores is None else np.column_stack([1 - scores, scores])
    return classification_metrics(y_true, y_pred, proba, classes)


def check(y_true, y_pred, scores, classes):
    ours = binary_metrics(y_true, y_pred, scores, classes)
    theirs = sklearn_side(y_true, y_pred, scores, classes)
    assert ours.keys() == theirs.keys()
    for key, value in theirs.items():
        assert ours[key] == pytest.approx(value, rel=1e-12, abs=1e-15), key
    return ours


def window(rng, n, classes, p_true=0.4, ties=False):
    scores = rng.random(n)
    if ties:
        scores = np.round(scores, 1)  # many equal scores: ranks are averaged
    y_true = np.where(rng.random(n) < p_true, classes[-1], classes[0]).astype(object)
    y_pred = np.where(scores > 0.5, classes[-1], classes[0]).astype(object)
    return y_true, y_pred, scores


@pytest.mark.parametrize("classes", [["0", "1"], ["no", "yes"], ["yes", "no"]])
@pytest.mark.parametrize("ties", [False, True])
def test_same_values_as_sklearn(classes, ties):
    rng = np.random.default_rng(7)
    y_true, y_pred, scores = window(rng, 2000, classes, ties=ties)
    ours = check(y_true, y_pred, scores, classes)
    assert {"log_loss", "roc_auc", "brier"} <= ours.keys()


def test_one_class_windows_and_missing_predictions():
    rng = np.random.default_rng(1)
    classes = ["0", "1"]
    _, _, scores = window(rng, 300, classes)
    only_neg = np.array(["0"] * 300, dtype=object)
    only_pos = np.array(["1"] * 300, dtype=object)
    mixed = np.where(rng.random(300) < 0.5, "1", "0").astype(object)
    # labels of one class: no proba metrics; predictions never positive: precision 0
    ours = check(only_neg, mixed, scores, classes)
    assert "roc_auc" not in ours
    ours = check(mixed, only_neg, scores, classes)
    assert ours["precision"] == 0.0 and ours["recall"] == 0.0 and ours["f1"] == 0.0
    check(only_pos, only_pos, scores, classes)
    check(only_neg, only_neg, None, classes)
    # scores at the edges are clipped the same way
    edges = np.where(mixed == "1", 1.0, 0.0)
    check(mixed, mixed, edges, classes)


def test_labels_outside_the_classes_are_left_to_sklearn():
    y = np.array(["0", "1", "2"], dtype=object)
    assert not covers(y, y, ["0", "1"])
    assert covers(y[:2], y[:2], ["0", "1"])
