"""The API in process: predictions, validation, errors, authentication, roles."""

from __future__ import annotations

from datetime import timedelta

import numpy as np
import pytest
from serve_support import records

import mlwarden as mw
from mlwarden.server import ServerSettings, create_app


def _error(resp, status: int, code: str) -> dict:
    assert resp.status_code == status, resp.text
    body = resp.json()
    assert body["error"] == code
    assert isinstance(body["message"], str) and body["message"]
    assert isinstance(body["details"], dict)
    return body


def test_predict_records_matches_the_model_and_is_logged(api, store, lgb_model, credit_data):
    _, _, test = credit_data
    rows = records(test, 20)
    resp = api.post("/v1/models/credit/predict", json={"records": rows})
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert body["version"] == 1 and body["alias"] == "production" and body["logged"]
    assert body["outputs"] == lgb_model.predict(test.head(20)).tolist()
    np.testing.assert_allclose(body["scores"], lgb_model.predict_proba(test.head(20))[:, 1])
    assert len(set(body["ids"])) == 20
    logged = store.warden.predictions("credit", ids=body["ids"])
    assert sorted(logged["id"]) == sorted(body["ids"])
    assert (logged["latency_ms"] > 0).all()
    assert logged.set_index("id").loc[body["ids"][0], "age"] == rows[0]["age"]
    events = store.warden.audit.events(model="credit", action="predictions.log")
    assert events[-1].payload["count"] == 20 and events[-1].actor == "alice"


def test_predict_columns_and_explicit_version_and_oip(api, lgb_model, credit_data):
    _, _, test = credit_data
    part = test.head(5)
    columns = {c: [r[c] for r in records(part)] for c in part.columns}
    a = api.post("/v1/models/credit/predict?version=1", json={"columns": columns}).json()
    assert a["alias"] is None and a["outputs"] == lgb_model.predict(part).tolist()
    inputs = [{"name": c, "shape": [5], "datatype": "BYTES", "data": v} for c, v in columns.items()]
    resp = api.post("/v2/models/credit/infer", json={"id": "r1", "inputs": inputs})
    assert resp.status_code == 200, resp.text
    out = {t["name"]: t for t in resp.json()["outputs"]}
    assert resp.json()["model_version"] == "1" and resp.json()["id"] == "r1"
    assert out["predict"]["data"] == a["outputs"]
    assert len(set(out["prediction_id"]["data"])) == 5
    np.testing.assert_allclose(out["score"]["data"], a["scores"])
    meta = api.get("/v2/models/credit").json()
    assert meta["inputs"][0] == {"name": "age", "datatype": "INT64", "shape": [-1]}


def test_explain_adds_reason_codes(api, credit_data):
    _, _, test = credit_data
    body = api.post(
        "/v1/models/credit/predict?explain=true", json={"records": records(test, 2)}
    ).json()
    assert len(body["reasons"]) == 2 and len(body["reasons"][0]) == 3
    assert {"feature", "contribution", "text"} <= set(body["reasons"][0][0])


def test_validation_lists_every_bad_field(api, credit_data):
    _, _, test = credit_data
    bad = records(test, 2)
    del bad[0]["age"]
    bad[0]["zip"] = "12345"
    bad[1]["hours-per-week"] = "forty"
    bad[1]["sex"] = 1
    bad[1]["race"] = "Martian"  # fine unless strict
    body = _error(api.post("/v1/models/credit/predict", json={"records": bad}), 422,
                  "validation_error")  # fmt: skip
    found = {(e["row"], e["field"], e["error"]) for e in body["details"]["errors"]}
    assert found == {
        (0, "age", "missing"),
        (0, "zip", "unknown"),
        (1, "hours-per-week", "type"),
        (1, "sex", "type"),
    }
    strict = api.post("/v1/models/credit/predict?strict=true", json={"records": bad[1:]})
    found = {(e["field"], e["error"]) for e in _error(strict, 422, "validation_error")[
        "details"]["errors"]}  # fmt: skip
    assert ("race", "category") in found
    _error(api.post("/v1/models/credit/predict", json={"records": []}), 422, "validation_error")
    _error(api.post("/v1/models/credit/predict", json={}), 422, "validation_error")
    _error(
        api.post("/v1/models/credit/predict", json={"columns": {"age": [1, 2], "sex": ["M"]}}),
        422,
        "validation_error",
    )


