"""Issue 15 item 9 over HTTP: a logistic scorecard gets reason codes from the background means
stored at registration (exact against ``shap.LinearExplainer`` on the same background), the
version's sensitive features are left out (configurable) and their share is reported apart."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from serve_support import records
from sklearn.compose import ColumnTransformer
from sklearn.linear_model import LogisticRegression
from sklearn.neighbors import KNeighborsClassifier
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

import mlwarden as mw
from mlwarden.engines.explain import background_hash, explainer_for
from mlwarden.entities import ASSERTED
from mlwarden.errors import ValidationError
from mlwarden.server import ServerSettings, create_app
from mlwarden.serving.core import served_for

NUMERIC = ["age", "education-num", "hours-per-week", "capital-gain"]
CATEGORICAL = ["sex", "marital-status", "relationship"]


def _scorecard(X, y) -> Pipeline:
    pre = ColumnTransformer(
        [
            ("num", StandardScaler(), NUMERIC),
            ("cat", OneHotEncoder(handle_unknown="ignore", sparse_output=False), CATEGORICAL),
        ]
    )
    return Pipeline([("pre", pre), ("lr", LogisticRegression(max_iter=500))]).fit(X, y)


@pytest.fixture
def scorecard(store, credit_data):
    X, y, _ = credit_data
    X = X[NUMERIC + CATEGORICAL]
    model = _scorecard(X, y)
    wd = store.warden
    wd.register_model("scorecard", model, train=mw.Dataset(X, y), sensitive_features=["sex"])
    wd.set_alias("scorecard", "production", 1, override=True, reason="test setup")
    return model, X


def _folded_shap(model: Pipeline, background, rows) -> np.ndarray:
    """shap.LinearExplainer on the transformed features, summed back per input column by
    hand from the ColumnTransformer's output slices and the encoder's category lists."""
    import shap

    pre, lr = model.named_steps["pre"], model.named_steps["lr"]
    peer = shap.LinearExplainer((lr.coef_[0], lr.intercept_[0]), pre.transform(background))
    sv = np.asarray(peer.shap_values(pre.transform(rows)))
    cols = NUMERIC + CATEGORICAL
    out = np.zeros((len(rows), len(cols)))
    start = pre.output_indices_["num"].start
    for j, c in enumerate(NUMERIC):
        out[:, cols.index(c)] = sv[:, start + j]
    at = pre.output_indices_["cat"].start
    for c, cats in zip(CATEGORICAL, pre.named_transformers_["cat"].categories_, strict=True):
        out[:, cols.index(c)] = sv[:, at : at + len(cats)].sum(axis=1)
        at += len(cats)
    return out


def test_scorecard_reason_codes_over_http_match_shap_linear_explainer(api, scorecard, credit_data):
    model, X = scorecard
    test = credit_data[2][NUMERIC + CATEGORICAL].iloc[:8]
    resp = api.post("/v1/models/scorecard/predict?explain=true", json={"records": records(test)})
    assert resp.status_code == 200, resp.text
    body = resp.json()
    # the background registration sampled: 100 training rows, seed 0, its hash on the evidence
    idx = np.random.default_rng(0).choice(len(X), 100, replace=False)
    background = X.iloc[idx]
    stored = api.get("/v1/models/scorecard/versions/1/evidence/explain_background").json()
    assert stored["background_hash"] == background_hash(background)
    assert stored["form"] == "means" and stored["rows"] == 100
    assert set(stored) >= {"means", "source"} and "rows_data" not in stored  # no row kept
    expected = _folded_shap(model, background, test)
    cols = NUMERIC + CATEGORICAL
    assert body["reason_unit"] == "log_odds"
    assert body["excluded_features"] == ["sex"]
    for i, codes in enumerate(body["reasons"]):
        assert codes, "every row has reasons"
        for code in codes:
            assert code["feature"] != "sex"
            assert code["unit"] == "log_odds" and code["contribution"] != 0
            assert abs(code["contribution"] - expected[i, cols.index(code["feature"])]) < 1e-9
        assert abs(body["excluded_contribution"][i] - expected[i, cols.index("sex")]) < 1e-9
    # the codes are the largest non-sensitive contributions
    order = np.argsort(-np.abs(expected[0]), kind="stable")
    top = [cols[j] for j in order if cols[j] != "sex"][:3]
    assert [c["feature"] for c in body["reasons"][0]] == top


def test_reasons_exclude_setting(store, scorecard, credit_data):
    from fastapi.testclient import TestClient

    test = credit_data[2][NUMERIC + CATEGORICAL].iloc[:20]
    wanted = {"none": [], "sensitive,age": ["age", "sex"], "capital-gain": ["capital-gain"]}
    for setting, excluded in wanted.items():
        app = create_app(ServerSettings(reasons_exclude=setting), store.warden)
        with TestClient(app, headers=store.headers()) as client:
            body = client.post(
                "/v1/models/scorecard/predict?explain=true", json={"records": records(test)}
            ).json()
        assert body["excluded_features"] == excluded, setting
        cited = {c["feature"] for row in body["reasons"] for c in row}
        assert not cited & set(excluded)
        if not excluded:
            assert body["excluded_contribution"] == [0.0] * len(test)
    with pytest.raises(ValueError):
        ServerSettings(reasons_exclude="age,,sex")


def test_tree_model_reports_the_excluded_share(api, lgb_model, credit_data):
    test = credit_data[2].iloc[:5]
    body = api.post(
        "/v1/models/credit/predict?explain=true", json={"records": records(test)}
    ).json()
    exp = explainer_for(lgb_model).explain(test)
    sex = exp.feature_names.index("sex")
    assert body["excluded_features"] == ["sex"] and body["reason_unit"] == "log_odds"
    np.testing.assert_allclose(body["excluded_contribution"], exp.values[:, sex], atol=1e-9)
    assert all(c["feature"] != "sex" for row in body["reasons"] for c in row)
    plain = api.post("/v1/models/credit/predict", json={"records": records(test)}).json()
    assert "excluded_contribution" not in plain
    # OIP v2 carries the same in its parameters
    rows = records(test)
    tensors = [
        {"name": c, "shape": [len(rows)], "datatype": "BYTES", "data": [r[c] for r in rows]}
        for c in test.columns
    ]
    oip = api.post("/v2/models/credit/infer?explain=true", json={"inputs": tensors})
    assert oip.status_code == 200, oip.text
    params = oip.json()["parameters"]
    assert params["excluded_features"] == ["sex"] and params["reason_unit"] == "log_odds"
    np.testing.assert_allclose(params["excluded_contribution"], exp.values[:, sex], atol=1e-9)


def test_background_must_be_measured(store, scorecard, credit_data):
    model, _ = scorecard
    wd = store.warden
    mv = wd.registry.get_version("scorecard@1")
    rows = records(credit_data[2][NUMERIC + CATEGORICAL].iloc[:2])

    def served(version):
        s = served_for(version, model)
        s.evidence = lambda v, kind: wd.get_evidence(v.ref, kind)
        return s

    assert served(mv).explain(rows).codes  # measured at registration: used
    asserted = dataclasses.replace(mv, provenance={**mv.provenance, "explain_background": ASSERTED})
    with pytest.raises(ValidationError, match="asserted by a client"):
        served(asserted).explain(rows)
    missing = dataclasses.replace(
        mv, evidence={k: v for k, v in mv.evidence.items() if k != "explain_background"}
    )
    with pytest.raises(ValidationError, match="needs the background measured at registration"):
        served(missing).explain(rows)


def test_other_models_are_refused_with_a_reason(api, store, credit_data):
    X, y, test = credit_data
    numeric = X[NUMERIC]
    store.warden.register_model(
        "knn", KNeighborsClassifier().fit(numeric, y), train=mw.Dataset(numeric, y)
    )
    resp = api.post(
        "/v1/models/knn/predict?version=1&explain=true",
        json={"records": records(test[NUMERIC], 2)},
    )
    assert resp.status_code == 422
    assert "tree or linear model" in resp.json()["message"]
    assert api.get("/healthz").status_code == 200
