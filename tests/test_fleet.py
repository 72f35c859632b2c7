"""Fleet monitoring (issue 17 goal 4) on SQLite and PostgreSQL: one job over many models gives
what monitoring each model alone gives, evaluates each final window once, and its stored window
profiles merge into the profile of all their rows."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import mlwarden as mw
from mlwarden.engines.profile import Profile, profile
from mlwarden.registry.evidence import PREDICTION_COLUMN, SCORE_COLUMN

T0 = pd.Timestamp("2026-11-01T00:00", tz="UTC")
NAMES = ("credit-risk", "credit-b", "credit-c")


@pytest.fixture
def fleet(warden, registered, fitted_pipeline, small_adult):
    """Three models, two past days each (final windows), half the rows labelled; the third
    model's second day is shifted."""
    train, test = small_adult
    for name in NAMES[1:]:
        warden.register_model(
            name,
            fitted_pipeline,
            train=mw.Dataset(train.drop(columns="income"), train["income"]),
            eval=mw.Dataset(test.drop(columns="income"), test["income"]),
            sensitive_features=["sex"],
        )
    X = test.drop(columns="income").reset_index(drop=True)
    truth = test["income"].astype(str).to_numpy()
    for k, name in enumerate(NAMES):
        for day in range(2):
            part = X.iloc[day * 1000 : (day + 1) * 1000].copy()
            if k == 2 and day == 1:
                part["age"] += 20
            ids = warden.log_predictions(
                name,
                part,
                fitted_pipeline.predict(part),
                scores=fitted_pipeline.predict_proba(part)[:, 1],
                timestamps=T0 + pd.Timedelta(days=day) + pd.to_timedelta(np.arange(1000), "s"),
            )
            warden.log_labels(name, ids[:500], truth[day * 1000 : day * 1000 + 500])
    return X


def stored(warden, name):
    mv = warden.serving_version(name)
    model_id = warden.registry.store.model_id(name)
    return warden.monitoring.results.history(model_id, window="1d", version=mv.version)


def test_a_fleet_job_stores_what_monitoring_each_model_alone_gives(warden, fleet):
    report = warden.monitor_fleet(window="1d", executor="thread", workers=2)
    assert report.errors == {}
    assert sorted(m.name for m in report.models) == sorted(NAMES)
    assert all(m.new_windows == 2 and m.rows == 2000 for m in report.models)
    for m in report.models:  # the newest window's verdict, as stored
        assert m.drifted == stored(warden, m.name)[-1]["result"]["drift"]["dataset_drifted"]
    assert stored(warden, "credit-c")[-1]["result"]["drift"]["columns"]["age"]["drifted"]
    assert not stored(warden, "credit-c")[0]["result"]["drift"]["columns"]["age"]["drifted"]
    # the inventory reads the verdict stored beside each result, not the result
    health = {o.name: o.window_drift for o in warden.overview.model_overviews()}
    for name in NAMES:
        drift = stored(warden, name)[-1]["result"]["drift"]
        assert health[name] == {
            "dataset_drifted": drift["dataset_drifted"],
            "share_drifted": pytest.approx(drift["share_drifted"]),
        }
    for name in NAMES:
        alone = warden.monitoring.run(warden.serving_version(name), window="1d", store=False)
        expected = [w.to_dict() for w in alone.windows]
        got = [w["result"] for w in stored(warden, name)]
        assert len(got) == 2
        for e, g in zip(expected, got, strict=True):
            assert g["rows"] == e["rows"] == 1000 and g["labelled"] == e["labelled"] == 500
            assert g["drift"]["columns"].keys() == e["drift"]["columns"].keys()
            for column, result in e["drift"]["columns"].items():
                assert g["drift"]["columns"][column]["statistic"] == pytest.approx(
                    result["statistic"], rel=1e-9, abs=1e-12
                ), column
            assert g["quality"] == e["quality"]
            assert g["performance"] == pytest.approx(e["performance"])
            assert g["estimated"] == pytest.approx(e["estimated"])
            assert g["fairness"] == e["fairness"] and g["fairness"]  # labelled, with sex


