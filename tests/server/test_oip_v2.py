"""Open Inference Protocol v2 (issue 15 item 10): the versioned infer and metadata routes,
``parameters.alias``, ``?explain=true`` and ``parameters.explain``, requested outputs, and
metadata whose ``outputs`` are exactly the tensors infer returns. Over a real HTTP server, on
both databases."""

from __future__ import annotations

import httpx
import pytest
from serve_support import LiveServer, records

import mlwarden as mw


@pytest.fixture
def oip(store, app, lgb_model, credit_data):
    """``credit`` v1 in production and v2 (same model) behind ``staging``; ``price``, a
    regressor; an HTTP client on a live server."""
    import lightgbm as lgb

    X, y, Xt = credit_data
    wd = store.warden
    wd.register_model("credit", lgb_model, train=mw.Dataset(X, y))
    wd.set_alias("credit", "staging", 2)
    num = X.select_dtypes("number")
    reg = lgb.LGBMRegressor(n_estimators=5, num_leaves=4, verbose=-1, n_jobs=1)
    target = num["age"] * 1.5
    wd.register_model("price", reg.fit(num, target), train=mw.Dataset(num, target))
    wd.set_alias("price", "production", 1, override=True, reason="test setup")
    with (
        LiveServer(app) as live,
        httpx.Client(base_url=live.url, headers=store.headers(), timeout=60) as http,
    ):
        yield http, wd, Xt


def _tensors(frame, n):
    part = records(frame, n)
    return [
        {"name": c, "shape": [n], "datatype": "BYTES", "data": [r[c] for r in part]}
        for c in frame.columns
    ]


def _ok(resp):
    assert resp.status_code == 200, resp.text
    return resp.json()


def test_versioned_infer_serves_and_logs_that_version(oip):
    http, wd, Xt = oip
    body = _ok(http.post("/v2/models/credit/versions/2/infer", json={"inputs": _tensors(Xt, 3)}))
    assert body["model_name"] == "credit" and body["model_version"] == "2"
    assert body["parameters"]["alias"] is None
    ids = next(t for t in body["outputs"] if t["name"] == "prediction_id")["data"]
    assert wd.prediction(ids[0])["version"] == 2
    plain = _ok(http.post("/v2/models/credit/infer", json={"inputs": _tensors(Xt, 3)}))
    assert plain["model_version"] == "1" and plain["parameters"]["alias"] == "production"
    for bad in ("0", "abc", "99999999999"):
        r = http.post(f"/v2/models/credit/versions/{bad}/infer", json={"inputs": _tensors(Xt, 1)})
        assert r.status_code == 422, (bad, r.text)
    r = http.post("/v2/models/credit/versions/9/infer", json={"inputs": _tensors(Xt, 1)})
    assert r.status_code == 404 and r.json()["error"] == "not_found"
    r = http.post(
        "/v2/models/credit/versions/2/infer",
        json={"inputs": _tensors(Xt, 1), "parameters": {"alias": "staging"}},
    )
    assert r.status_code == 422  # an alias and a version


def test_parameters_alias_is_honoured(oip):
    http, _wd, Xt = oip
    body = {"inputs": _tensors(Xt, 2), "parameters": {"alias": "staging"}}
    out = _ok(http.post("/v2/models/credit/infer", json=body))
    assert out["model_version"] == "2" and out["parameters"]["alias"] == "staging"
    # the query form still works; the two may not disagree
    out = _ok(http.post("/v2/models/credit/infer?alias=staging", json=body))
    assert out["model_version"] == "2"
    r = http.post("/v2/models/credit/infer?alias=production", json=body)
    assert r.status_code == 422 and r.json()["details"]["field"] == "parameters.alias"
    for params in ({"alias": 7}, {"alias": "no such!"}, {"colour": "red"}):
        r = http.post("/v2/models/credit/infer", json={**body, "parameters": params})
        assert r.status_code == 422, (params, r.text)
    r = http.post("/v2/models/credit/infer", json={**body, "parameters": {"alias": "nope"}})
    assert r.status_code == 404


def test_explain_by_query_or_parameter_adds_reason_codes(oip):
    http, _wd, Xt = oip
    inputs = _tensors(Xt, 2)
    by_query = _ok(http.post("/v2/models/credit/infer?explain=true", json={"inputs": inputs}))
    by_param = _ok(
        http.post(
            "/v2/models/credit/infer", json={"inputs": inputs, "parameters": {"explain": True}}
        )
    )
    for out in (by_query, by_param):
        reasons = out["parameters"]["reasons"]
        assert len(reasons) == 2 and {"feature", "contribution"} <= set(reasons[0][0])
    plain = _ok(http.post("/v2/models/credit/infer", json={"inputs": inputs}))
    assert "reasons" not in plain["parameters"]
    versioned = _ok(
        http.post("/v2/models/credit/versions/2/infer?explain=1", json={"inputs": inputs})
    )
    assert len(versioned["parameters"]["reasons"]) == 2
    r = http.post(
        "/v2/models/credit/infer", json={"inputs": inputs, "parameters": {"explain": "yes"}}
    )
    assert r.status_code == 422


@pytest.mark.parametrize(
    ("model", "meta_path", "infer_path"),
    [
        ("credit", "/v2/models/credit", "/v2/models/credit/infer"),
        ("credit", "/v2/models/credit/versions/2", "/v2/models/credit/versions/2/infer"),
        ("price", "/v2/models/price", "/v2/models/price/infer"),
    ],
)
def test_metadata_outputs_are_the_tensors_infer_returns(oip, model, meta_path, infer_path):
    http, _wd, Xt = oip
    meta = _ok(http.get(meta_path))
    frame = Xt if model == "credit" else Xt.select_dtypes("number")
    assert [i["name"] for i in meta["inputs"]] == list(frame.columns)
    out = _ok(http.post(infer_path, json={"inputs": _tensors(frame, 4)}))
    assert meta["versions"] == [out["model_version"]]
    got = [(t["name"], t["datatype"], t["shape"]) for t in out["outputs"]]
    want = [(t["name"], t["datatype"], [4 if d == -1 else d for d in t["shape"]])
            for t in meta["outputs"]]  # fmt: skip
    assert got == want
    by_name = {t["name"]: t for t in out["outputs"]}
    if model == "credit":  # a classifier: its class labels, and the positive class's score
        assert by_name["predict"]["datatype"] == "BYTES"
        assert set(by_name["predict"]["data"]) <= {"<=50K", ">50K"}
        assert all(0 <= s <= 1 for s in by_name["score"]["data"])
    else:  # a regressor: numbers, no score
        assert by_name["predict"]["datatype"] == "FP64" and "score" not in by_name
        assert all(isinstance(v, float) for v in by_name["predict"]["data"])


def test_requested_outputs_only(oip):
    http, _wd, Xt = oip
    body = {"inputs": _tensors(Xt, 2), "outputs": [{"name": "score"}]}
    out = _ok(http.post("/v2/models/credit/infer", json=body))
    assert [t["name"] for t in out["outputs"]] == ["score"]
    r = http.post("/v2/models/credit/infer", json={**body, "outputs": [{"name": "nope"}]})
    assert r.status_code == 422 and r.json()["details"]["field"] == "outputs"
    r = http.get("/v2/models/credit/versions/0")
    assert r.status_code == 422
    assert http.get("/v2/models/credit/versions/9").status_code == 404
