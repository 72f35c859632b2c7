"""Fairness engine: cross-checked against Fairlearn and the published AIF360/Fairlearn numbers."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mlwarden.engines.fairness import FairnessMetric, FairnessReport, GroupCounts, audit
from mlwarden.errors import ValidationError

fm = pytest.importorskip("fairlearn.metrics")


@pytest.fixture(scope="module")
def quickstart(adult_all):
    """Fairlearn's quickstart: a depth-4 tree on get_dummies of all rows, scored on all rows."""
    from sklearn.tree import DecisionTreeClassifier

    adult = adult_all
    x = pd.get_dummies(adult.drop(columns="income"))
    y = (adult["income"] == ">50K").astype(int).to_numpy()
    tree = DecisionTreeClassifier(min_samples_leaf=10, max_depth=4, random_state=0)
    return y, tree.fit(x, y).predict(x), adult


def test_fairlearn_quickstart_reference_numbers(quickstart):
    y, y_pred, adult = quickstart
    report = audit(y, y_pred, adult["sex"], n_boot=0)
    # published as 0.1638; the exact value is 0.163855
    assert report.overall["selection_rate"][0] == pytest.approx(0.1638, abs=1e-4)
    assert report.overall["accuracy"][0] == pytest.approx(0.8444, abs=5e-5)
    by = report.by_group.set_index("group")
    assert by.loc["Female", "selection_rate"] == pytest.approx(0.0635, abs=5e-5)
    assert by.loc["Male", "selection_rate"] == pytest.approx(0.2136, abs=5e-5)
    assert report.summary["sex"]["demographic_parity_difference"] == pytest.approx(0.150, abs=5e-4)


def test_aif360_adult_labels_only_reference_numbers(adult_all):
    # AIF360 AdultDataset: rows with any missing value dropped, '>50K' favorable, Male privileged.
    data = adult_all.dropna()
    assert len(data) == 45222
    report = audit(
        data["income"],
        data["income"],
        data[["sex", "race"]],
        favorable_label=">50K",
        reference_groups={"sex": "Male"},
        n_boot=200,
    )
    sex = report.summary["sex"]
    assert sex["statistical_parity_difference"] == pytest.approx(-0.1989, abs=5e-5)
    assert sex["disparate_impact"] == pytest.approx(0.3635, abs=5e-5)
    assert sex["four_fifths_rule"] is False
    di = report.metric("disparate_impact", "sex", "Female")
    assert (di.reference_group, di.aggregation, di.form) == ("Male", "reference", "ratio")
    assert (di.direction, di.threshold, di.passed) == ("closer_to_1", 0.8, False)
    assert di.ci_low < di.value < di.ci_high
    assert di.group_sizes == {"Female": 14695, "Male": 30527}


def test_matches_fairlearn_metricframe(adult_test_predictions, adult_parts):
    y, y_pred, _ = adult_test_predictions
    sf = adult_parts[1][["sex", "race"]]
    report = audit(y, y_pred, sf, min_group_size=0, n_boot=0)
    for attr, features in (("sex", "sex"), ("race", "race"), ("sex__race", ["sex", "race"])):
        frame = fm.MetricFrame(
            metrics={
                "selection_rate": fm.selection_rate,
                "true_positive_rate": fm.true_positive_rate,
                "false_positive_rate": fm.false_positive_rate,
            },
            y_true=y,
            y_pred=y_pred,
            sensitive_features=sf[features],
        )
        fl = frame.by_group
        if isinstance(fl.index, pd.MultiIndex):
            fl.index = ["|".join(map(str, i)) for i in fl.index]
        ours = report.by_group[report.by_group["attribute"] == attr].set_index("group")
        for col in fl.columns:
            np.testing.assert_allclose(ours.loc[fl.index, col], fl[col], rtol=1e-12)
        kw = {"y_true": y, "y_pred": y_pred, "sensitive_features": sf[features]}
        summary = report.summary[attr]
        assert summary["demographic_parity_difference"] == pytest.approx(
            fm.demographic_parity_difference(**kw), rel=1e-12
        )
        assert summary["demographic_parity_ratio"] == pytest.approx(
            fm.demographic_parity_ratio(**kw), rel=1e-12
        )
        assert summary["equalized_odds_difference"] == pytest.approx(
            fm.equalized_odds_difference(**kw), rel=1e-12
        )
        assert summary["equalized_odds_ratio"] == pytest.approx(
            fm.equalized_odds_ratio(**kw), rel=1e-12
        )


