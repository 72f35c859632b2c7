"""The prediction log, labels and windowed monitoring on SQLite and PostgreSQL."""

from __future__ import annotations

import math
import re

import numpy as np
import pandas as pd
import pytest

import mlwarden as mw

T0 = pd.Timestamp("2026-11-01T12:00", tz="UTC")


@pytest.fixture
def traffic(warden, registered, fitted_pipeline, small_adult):
    """Day 1 as in the reference; day 2 with ages and hours shifted and a new category."""
    _, test = small_adult
    X = test.drop(columns="income").reset_index(drop=True)
    day1, day2 = X.iloc[:1000], X.iloc[1000:].copy()
    day2["age"] += 20
    day2["hours-per-week"] += 15
    day2["workclass"] = day2["workclass"].astype(str).where(day2.index % 10 != 0, "Astronaut")
    ids = []
    for i, part in enumerate((day1, day2)):
        ids += warden.log_predictions(
            "credit-risk",
            part,
            fitted_pipeline.predict(part),
            scores=fitted_pipeline.predict_proba(part)[:, 1],
            timestamps=[T0 + pd.Timedelta(days=i)] * len(part),
        )
    truth = test["income"].astype(str).to_numpy()
    return ids, truth, X


def test_log_predictions_returns_unique_uuid7_ids(warden, registered, traffic):
    ids, _, _ = traffic
    assert len(ids) == 2000 == len(set(ids))
    assert all(
        re.fullmatch(r"[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}", i)
        for i in ids[:50]
    )
    assert ids[:1000] == sorted(ids[:1000])  # in row order within a batch
    frame = warden.predictions("credit-risk")
    assert len(frame) == 2000 and set(frame["version"]) == {1}
    assert {"age", "sex", "output", "score", "label"} <= set(frame.columns)
    events = [e for e in warden.audit.events(model="credit-risk") if e.action == "predictions.log"]
    assert [e.payload["count"] for e in events] == [1000, 1000]


def test_logged_inputs_keep_fifteen_significant_digits(warden, small_adult):
    from sklearn.linear_model import LinearRegression

    X = pd.DataFrame({"x": [1e-12, math.pi, 123456.789012345, 2.5e-300]})
    warden.register_model("precise", LinearRegression().fit(X, [0.0, 1.0, 2.0, 3.0]))
    warden.log_predictions("precise", X, [0.0, 1.0, 2.0, 3.0])
    logged = warden.predictions("precise")["x"].to_numpy()
    np.testing.assert_allclose(sorted(logged), sorted(X["x"]), rtol=1e-15, atol=0)