def test_final_windows_are_evaluated_once_and_new_days_alone_are_read(
    warden, fleet, fitted_pipeline
):
    first = warden.monitor_fleet(window="1d", executor="serial")
    computed = {w["key"]: w["computed_at"] for w in stored(warden, "credit-b")}
    again = warden.monitor_fleet(window="1d", executor="serial")
    assert first.rows == 6000 and again.rows == 0
    assert all(m.kept_windows == 2 and m.new_windows == 0 for m in again.models)
    assert {w["key"]: w["computed_at"] for w in stored(warden, "credit-b")} == computed
    part = fleet.iloc[:300]
    warden.log_predictions(
        "credit-b",
        part,
        fitted_pipeline.predict(part),
        timestamps=[T0 + pd.Timedelta(days=2, hours=1)] * 300,
    )
    third = warden.monitor_fleet(["credit-b"], window="1d", executor="thread", workers=2)
    (outcome,) = third.models
    assert (outcome.kept_windows, outcome.new_windows, outcome.rows) == (2, 1, 300)
    assert len(stored(warden, "credit-b")) == 3


def test_a_fleet_job_costs_one_read_per_model_beside_a_fixed_few(warden, fleet):
    """Versions, ids, stored windows, evidence and masking policies of all models are read
    once per job and their windows saved together: a model adds its window read alone."""
    from sqlalchemy import event

    statements: list[str] = []

    def count(conn, cursor, statement, *args):
        statements.append(statement)

    event.listen(warden.db.engine, "before_cursor_execute", count)
    try:
        counts = []
        for names in (NAMES[:1], list(NAMES)):
            for since in (T0, None):  # every window new, then all final and kept
                statements.clear()
                report = warden.monitor_fleet(names, window="1d", since=since, executor="serial")
                assert report.errors == {}
                counts.append(len(statements))
    finally:
        event.remove(warden.db.engine, "before_cursor_execute", count)
    one_new, one_kept, three_new, three_kept = counts
    assert three_new - one_new <= 2 * 2  # two more models: one window read each
    assert three_kept - one_kept <= 2 * 2


def test_a_model_without_a_reference_is_reported_and_the_others_go_on(warden, fleet):
    from sklearn.dummy import DummyClassifier

    warden.register_model("bare", DummyClassifier().fit([[0], [1]], [0, 1]))  # no data
    warden.log_predictions("bare", pd.DataFrame({"x0": [0.5]}), [1], timestamps=[T0])
    report = warden.monitor_fleet(window="1d", executor="thread", workers=2)
    assert "reference profile" in report.errors["bare"]
    assert sum(m.new_windows for m in report.models) == 6


def test_process_workers_give_the_thread_result(warden, fleet, store_uri):
    report = warden.monitor_fleet(window="1d", executor="process", workers=2)
    assert report.errors == {} and report.executor == "process"
    by_process = {n: [w["result"]["drift"] for w in stored(warden, n)] for n in NAMES}
    warden.monitor_fleet(window="1d", since=T0, executor="thread", workers=2)
    # since= reaches back over final windows: they are evaluated again, the same way
    assert {n: [w["result"]["drift"] for w in stored(warden, n)] for n in NAMES} == by_process


def test_a_worker_reads_its_chunk_of_versions_in_a_fixed_few_statements(warden, fleet):
    """Process and Dask workers get ``name@version`` refs: resolved together with the chunk's
    serving versions (three statements however many models), each the version its ref names,
    a ref to a version its model does not serve read on its own."""
    from sqlalchemy import event

    from mlwarden.fleet import resolve

    refs = [warden.serving_version(name).ref for name in NAMES]
    statements: list[str] = []

    def count(conn, cursor, statement, *args):
        statements.append(statement)

    event.listen(warden.db.engine, "before_cursor_execute", count)
    try:
        counts, resolved = [], []
        for part in (refs[:1], refs):
            statements.clear()
            resolved.append(resolve(warden, part))
            counts.append(len(statements))
    finally:
        event.remove(warden.db.engine, "before_cursor_execute", count)
    assert counts[0] == counts[1] <= 4
    assert resolved[1] == [warden.registry.get_version(ref) for ref in refs]
    with pytest.raises(mw.NotFound):  # not what credit-b serves: its own read, as named
        resolve(warden, ["credit-b@99"])