def test_bootstrap_intervals_agree_with_fairlearn(adult_test_predictions, adult_parts):
    # Fairlearn resamples rows (slow), so compare on a 3,000-row slice with 100 replicates;
    # Monte Carlo error of a 100-replicate percentile is a sizeable part of the width.
    y, y_pred, _ = adult_test_predictions
    n = 3000
    sex = adult_parts[1]["sex"].to_numpy()[:n]
    frame = fm.MetricFrame(
        metrics=fm.selection_rate,
        y_true=y[:n],
        y_pred=y_pred[:n],
        sensitive_features=sex,
        n_boot=100,
        ci_quantiles=[0.025, 0.975],
        random_state=0,
    )
    report = audit(y[:n], y_pred[:n], sex, n_boot=2000, seed=1)
    fl_lo, fl_hi = frame.difference_ci()
    ours = report.metric("demographic_parity_difference", "group", aggregation="between_groups")
    width = ours.ci_high - ours.ci_low
    assert abs(ours.ci_low - fl_lo) < 0.35 * width
    assert abs(ours.ci_high - fl_hi) < 0.35 * width
    by = report.by_group.set_index("group")
    for g in ("Female", "Male"):
        lo, hi = frame.by_group_ci[0][g], frame.by_group_ci[1][g]
        w = by.loc[g, "selection_rate_high"] - by.loc[g, "selection_rate_low"]
        assert abs(by.loc[g, "selection_rate_low"] - lo) < 0.35 * w
        assert abs(by.loc[g, "selection_rate_high"] - hi) < 0.35 * w


def test_default_bootstrap_is_seeded(adult_test_predictions, adult_parts):
    y, y_pred, score = adult_test_predictions
    sf = adult_parts[1][["sex", "race"]]
    a = audit(y, y_pred, sf, y_score=score)
    b = audit(y, y_pred, sf, y_score=score)
    assert a.to_dict() == b.to_dict()
    c = audit(y, y_pred, sf, y_score=score, seed=5)
    assert c.summary["sex"]["ci"] != a.summary["sex"]["ci"]


def test_group_without_positives_is_nan_with_reason():
    y_true = np.array([1, 0] * 40 + [0] * 40)
    y_pred = np.array([1, 0] * 40 + [1, 0] * 20)
    group = np.array(["a"] * 80 + ["b"] * 40)
    report = audit(y_true, y_pred, group, n_boot=50)
    tpr = report.metric("true_positive_rate", "group", "b")
    assert math.isnan(tpr.value)
    assert tpr.reason == "no favorable labels"
    eod = report.metric("equal_opportunity_difference", "group", "b", "reference")
    assert math.isnan(eod.value) and "undefined for this group" in eod.reason
    # the summary skips the undefined group instead of reporting 0
    assert report.to_dict()["summary"]["group"]["average_odds_difference"] is None


def test_small_groups_are_reported_but_excluded():
    rng = np.random.default_rng(1)
    group = np.array(["big"] * 500 + ["mid"] * 300 + ["tiny"] * 10)
    y_true = rng.integers(0, 2, len(group))
    y_pred = np.where(group == "tiny", 0, rng.integers(0, 2, len(group)))
    report = audit(y_true, y_pred, {"g": group}, n_boot=100)
    summary = report.summary["g"]
    assert summary["excluded_groups"] == ["tiny"]
    assert summary["reference_group"] == "big"
    # tiny's selection rate is 0; were it included the ratio would be 0
    assert summary["demographic_parity_ratio"] > 0.5
    assert "tiny" in report.metric("demographic_parity_ratio", "g", None, "between_groups").note
    row = report.by_group.set_index("group").loc["tiny"]
    assert not row["sufficient"] and row["selection_rate"] == 0