def test_a_batch_larger_than_one_serialisation_chunk_is_stored_whole(warden):
    from sklearn.linear_model import LinearRegression

    n = 9_000  # RecordsJSON serialises 4,096 rows at a time while the insert streams them
    X = pd.DataFrame({"x": np.arange(n, dtype=float), "city": ["a", "b", "c"] * (n // 3)})
    warden.register_model("big", LinearRegression().fit(X[["x"]], X["x"]))
    ids = warden.log_predictions("big", X, X["x"], subjects=[None] * (n - 1) + ["ann"])
    logged = warden.predictions("big").set_index("id").loc[ids]
    assert logged["x"].tolist() == X["x"].tolist() and logged["city"].tolist() == X["city"].tolist()
    (sealed,) = warden.export_subject("ann")["predictions"]  # the last row, opened again
    assert (sealed["x"], sealed["city"]) == (n - 1, "c")


def test_labels_join_and_unknown_ids_are_reported(warden, registered, traffic):
    ids, truth, _ = traffic
    result = warden.log_labels("credit-risk", [*ids[:500], "no-such-id"], [*truth[:500], ">50K"])
    assert result == {"labelled": 500, "unknown_ids": ["no-such-id"]}
    frame = warden.predictions("credit-risk")
    assert frame["label"].notna().sum() == 500


def test_bad_prediction_batches_are_refused(warden, registered, small_adult):
    _, test = small_adult
    X = test.drop(columns="income").iloc[:10]
    with pytest.raises(mw.ValidationError, match="y_pred must be one-dimensional with 10"):
        warden.log_predictions("credit-risk", X, [1, 0])
    with pytest.raises(mw.AlreadyExists, match="ids must be unique"):
        warden.log_predictions("credit-risk", X, np.zeros(10), ids=["a"] * 10)
    with pytest.raises(mw.NotFound):
        warden.log_predictions("nope", X, np.zeros(10))
    assert warden.predictions("credit-risk").empty  # nothing half-written


def test_monitor_finds_the_shift_and_the_quality_problems(warden, registered, traffic):
    ids, truth, _ = traffic
    warden.log_labels("credit-risk", ids, truth)
    report = warden.monitor("credit-risk", window="1d")
    assert len(report.windows) == 2
    normal, shifted = report.windows
    assert not normal.drift["dataset_drifted"] and "age" not in normal.drift["drifted_columns"]
    assert {"age", "hours-per-week"} <= set(shifted.drift["drifted_columns"])
    failed = {(r["rule"], r["column"]) for r in shifted.quality["results"] if not r["passed"]}
    assert ("unseen_categories", "workclass") in failed and ("range", "age") in failed
    assert not [
        r
        for r in normal.quality["results"]
        if not r["passed"] and r["rule"] in ("unseen_categories", "type", "missing_column")
    ]


def test_monitor_performance_matches_scikit_learn_and_cbpe_is_close(
    warden, registered, traffic, fitted_pipeline
):
    from sklearn.metrics import accuracy_score

    ids, truth, X = traffic
    warden.log_labels("credit-risk", ids[:1000], truth[:1000])
    normal = warden.monitor("credit-risk", window="1d").windows[0]
    expected = accuracy_score(truth[:1000], fitted_pipeline.predict(X.iloc[:1000]))
    assert normal.performance["accuracy"] == pytest.approx(expected)
    # before labels: the confidence-based estimate of a calibrated logistic model is close
    assert normal.estimated["accuracy"] == pytest.approx(expected, abs=0.03)
    assert "calibrated" in normal.estimated["assumptions"]
    # scores go through the isotonic map fitted on the registration's evaluation data
    assert normal.estimated["calibrated"] is True
    assert "2000 labelled reference rows" in normal.estimated["calibration"]
    assert 0.5 < normal.estimated["roc_auc"] <= 1.0
    assert warden.get_evidence("credit-risk@1", "calibration")["method"] == "isotonic"
    assert set(normal.fairness) >= {"sex", "race"}


def test_monitor_segments_windows_by_rows_and_stores_results(warden, registered, traffic, tmp_path):
    report = warden.monitor("credit-risk", window="500rows", segment_by="sex")
    segments = {w.segment for w in report.windows}
    assert segments == {"all", "sex=Female", "sex=Male"}
    assert sum(w.rows for w in report.windows if w.segment == "all") == 2000
    history = warden.monitoring.results.history(
        warden.registry.store.model_id("credit-risk"), window="500rows", segment="all"
    )
    assert len(history) == 4 and history[0]["rows"] == 500
    frame = report.to_frame()
    assert {"drift_share", "quality_failed", "est_accuracy"} <= set(frame.columns)
    page = report.to_html(tmp_path / "report.html").read_text()
    assert (
        "<table class='heat'>" in page
        and "<polyline" in page
        and "http" not in page.split("<body>")[1][:2000]
    )
    with pytest.raises(mw.ValidationError, match="invalid window"):
        warden.monitor("credit-risk", window="fortnight")
    with pytest.raises(mw.ValidationError, match="segment column 'planet'"):
        warden.monitor("credit-risk", segment_by="planet")


def test_rollup_merges_stored_windows(warden, registered, traffic):
    daily = warden.monitor("credit-risk", window="1d")
    weekly = warden.monitor_rollup("credit-risk", source="1d", window="7d")
    assert len(weekly.windows) == 1 and weekly.windows[0].rows == 2000
    # the merged week sits between the calm and the shifted day
    week_age = weekly.windows[0].drift["columns"]["age"]["statistic"]
    day_ages = [w.drift["columns"]["age"]["statistic"] for w in daily.windows]
    assert min(day_ages) < week_age < max(day_ages)


def test_attribution_drift_for_tree_models(warden, small_adult):
    lgb = pytest.importorskip("lightgbm")
    train, test = small_adult
    X, y = train.drop(columns="income"), train["income"]
    model = lgb.LGBMClassifier(n_estimators=40, verbose=-1).fit(X, y)
    Xt = test.drop(columns="income").reset_index(drop=True)
    warden.register_model("lgb", model, train=mw.Dataset(X, y), eval=mw.Dataset(Xt, test["income"]))
    calm, odd = Xt.iloc[:1000], Xt.iloc[1000:].copy()
    odd["capital-gain"] = 15000  # everyone now looks like a big investor
    for i, part in enumerate((calm, odd)):
        warden.log_predictions(
            "lgb",
            part,
            model.predict(part),
            scores=model.predict_proba(part)[:, 1],
            timestamps=[T0 + pd.Timedelta(days=i)] * len(part),
        )
    first, second = warden.monitor("lgb", window="1d", explain=True).windows
    assert first.attribution["status"] == "ok" and second.attribution["status"] == "ok"
    assert first.attribution["distance"] < 0.1 < second.attribution["distance"]
    assert second.attribution["drifted"]


def test_segments_are_compared_with_the_same_group_at_registration(warden, registered, traffic):
    ref = warden.get_evidence("credit-risk@1", "reference_profile")
    assert set(ref["segments"]["sex"]) == {"Female", "Male"}
    calm = [
        w
        for w in warden.monitor("credit-risk", window="1d", segment_by="sex").windows
        if w.start == T0.floor("D")
    ]
    by_segment = {w.segment: w for w in calm}
    # the calm day's women look like the women at registration, not like everyone
    for segment in ("sex=Female", "sex=Male"):
        assert not by_segment[segment].drift["dataset_drifted"]
        assert by_segment[segment].drift["share_drifted"] < 0.25


def test_calendar_month_windows_and_erased_subjects_stay_out_of_quality(
    warden, registered, fitted_pipeline, small_adult
):
    """``1mo`` windows follow the calendar in the configured zone; rows of an erased subject
    (inputs shredded) are left out instead of failing data quality in every window."""
    _, test = small_adult
    X = test.drop(columns="income").reset_index(drop=True).iloc[:600]
    stamps = [pd.Timestamp("2026-01-31T23:30", tz="UTC")] * 300
    stamps += [pd.Timestamp("2026-02-15T12:00", tz="UTC")] * 300
    subjects = ["ana.lópez@example.es"] * 50 + [None] * 550
    warden.log_predictions(
        "credit-risk", X, fitted_pipeline.predict(X), timestamps=stamps, subjects=subjects
    )
    warden.erase_subject("ana.lópez@example.es", reason="Art. 17 request")
    warden.monitoring.timezone = "Europe/Berlin"  # 23:30 UTC on Jan 31 is February there
    report = warden.monitor("credit-risk", window="1mo")
    assert [(w.start.month, w.rows) for w in report.windows] == [(1, 550)]
    assert report.windows[0].start == pd.Timestamp("2026-01-31T23:00", tz="UTC")
    assert "erased" not in str(report.windows[0].quality)


def test_labels_are_checked_against_the_versions_classes(warden, registered, traffic):
    ids, truth, _ = traffic
    with pytest.raises(mw.ValidationError, match=r"2 label\(s\).*yes.*7") as err:
        warden.log_labels("credit-risk", ids[:4], [truth[0], "yes", truth[2], 7])
    assert err.value.details["field"] == "y_true"
    assert ids[1] in str(err.value) and ids[3] in str(err.value)
    assert warden.predictions("credit-risk")["label"].isna().all()  # nothing stored
    assert warden.log_labels("credit-risk", ids[:2], truth[:2])["labelled"] == 2


def test_numeric_labels_match_integer_classes_and_a_bad_stored_label_fails_no_window(warden):
    from sklearn.linear_model import LogisticRegression

    rng = np.random.default_rng(3)
    X = pd.DataFrame({"income": rng.normal(50, 10, 400), "debt": rng.normal(10, 3, 400)})
    y = (X["debt"] * 4 > X["income"]).astype(int)  # 1 = default
    model = LogisticRegression().fit(X, y)
    warden.register_model("default-risk", model, train=mw.Dataset(X, y))
    ids = warden.log_predictions("default-risk", X, model.predict(X), timestamps=[T0] * 400)
    assert warden.log_labels("default-risk", ids, y.astype(float))["labelled"] == 400
    assert set(warden.predictions("default-risk")["label"]) <= {"0", "1"}  # 1.0 stored as "1"
    # a label stored before labels were checked (written past the validation) is counted, not fatal
    store = warden.prediction_log.store
    store.upsert_labels(warden.registry.store.model_id("default-risk"), ids[:1], ["yes"])
    (window,) = warden.monitor("default-risk", window="1000rows").windows
    assert window.unreadable_labels == 1
    assert window.performance["accuracy"] == pytest.approx(
        float((model.predict(X)[1:] == y[1:]).mean())
    )


def test_sensitive_attributes_beside_predictions_feed_fairness_not_drift(warden):
    """`race` is audited but is not a model input (the recommended set-up): logged beside each
    prediction, it reaches per-window fairness and nothing else."""
    from sklearn.linear_model import LogisticRegression

    rng = np.random.default_rng(5)
    n = 600
    race = pd.DataFrame({"race": rng.choice(["Black", "White", "Asian"], n, p=[0.3, 0.5, 0.2])})
    X = pd.DataFrame({"income": rng.normal(50, 10, n), "debt": rng.normal(10, 3, n)})
    y = (X["debt"] * 4 + (race["race"] == "Black") * 8 > X["income"]).astype(int)
    model = LogisticRegression().fit(X, y)
    mv = warden.register_model(
        "recidivism", model, train=mw.Dataset(X, y, sensitive=race), sensitive_features=["race"]
    )
    assert mv.sensitive_attributes == ["race"] and "race" not in mv.input_names
    with pytest.raises(mw.ValidationError, match=r"'zip'.*not declared"):
        warden.log_predictions("recidivism", X, model.predict(X), sensitive={"zip": ["1"] * n})
    with pytest.raises(mw.ValidationError, match=r"'income'.*model inputs"):
        warden.log_predictions("recidivism", X, model.predict(X), sensitive=X[["income"]])
    ids = warden.log_predictions(
        "recidivism", X, model.predict(X), sensitive=race, timestamps=[T0] * n
    )
    warden.log_labels("recidivism", ids, y)
    (window,) = warden.monitor("recidivism", window="1000rows").windows
    assert "race" in window.fairness
    assert "race" not in window.drift["columns"] and "race" not in str(window.quality)