def test_bad_fleet_arguments_name_their_field(warden, fleet):
    with pytest.raises(mw.ValidationError) as bad:
        warden.monitor_fleet(executor="spark")
    assert bad.value.details["field"] == "executor"
    with pytest.raises(mw.ValidationError) as bad:
        warden.monitor_fleet(workers=0)
    assert bad.value.details["field"] == "workers"
    with pytest.raises(mw.ValidationError) as bad:
        warden.monitor_fleet(window="1fortnight")
    assert bad.value.details["field"] == "window"


def test_merged_window_profiles_are_the_profile_of_all_their_rows(warden, fleet):
    warden.monitor_fleet(["credit-c"], window="1d", executor="serial")
    days = stored(warden, "credit-c")
    merged = Profile.from_bytes(warden.artifacts.get(days[0]["profile_sha256"])).merge(
        Profile.from_bytes(warden.artifacts.get(days[1]["profile_sha256"]))
    )
    mv = warden.serving_version("credit-c")
    ref = warden.monitoring.reference(mv)
    rows = warden.predictions("credit-c")
    rows[PREDICTION_COLUMN] = rows["output"].astype(str)
    rows[SCORE_COLUMN] = rows["score"].astype(float)
    whole = profile(
        rows[[c for c in merged.columns]], bins_from=ref, categorical=[PREDICTION_COLUMN]
    )
    assert merged.columns == whole.columns
    for name in merged.columns:
        m, w = merged[name], whole[name]
        assert (m.count_, m.null_count_) == (w.count_, w.null_count_) and m.count_ == 2000
        if m.kind == "numeric":
            assert (m.min_, m.max_) == (w.min_, w.max_)
            assert m.mean_ == pytest.approx(w.mean_, rel=1e-9)
            assert m.variance_ == pytest.approx(w.variance_, rel=1e-9)
            assert list(m.bin_counts_) == list(w.bin_counts_)  # the reference's edges: exact
            values = np.sort(rows[name].astype(float).to_numpy())
            for q in (0.1, 0.5, 0.9):
                # the merged sketch's quantile sits within its rank error of the true rank
                x, tol = m.quantile(q), m.rank_error + 1 / len(values)
                low, high = (np.searchsorted(values, x, side=s) for s in ("left", "right"))
                low, high = low / len(values), high / len(values)
                assert low - tol <= q <= high + tol, (name, q)  # ties span [low, high]
        else:
            assert m.category_counts() == w.category_counts()


def test_a_window_read_gives_the_rows_the_full_read_gives(warden, fleet):
    """The monitoring read (a few stored columns; one row of arrays on PostgreSQL) gives the
    same frame as the full read, also once a subject-linked row is in the log (row by row)."""
    store = warden.monitoring.predictions
    model_id = warden.registry.store.model_id("credit-b")
    since, until = T0 + pd.Timedelta(hours=1), T0 + pd.Timedelta(days=1, hours=1)

    def both():
        narrow = store.read(model_id, since=since, until=until, columns=("output", "score"))
        full = store.read(model_id, since=since, until=until)
        pd.testing.assert_frame_equal(narrow, full[list(narrow.columns)])
        return narrow

    narrow = both()
    assert len(narrow) == 1000 and narrow["label"].notna().sum() == 500
    assert {"version", "reasons", "latency_ms"}.isdisjoint(narrow.columns)
    assert store.read(model_id, since=T0 + pd.Timedelta(days=9), columns=("score",)).empty
    row = fleet.iloc[:1]
    warden.log_predictions(
        "credit-b",
        row,
        ["<=50K"],
        scores=[0.2],
        timestamps=[T0 + pd.Timedelta(hours=2)],
        subjects=["subject-1"],
    )
    assert len(both()) == 1001