def test_malformed_bodies_get_clear_json_errors(api, store):
    url = "/v1/models/credit/predict"
    _error(api.post(url, content=b'{"records": [', headers={"content-type": "application/json"}),
           400, "malformed_json")  # fmt: skip
    _error(api.post(url, content=b"age=3", headers={"content-type": "text/plain"}), 415,
           "unsupported_media_type")  # fmt: skip
    app = create_app(ServerSettings(max_body_bytes=2048), store.warden)
    from fastapi.testclient import TestClient

    with TestClient(app, headers=store.headers()) as small:
        big = {"records": [{"age": 1, "pad": "x" * 4000}]}
        _error(small.post(url, json=big), 413, "payload_too_large")
    _error(api.get("/v1/models/nope"), 404, "not_found")
    _error(api.post("/v1/models/nope/predict", json={"records": [{}]}), 404, "not_found")
    _error(api.post(url + "?alias=Bad Alias", json={"records": [{}]}), 422, "validation_error")


def test_tokens_missing_bad_expired_revoked_and_roles(api, store):
    wd = store.warden
    url = "/v1/models/credit/predict"
    api.headers.pop("Authorization")
    _error(api.get("/v1/models"), 401, "unauthenticated")
    _error(api.get("/v1/models", headers={"Authorization": "Bearer nope"}), 401,
           "unauthenticated")  # fmt: skip
    _error(api.get("/v1/models", headers={"Authorization": "Basic YTpi"}), 401, "unauthenticated")
    assert api.get("/healthz").status_code == 200 and api.get("/readyz").status_code == 200

    clock = [wd.access._clock()]
    wd.access._clock = lambda: clock[0]
    short = wd.create_token("alice", expires_in="1m").token
    assert api.get("/v1/models", headers=store.headers(short)).status_code == 200
    clock[0] += timedelta(minutes=2)
    api.app.state.ctx.auth.forget()  # the cache would keep it for auth_ttl_s
    _error(api.get("/v1/models", headers=store.headers(short)), 401, "unauthenticated")

    wd.create_user("vic", "viewer")
    vic = wd.create_token("vic", description="viewer").token
    h = store.headers(vic)
    assert api.get("/v1/models", headers=h).status_code == 200
    body = _error(
        api.put("/v1/models/credit/aliases/production", json={"version": 1}, headers=h),
        403,
        "permission_denied",
    )
    assert "alias.set" in body["message"]
    denied = wd.audit.events(action="access.denied", actor="vic")
    assert denied and denied[-1].payload["action"] == "alias.set"
    # a viewer may predict, but may not write to the log
    rows = [{"age": 1}]
    assert api.post(url, json={"records": rows}, headers=h).status_code == 422
    _error(api.post("/v1/models/credit/labels", json={"ids": ["x"], "y_true": [1]}, headers=h),
           403, "permission_denied")  # fmt: skip

    token_id = wd.list_tokens("vic")[0].id
    revoke = api.delete(f"/v1/tokens/{token_id}", headers=store.headers())
    assert revoke.status_code == 200 and revoke.json()["revoked_at"]
    _error(api.get("/v1/models", headers=h), 401, "unauthenticated")


def test_alias_swaps_without_restart(api, store, lgb_model, credit_data):
    import lightgbm as lgb

    X, y, test = credit_data
    other = lgb.LGBMClassifier(n_estimators=3, num_leaves=4, verbose=-1).fit(X, y)
    store.warden.register_model("credit", other, train=mw.Dataset(X, y))
    rows = records(test, 50)
    assert api.post("/v1/models/credit/predict", json={"records": rows}).json()["version"] == 1
    moved = api.put(
        "/v1/models/credit/aliases/production",
        json={"version": 2, "override": True, "reason": "swap"},
    )
    assert moved.status_code == 200 and moved.json()["to_version"] == 2
    after = api.post("/v1/models/credit/predict", json={"records": rows}).json()
    assert after["version"] == 2
    np.testing.assert_allclose(after["scores"], other.predict_proba(test.head(50))[:, 1])
    # a move made elsewhere (CLI, another replica) is seen within alias_ttl_s
    store.warden.set_alias("credit", "production", 1, override=True, reason="test setup")
    api.app.state.ctx.resolver.ttl = 0
    assert api.post("/v1/models/credit/predict", json={"records": rows}).json()["version"] == 1


