"""Issue 15 item 9: linear explanations from stored background means, the registration evidence
that stores them, and which features a server leaves out of reason codes."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import pandas as pd
import pytest
from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import LogisticRegression, Ridge

import mlwarden as mw
from mlwarden.engines.explain import background_hash, explainer_for
from mlwarden.engines.explain.linear import LinearExplainer
from mlwarden.entities import ModelVersion
from mlwarden.errors import ValidationError
from mlwarden.serving.core import reason_exclusions


def _data(n: int = 300) -> tuple[pd.DataFrame, np.ndarray]:
    rng = np.random.default_rng(3)
    X = pd.DataFrame(
        {
            "income": rng.normal(50, 12, n),
            "debt": rng.normal(10, 4, n),
            "age": rng.normal(40, 10, n),
            "sex": rng.integers(0, 2, n).astype(float),
        }
    )
    y = ((X.income - 3 * X.debt + 4 * X.sex + rng.normal(0, 6, n)) > 22).astype(int).to_numpy()
    return X, y


def test_means_alone_give_the_same_explanation_as_the_background():
    X, y = _data()
    model = LogisticRegression(max_iter=500).fit(X, y)
    full = explainer_for(model, X[:100])
    stored = LinearExplainer(
        model, mean=full.mean_.tolist(), background_hash=full.background_hash_
    ).fit()
    a, b = full.explain(X[100:140]), stored.explain(X[100:140])
    np.testing.assert_array_equal(a.values, b.values)
    np.testing.assert_array_equal(a.base_values, b.base_values)
    assert b.background_hash == full.background_hash_ and b.additive


def test_linear_codes_equal_shap_linear_explainer():
    shap = pytest.importorskip("shap")
    X, y = _data()
    for model, unit in ((LogisticRegression(max_iter=500).fit(X, y), "log_odds"),
                        (Ridge().fit(X, X.income), "raw")):  # fmt: skip
        background = X[:100]
        exp = LinearExplainer(model, mean=X[:100].mean().to_numpy()).fit().explain(X[200:220])
        peer = shap.LinearExplainer(
            (np.ravel(model.coef_), float(np.ravel(model.intercept_)[0])), background.to_numpy()
        )
        sv = np.asarray(peer.shap_values(X[200:220].to_numpy()))
        assert np.abs(exp.values - sv).max() < 1e-9
        assert abs(exp.base_values[0] - float(np.ravel(peer.expected_value)[0])) < 1e-9
        assert exp.output_space == unit
        for code in exp.reason_codes(k=4, row=3):
            assert code.unit == unit and code.contribution != 0


def test_stored_means_of_the_wrong_width_are_refused():
    X, y = _data()
    model = LogisticRegression(max_iter=500).fit(X, y)
    with pytest.raises(ValidationError, match="background does not match"):
        LinearExplainer(model, mean=[0.0, 1.0]).fit()


def test_registration_stores_the_background_means_of_linear_models_only(tmp_path):
    X, y = _data()
    wd = mw.Warden(f"sqlite:///{tmp_path}/w.db")
    lr = wd.register_model("lr", LogisticRegression(max_iter=500).fit(X, y), train=mw.Dataset(X, y))
    ev = wd.get_evidence(lr.ref, "explain_background")
    explain = wd.get_evidence(lr.ref, "explain")
    idx = np.random.default_rng(0).choice(len(X), 100, replace=False)
    assert ev["status"] == "ok" and ev["form"] == "means" and ev["rows"] == 100
    assert ev["background_hash"] == explain["background_hash"] == background_hash(X.iloc[idx])
    np.testing.assert_allclose(ev["means"], X.iloc[idx].mean().to_numpy(), rtol=0, atol=1e-12)
    assert set(ev) == {
        "status", "method", "form", "means", "rows", "source", "background_hash", "output_space"
    }  # fmt: skip
    forest = RandomForestClassifier(n_estimators=5, random_state=0).fit(X, y)
    rf = wd.register_model("rf", forest, train=mw.Dataset(X, y))
    assert "explain_background" not in rf.evidence  # trees are their own background


def _version(sensitive: list[str]) -> ModelVersion:
    inputs = [{"name": n, "type": "float", "sensitive": n in sensitive} for n in ("a", "b", "sex")]
    return ModelVersion(
        name="m",
        version=1,
        artifact_sha256="0" * 64,
        artifact_size=1,
        flavor="sklearn",
        flavor_info={},
        signature={"inputs": inputs, "output": {}},
        lineage={},
        metrics={},
        params={},
        description=None,
        status="registered",
        created_at=datetime.now(UTC),
        created_by="alice",
    )


def test_reason_exclusions_setting():
    mv = _version(["sex"])
    assert reason_exclusions("sensitive", mv) == ["sex"]
    assert reason_exclusions("none", mv) == []
    assert reason_exclusions("sensitive, a", mv) == ["sex", "a"]
    assert reason_exclusions("b", mv) == ["b"]
    assert reason_exclusions("sensitive", _version([])) == []