@settings(max_examples=40, deadline=None)
@given(
    data=st.lists(
        st.tuples(st.integers(0, 1), st.integers(0, 1), st.sampled_from("abc"), st.booleans()),
        min_size=2,
        max_size=80,
    ),
    cut=st.integers(1, 79),
)
def test_merge_of_split_counts_equals_whole(data, cut):
    cut = min(cut, len(data) - 1)
    yt, yp, g1, g2 = (np.array(c) for c in zip(*data, strict=True))
    score = (yt * 0.3 + yp * 0.5).astype(float)
    sf = {"g1": g1, "g2": g2}
    whole = GroupCounts().fit(yt, yp, sf, y_score=score)
    left = GroupCounts().fit(yt[:cut], yp[:cut], {k: v[:cut] for k, v in sf.items()}, score[:cut])
    right = GroupCounts().fit(yt[cut:], yp[cut:], {k: v[cut:] for k, v in sf.items()}, score[cut:])
    merged = left.merge(right)
    assert merged == whole
    assert GroupCounts.from_dict(json.loads(json.dumps(merged.to_dict()))) == whole
    for attr, feats in whole.attributes().items():
        _, a = whole.group_table(feats)
        _, b = merged.group_table(feats)
        for k in a:
            np.testing.assert_allclose(a[k], b[k], err_msg=attr)


def test_regression_counts_merge_and_intersection_reference():
    rng = np.random.default_rng(4)
    n = 300
    sf = {"a": rng.choice(["x", "y"], n), "b": rng.choice(["u", "v"], n)}
    y, pred = rng.normal(size=n), rng.normal(size=n)
    whole = GroupCounts(task="regression").fit(y, pred, sf)
    left = GroupCounts(task="regression").fit(
        y[:100], pred[:100], {k: v[:100] for k, v in sf.items()}
    )
    right = GroupCounts(task="regression").fit(
        y[100:], pred[100:], {k: v[100:] for k, v in sf.items()}
    )
    assert left.merge(right) == whole
    yb, pb = (y > 0).astype(int), (pred > 0).astype(int)
    report = audit(yb, pb, sf, reference_groups={"a__b": ("y", "v")}, n_boot=20)
    assert report.summary["a__b"]["reference_group"] == "y|v"
    with pytest.raises(ValidationError):
        audit(yb, pb, sf, reference_groups={"a": "nope"}, n_boot=0)


def test_merge_rejects_mismatched_tables():
    a = GroupCounts().fit([1, 0], [1, 1], {"sex": ["F", "M"]})
    b = GroupCounts().fit([1, 0], [1, 1], {"race": ["F", "M"]})
    with pytest.raises(ValidationError):
        a.merge(b)


@pytest.mark.parametrize(
    "make",
    [
        lambda s, r: pd.DataFrame({"sex": s, "race": r}),
        lambda s, r: {"sex": s, "race": r},
        lambda s, r: np.column_stack([s, r]),
    ],
)
def test_sensitive_feature_inputs_and_string_labels(make):
    rng = np.random.default_rng(2)
    n = 400
    s, r = rng.choice(["F", "M"], n), rng.choice(["A", "B"], n)
    y = np.where(rng.random(n) < 0.3, ">50K", "<=50K")
    p = np.where(rng.random(n) < 0.3, ">50K", "<=50K")
    report = audit(y, p, make(s, r), favorable_label=">50K", n_boot=20)
    assert len(report.summary) == 3  # two features and their intersection
    sel = report.by_group["selection_rate"].iloc[0]
    assert 0 < sel < 1


def test_report_serialises_and_renders(adult_test_predictions, adult_parts, tmp_path):
    y, y_pred, score = adult_test_predictions
    report = audit(y, y_pred, adult_parts[1][["sex", "race"]], y_score=score, n_boot=100)
    assert isinstance(report, FairnessReport)
    assert all(isinstance(m, FairnessMetric) for m in report.metrics)
    d = json.loads(json.dumps(report.to_dict(), allow_nan=False))
    assert set(d["summary"]) == {"sex", "race", "sex__race"}
    assert d["summary"]["sex"]["disparate_impact"] < 0.8
    assert {"value", "ci"} <= set(d["overall"]["selection_rate"])
    frame = report.to_frame()
    assert {"name", "attribute", "aggregation", "direction", "form", "value"} <= set(frame.columns)
    assert set(frame["aggregation"]) == {"per_group", "reference", "between_groups"}
    ece = report.metric("expected_calibration_error", "sex", "Female")
    assert 0 <= ece.value < 0.2
    html = report.to_html(tmp_path / "fairness.html")
    assert "<svg" in html and "http://" not in html.replace("http://www.w3.org", "")
    assert (tmp_path / "fairness.html").read_text().startswith("<!doctype html>")