def test_labels_purge_and_async_durability(store, credit_data):
    from fastapi.testclient import TestClient

    _, _, test = credit_data
    app = create_app(ServerSettings(durability="async"), store.warden)
    with TestClient(app, headers=store.headers()) as api:
        body = api.post("/v1/models/credit/predict", json={"records": records(test, 3)}).json()
        assert body["logged"] is False  # answered before the commit
    # leaving the client stops the writer, which commits what was queued
    ids = body["ids"]
    assert len(store.warden.predictions("credit", ids=ids)) == 3
    with TestClient(create_app(ServerSettings(), store.warden), headers=store.headers()) as api:
        res = api.post("/v1/models/credit/labels", json={"ids": [*ids, "nope"],
                                                         "y_true": [">50K"] * 4})  # fmt: skip
        assert res.json() == {"labelled": 3, "unknown_ids": ["nope"]}
        bad = api.post("/v1/models/credit/labels", json={"ids": ids, "y_true": ["yes", 7, 1]})
        assert bad.status_code == 422 and bad.json()["details"]["field"] == "y_true"
        assert ids[0] in bad.json()["message"] and "'yes'" in bad.json()["message"]
        assert api.post("/v1/models/credit/predictions/purge",
                        json={"before_day": 99991231}).json() == {"deleted": 3}  # fmt: skip
    assert store.warden.predictions("credit").empty
    assert store.warden.audit.verify().ok


def test_openapi_is_complete(api):
    doc = api.get("/openapi.json").json()
    paths = doc["paths"]
    for path in (
        "/v1/models",
        "/v1/models/{name}/versions/{ref}",
        "/v1/models/{name}/aliases/{alias}",
        "/v1/models/{name}/versions/{ref}/approvals",
        "/v1/models/{name}/predict",
        "/v2/models/{name}/infer",
        "/v1/models/{name}/labels",
        "/v1/models/{name}/monitor",
        "/v1/audit/verify",
        "/v1/users",
        "/v1/tokens",
    ):
        assert path in paths, path
    assert doc["components"]["securitySchemes"]["token"]["scheme"] == "bearer"
    assert "security" in paths["/v1/models"]["get"]
    assert "security" not in paths["/healthz"]["get"]


@pytest.mark.parametrize("n", [1, 300])
def test_lightgbm_fast_path_equals_the_model(store, lgb_model, credit_data, n):
    from mlwarden.serving.core import LightGBMServed

    _, _, test = credit_data
    mv = store.warden.get_model_version("credit@1")
    served = LightGBMServed(mv, store.warden.load_model("credit@1"))
    assert served.fast
    part = test.head(n)
    pred = served.predict(records(part))
    assert pred.outputs == lgb_model.predict(part).tolist()
    np.testing.assert_allclose(pred.scores, lgb_model.predict_proba(part)[:, 1], rtol=1e-12)


@pytest.mark.parametrize("kind", ["multiclass", "regression"])
def test_lightgbm_one_row_path_equals_the_model(store, credit_data, kind):
    """The one-row path (plain Python around the C call) answers as the model does, row by
    row, for three classes (label of the first maximum, its probability) and a regressor."""
    import lightgbm as lgb

    from mlwarden.serving.core import LightGBMServed

    X, y, test = credit_data
    wd = store.warden
    if kind == "multiclass":
        target = np.where(y == y.iloc[0], "a", np.where(X["age"] > 40, "b", "c"))
        model = lgb.LGBMClassifier(n_estimators=10, num_leaves=7, verbose=-1, n_jobs=1)
    else:
        target = X["hours-per-week"].astype(float)
        model = lgb.LGBMRegressor(n_estimators=10, num_leaves=7, verbose=-1, n_jobs=1)
    model.fit(X, target)
    wd.register_model("other", model, train=mw.Dataset(X, target), risk_tier="low")
    served = LightGBMServed(wd.get_model_version("other@1"), wd.load_model("other@1"))
    assert served.fast and served.single is not None
    part = test.head(25)
    expected = model.predict(part).tolist()
    for i, row in enumerate(records(part)):
        pred = served.predict([row])
        assert pred.outputs == [expected[i]]
        if kind == "multiclass":
            assert pred.scores == [pytest.approx(model.predict_proba(part.iloc[[i]]).max())]
        else:
            assert pred.scores is None


