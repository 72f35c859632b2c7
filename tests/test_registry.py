"""The registry on SQLite and PostgreSQL: registration, lineage, aliases, loading."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import mlwarden as mw


def test_register_records_lineage_and_metrics(registered, small_adult):
    mv = registered
    assert mv.version == 1 and mv.name == "credit-risk" and mv.flavor == "sklearn"
    assert len(mv.artifact_sha256) == 64 and mv.artifact_size > 1000
    lineage = mv.lineage
    assert set(lineage["datasets"]) == {"train", "eval"}
    train_fp = lineage["datasets"]["train"]
    assert train_fp["name"] == "adult-train" and train_fp["rows"] == 4000
    assert train_fp["columns"] == 14 and "age" in train_fp["schema"]
    assert list(lineage["sensitive_features"]) == ["sex", "race"]
    assert lineage["registered_by"] == "alice" and mv.created_by == "alice"
    assert lineage["environment"]["packages"]["scikit-learn"]
    assert lineage["estimator"] == "sklearn.pipeline.Pipeline"
    assert set(mv.metrics) >= {
        "accuracy",
        "precision",
        "recall",
        "f1",
        "roc_auc",
        "log_loss",
        "brier",
    }
    assert 0.8 < mv.metrics["roc_auc"] <= 1
    inputs = {c["name"]: c for c in mv.signature["inputs"]}
    assert inputs["sex"]["sensitive"] and not inputs["age"]["sensitive"]
    assert inputs["sex"]["type"] == "category" and set(inputs["sex"]["categories"]) == {
        "Female",
        "Male",
    }
    assert inputs["age"]["type"] == "integer"
    assert list(mv.signature["output"]["classes"]) == ["<=50K", ">50K"]
    assert mv.params["logisticregression__max_iter"] == 300


def test_metrics_match_scikit_learn(registered, fitted_pipeline, small_adult):
    from sklearn.metrics import accuracy_score, roc_auc_score

    _, test = small_adult
    X, y = test.drop(columns="income"), test["income"]
    proba = fitted_pipeline.predict_proba(X)[:, 1]
    assert registered.metrics["accuracy"] == pytest.approx(
        accuracy_score(y, fitted_pipeline.predict(X))
    )
    assert registered.metrics["roc_auc"] == pytest.approx(roc_auc_score(y == ">50K", proba))


def test_fingerprint_is_deterministic_and_content_sensitive(small_adult):
    from mlwarden.registry.lineage import fingerprint

    train, _ = small_adult
    a = fingerprint(train, name="x")["sha256"]
    assert fingerprint(train.copy(), name="y")["sha256"] == a
    assert fingerprint(train.reset_index(drop=True))["sha256"] == a  # index is not content
    changed = train.copy()
    changed.iloc[0, changed.columns.get_loc("age")] += 1
    assert fingerprint(changed)["sha256"] != a


def test_versions_are_monotonic_and_resolvable(warden, registered, fitted_pipeline, small_adult):
    train, _ = small_adult
    mv2 = warden.register_model(
        "credit-risk",
        fitted_pipeline,
        train=mw.Dataset(train.drop(columns="income"), train["income"]),
    )
    assert mv2.version == 2
    assert warden.get_model_version("credit-risk@1").artifact_sha256 == registered.artifact_sha256
    assert warden.get_model_version("credit-risk").version == 2
    assert [v.version for v in warden.list_versions("credit-risk")] == [1, 2]
    model = warden.get_model("credit-risk")
    assert model.latest_version == 2 and model.risk_tier == "high" and model.owner == "risk-team"
    assert [m.name for m in warden.list_models()] == ["credit-risk"]


def test_aliases_move_and_keep_history(warden, registered, fitted_pipeline):
    warden.register_model("credit-risk", fitted_pipeline)
    warden.set_alias("credit-risk", "staging", 1)
    assert warden.get_model_version("credit-risk@staging").version == 1
    change = warden.set_alias("credit-risk", "staging", 2, reason="newer")
    assert (change.from_version, change.to_version, change.actor) == (1, 2, "alice")
    assert warden.get_model_version("credit-risk@staging").version == 2
    assert warden.get_model_version("credit-risk@2").aliases == ("staging",)
    assert warden.get_model("credit-risk").aliases == {"staging": 2}
    warden.delete_alias("credit-risk", "staging")
    with pytest.raises(mw.NotFound, match="no alias 'staging'"):
        warden.get_model_version("credit-risk@staging")
    history = warden.alias_history("credit-risk", "staging")
    assert [(h.from_version, h.to_version, h.action) for h in history] == [
        (None, 1, "set"),
        (1, 2, "set"),
        (2, None, "delete"),
    ]
    assert history[1].reason == "newer"


def test_load_model_gives_identical_predictions(warden, registered, fitted_pipeline, small_adult):
    _, test = small_adult
    warden.set_alias("credit-risk", "staging", 1)
    loaded = warden.load_model("credit-risk@staging")
    X = test.drop(columns="income")
    np.testing.assert_array_equal(loaded.predict_proba(X), fitted_pipeline.predict_proba(X))


def test_corrupted_artifact_raises_integrity_error(warden, registered):
    path = warden.artifacts._path(registered.artifact_sha256)
    from pathlib import Path

    data = bytearray(Path(path).read_bytes())
    data[100] ^= 0xFF
    Path(path).write_bytes(bytes(data))
    with pytest.raises(mw.IntegrityError, match=r"credit-risk@1 is corrupted"):
        warden.load_model("credit-risk@1")


def test_missing_artifact_raises_integrity_error(warden, registered):
    import os

    os.remove(warden.artifacts._path(registered.artifact_sha256))
    with pytest.raises(mw.IntegrityError, match=r"credit-risk@1 is missing"):
        warden.load_model("credit-risk@1")


def test_entities_are_immutable(registered):
    with pytest.raises(AttributeError):
        registered.version = 5  # type: ignore[misc]
    with pytest.raises(TypeError):
        registered.metrics["roc_auc"] = 1.0
    with pytest.raises(TypeError):
        registered.lineage["datasets"]["train"]["rows"] = 1
    assert "credit-risk@1" in repr(registered)
    html = registered._repr_html_()
    assert html.startswith("<table>") and "artifact_sha256" in html
    assert registered.to_dict()["lineage"]["datasets"]["train"]["rows"] == 4000


@pytest.mark.parametrize(
    "ref, message",
    [
        ("x@@1", "invalid reference"),
        ("x@-3", "invalid reference"),
        ("x@0", "versions start at 1"),
        ("@1", "invalid model name"),
        ("bad name", "invalid model name"),
    ],
)
def test_malformed_references_are_rejected(warden, ref, message):
    with pytest.raises(mw.ValidationError, match=message) as info:
        warden.get_model_version(ref)
    assert info.value.http_status == 422


def test_unknown_model_and_version(warden, registered):
    with pytest.raises(mw.NotFound, match="model 'nope' does not exist") as info:
        warden.get_model_version("nope@1")
    assert info.value.http_status == 404
    with pytest.raises(mw.NotFound, match="has no version 7"):
        warden.get_model_version("credit-risk@7")
    with pytest.raises(mw.NotFound, match="has no version 9"):
        warden.set_alias("credit-risk", "staging", 9)
    with pytest.raises(mw.NotFound):
        warden.load_model("nope")


def test_bad_registration_inputs(warden, fitted_pipeline, small_adult):
    train, _ = small_adult
    X, y = train.drop(columns="income"), train["income"]
    with pytest.raises(mw.ValidationError, match=r"4000 rows but train\.y has 10"):
        warden.register_model("m", fitted_pipeline, train=mw.Dataset(X, y[:10]))
    with pytest.raises(mw.ValidationError, match="must be tabular"):
        warden.register_model("m", fitted_pipeline, train=mw.Dataset([1, 2, 3], None))
    with pytest.raises(mw.ValidationError, match="must be tabular"):
        warden.register_model("m", fitted_pipeline, train=mw.Dataset(np.arange(5), None))
    from sklearn.linear_model import LogisticRegression

    with pytest.raises(mw.ValidationError, match="not fitted"):
        warden.register_model("m", LogisticRegression(), train=mw.Dataset(X, y))
    with pytest.raises(mw.ValidationError, match="risk_tier"):
        warden.register_model("m", fitted_pipeline, risk_tier="extreme")
    with pytest.raises(mw.ValidationError, match="sensitive feature 'religion'"):
        warden.register_model(
            "m", fitted_pipeline, train=mw.Dataset(X, y), sensitive_features=["religion"]
        )
    with pytest.raises(mw.ValidationError, match=r"cannot tell how to save"):
        warden.register_model("m", object())
    assert warden.list_models() == []  # nothing half-written by any of these


def test_sensitive_features_kept_out_of_the_model(warden, small_adult):
    from sklearn.linear_model import LogisticRegression

    train, _ = small_adult
    X = train[["age", "hours-per-week"]]
    model = LogisticRegression().fit(X, train["income"])
    mv = warden.register_model(
        "no-sex",
        model,
        train=mw.Dataset(X, train["income"], sensitive=train[["sex"]]),
        sensitive_features=["sex"],
    )
    assert [c["name"] for c in mv.signature["inputs"]] == ["age", "hours-per-week"]
    assert list(mv.lineage["sensitive_features"]) == ["sex"]


def test_failed_write_leaves_nothing_half_written(warden, fitted_pipeline, monkeypatch):
    def boom(*args, **kwargs):
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(warden.registry.store, "create_version", boom)
    with pytest.raises(RuntimeError):
        warden.register_model("credit-risk", fitted_pipeline)
    monkeypatch.undo()
    assert warden.list_models() == []  # the model row rolled back with the version


def test_regression_metrics(warden):
    from sklearn.linear_model import LinearRegression

    rng = np.random.default_rng(0)
    X = pd.DataFrame({"a": rng.normal(size=300), "b": rng.normal(size=300)})
    y = 2 * X["a"] - X["b"] + rng.normal(scale=0.1, size=300)
    mv = warden.register_model("reg", LinearRegression().fit(X, y), eval=mw.Dataset(X, y))
    assert set(mv.metrics) == {"mae", "rmse", "r2"} and mv.metrics["r2"] > 0.99
    assert mv.signature["output"]["type"] == "number"


def test_evidence_is_collected_at_registration(warden, registered, fitted_pipeline, small_adult):
    from mlwarden.engines.fairness import audit
    from mlwarden.engines.profile import Profile

    assert set(registered.evidence) == {
        "reference_profile",
        "fairness",
        "explain",
        "explain_background",  # a logistic pipeline: its background means, for serving
        "privacy",
        "calibration",
    }
    _, test = small_adult
    X = test.drop(columns="income")

    ref = warden.get_evidence("credit-risk@1", "reference_profile")
    assert ref["status"] == "ok" and ref["rows"] == 2000 and ref["source"] == "eval"
    prof = Profile.from_bytes(warden.artifacts.get(ref["artifact_sha256"]))
    assert prof.n_rows == 2000 and "__score__" in prof.columns and "age" in prof.columns

    fairness = warden.get_evidence("credit-risk@1", "fairness")
    direct = audit(
        test["income"].to_numpy(),
        fitted_pipeline.predict(X),
        sensitive_features=test[["sex", "race"]].reset_index(drop=True),
        favorable_label=">50K",
    )
    assert fairness["summary"]["sex"]["disparate_impact"] == pytest.approx(
        direct.to_dict()["summary"]["sex"]["disparate_impact"]
    )

    explain = warden.get_evidence("credit-risk@1", "explain")
    assert explain["status"] == "ok" and explain["method"] == "linear_exact"
    assert set(explain["importance"]) == set(X.columns)  # mapped back to input columns


def test_evidence_gaps_are_recorded_not_hidden(warden, fitted_pipeline):
    mv = warden.register_model("bare", fitted_pipeline)  # no data at all
    assert warden.get_evidence("bare@1", "fairness")["status"] == "skipped"
    assert "no training" in warden.get_evidence("bare@1", "reference_profile")["reason"]
    assert set(mv.evidence) == {
        "reference_profile",
        "fairness",
        "explain",
        "privacy",
        "calibration",
    }
    assert "held out" in warden.get_evidence("bare@1", "calibration")["reason"]