def test_regression_task():
    rng = np.random.default_rng(3)
    n = 600
    g = rng.choice(["a", "b"], n)
    y = rng.normal(size=n)
    pred = y + np.where(g == "a", 0.0, 0.5) + rng.normal(scale=0.1, size=n)
    report = audit(y, pred, {"g": g}, task="regression")
    s = report.summary["g"]
    assert s["mean_error_difference"] == pytest.approx(0.5, abs=0.05)
    by = report.by_group.set_index("group")
    assert by.loc["b", "mean_absolute_error"] > by.loc["a", "mean_absolute_error"]
    json.dumps(report.to_dict(), allow_nan=False)


def test_error_rate_balance_matches_fairlearn(adult_test_predictions, adult_parts):
    """FPR and FNR gaps (who bears the false alarms, who the misses) as Fairlearn computes them."""
    y, y_pred, _ = adult_test_predictions
    sf = adult_parts[1]["race"]
    report = audit(y, y_pred, sf, min_group_size=0, n_boot=0)
    frame = fm.MetricFrame(
        metrics={"fpr": fm.false_positive_rate, "fnr": fm.false_negative_rate},
        y_true=y,
        y_pred=y_pred,
        sensitive_features=sf,
    )
    diff, ratio, summary = frame.difference(), frame.ratio(), report.summary["race"]
    assert summary["false_positive_rate_difference"] == pytest.approx(diff["fpr"], rel=1e-12)
    assert summary["false_positive_rate_ratio"] == pytest.approx(ratio["fpr"], rel=1e-12)
    assert summary["false_negative_rate_difference"] == pytest.approx(diff["fnr"], rel=1e-12)
    assert summary["false_negative_rate_ratio"] == pytest.approx(ratio["fnr"], rel=1e-12)
    eo = fm.MetricFrame(
        metrics=fm.true_positive_rate, y_true=y, y_pred=y_pred, sensitive_features=sf
    ).ratio()
    assert summary["equal_opportunity_ratio"] == pytest.approx(eo, rel=1e-12)


def test_favourable_label_zero_finds_the_disadvantaged_group():
    """A default model (1 = default, the bad outcome): approval is label 0. Group A is refused
    four times as often as B, so A is the disadvantaged group and the four-fifths rule fails.
    Counting label 1 as favourable would invert the verdict (A would look privileged)."""
    rng = np.random.default_rng(7)
    group = np.array(["A"] * 600 + ["B"] * 1400)
    y_pred = (rng.random(2000) < np.where(group == "A", 0.40, 0.10)).astype(int)
    y_true = (rng.random(2000) < np.where(group == "A", 0.30, 0.12)).astype(int)
    group = pd.Series(group, name="group")
    right = audit(y_true, y_pred, group, favorable_label=0, n_boot=0)
    summary = right.summary["group"]
    approval = fm.MetricFrame(
        metrics=lambda t, p: fm.selection_rate(t, p, pos_label=0),
        y_true=y_true,
        y_pred=y_pred,
        sensitive_features=group,
    ).by_group
    di = right.metric("disparate_impact", "group", "A")
    assert di.reference_group == "B"
    assert di.value == pytest.approx(approval["A"] / approval["B"], rel=1e-12)
    assert di.value < 0.8 and di.passed is False and summary["four_fifths_rule"] is False
    assert summary["worst_group"] == "A"
    wrong = audit(y_true, y_pred, group, favorable_label=1, n_boot=0).summary["group"]
    assert wrong["worst_group"] == "B"  # what a fixed "positive class" reported before