def test_serve_command_is_registered():
    from typer.testing import CliRunner

    from mlwarden.cli.main import app

    result = CliRunner().invoke(app, ["serve", "--help"])
    assert result.exit_code == 0 and "--durability" in result.output


def test_served_inputs_are_masked_before_they_are_stored(api, store, lgb_model, credit_data):
    store.warden.set_masking_policy(
        "credit",
        "version: 1\ncolumns:\n  age: {action: generalize, kind: age, width: 10, top: 90}\n"
        "  native-country: drop\n",
    )
    _, _, test = credit_data
    rows = records(test, 5)
    body = api.post("/v1/models/credit/predict", json={"records": rows}).json()
    assert body["outputs"] == lgb_model.predict(test.head(5)).tolist()  # the model saw it all
    logged = store.warden.predictions("credit", ids=body["ids"])
    assert all((isinstance(a, str) and "-" in a) or a == "90+" for a in logged["age"])
    assert "native-country" not in logged.columns or logged["native-country"].isna().all()


def test_served_predictions_are_counted_in_metrics(api, credit_data):
    import re

    _, _, test = credit_data

    def served() -> float:
        text = api.get("/metrics").text
        found = re.search(r'mlwarden_predictions_total\{model="credit",version="1"\} (\S+)', text)
        return float(found.group(1)) if found else 0.0

    before = served()
    assert api.post("/v1/models/credit/predict", json={"records": records(test, 5)}).is_success
    assert served() == before + 5


def test_an_unexpected_error_on_the_predict_path_is_a_json_500(app, api, credit_data, caplog):
    """Predictions bypass FastAPI's router (PredictFastPath): the app's own handlers still
    answer its errors, down to the catch-all."""

    def broken(*args, **kwargs):
        raise RuntimeError("resolver down")

    app.state.ctx.resolver.resolve = broken
    r = api.post("/v1/models/credit/predict", json={"records": records(credit_data[2], 1)})
    assert r.status_code == 500
    assert r.json() == {
        "error": "internal_error",
        "message": "internal error: RuntimeError",
        "details": {},
    }
    assert "unhandled error on POST /v1/models/credit/predict" in caplog.text


def test_sensitive_attributes_travel_beside_served_rows(store, credit_data):
    """`race` is declared at registration but is not an input: sent per record, it is logged
    for fairness and never reaches the model; an undeclared attribute is a 422."""
    import lightgbm as lgb
    from fastapi.testclient import TestClient

    X, y, test = credit_data
    inputs = X.drop(columns="race")
    model = lgb.LGBMClassifier(n_estimators=5, verbose=-1).fit(inputs, y)
    store.warden.register_model(
        "scorecard", model, train=mw.Dataset(inputs, y, sensitive=X[["race"]]),
        sensitive_features=["race"],
    )  # fmt: skip
    store.warden.set_alias("scorecard", "production", 1, override=True, reason="test setup")
    rows = records(test.drop(columns="race"), 5)
    races = [{"race": r} for r in test["race"].astype(str).head(5)]
    with TestClient(create_app(ServerSettings(), store.warden), headers=store.headers()) as api:
        body = api.post("/v1/models/scorecard/predict", json={"records": rows, "sensitive": races})
        assert body.status_code == 200, body.text
        assert body.json()["outputs"] == model.predict(test.drop(columns="race").head(5)).tolist()
        bad = api.post("/v1/models/scorecard/predict",
                       json={"records": rows, "sensitive": [{"religion": "x"}] * 5})  # fmt: skip
        assert bad.status_code == 422 and bad.json()["details"]["field"] == "sensitive"
    logged = store.warden.predictions("scorecard", ids=body.json()["ids"]).set_index("id")
    assert logged.loc[body.json()["ids"], "race"].tolist() == [r["race"] for r in races]
