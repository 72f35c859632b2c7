"""The raw ASGI prediction route (``routes/predict_asgi.py``): it answers what FastAPI's
route answered, bad bodies included, and keeps every check before parsing."""

from __future__ import annotations

import json

import httpx
import pytest
from fastapi.testclient import TestClient
from serve_support import records

from mlwarden.server import ServerSettings, create_app
from mlwarden.server.routes.predict_asgi import PredictBody, parse_body
from mlwarden.server.schemas import PredictIn

URL = "/v1/models/credit/predict"


def _nested(depth: int) -> str:
    return "[" * depth + "1" + "]" * depth


def _bad_bodies(row: dict) -> dict[str, str]:
    """Bodies each refused with a 4xx; names say why."""
    text = json.dumps
    return {
        "not_json": "{records: [}",
        "truncated": text({"records": [row]})[:-3],
        "empty": "",
        "a_list": text([row]),
        "a_string": text("records"),
        "records_an_object": text({"records": row}),
        "record_a_list": text({"records": [[1, 2]]}),
        "record_a_number": text({"records": [5]}),
        "columns_a_list": text({"columns": [1, 2]}),
        "column_not_a_list": text({"columns": {"age": 5}}),
        "subjects_numbers": text({"records": [row], "subjects": [1]}),
        "subjects_an_object": text({"records": [row], "subjects": {"a": 1}}),
        "sensitive_nested": text({"records": [row], "sensitive": [{"race": [1]}]}),
        "sensitive_a_string": text({"records": [row], "sensitive": ["x"]}),
        "both_forms": text({"records": [row], "columns": {"age": [1]}}),
        "neither_form": text({"subjects": ["a"]}),
        "no_rows": text({"records": []}),
        "value_nested": text({"records": [{**row, "age": {"a": [1]}}]}),
        "value_a_list": text({"records": [{**row, "age": [39]}]}),
        "wrong_type": text({"records": [{**row, "age": "old"}]}),
        "deep_in_a_value": text({"records": [{**row, "age": 1}]}).replace(
            '"age": 1', '"age": ' + _nested(300)
        ),
        "deeper_than_orjson": '{"records": [' + _nested(5000) + "]}",
        "lone_surrogate": text({"records": [row]}).replace('"age"', '"\\ud800"'),
    }


@pytest.fixture
def both(store):
    """Clients of two apps on one store: the raw route, and FastAPI's route it replaces."""
    raw_app = create_app(ServerSettings(), store.warden)
    fastapi_app = create_app(ServerSettings(), store.warden)
    fastapi_app.predict_route = None  # requests go through FastAPI's layers and route
    headers = {**store.headers(), "Content-Type": "application/json"}
    with (
        TestClient(raw_app, headers=headers) as raw,
        TestClient(fastapi_app, headers=headers) as old,
    ):
        yield raw, old


def test_bad_bodies_get_the_fastapi_routes_answer(both, credit_data):
    raw, old = both
    row = records(credit_data[2], 1)[0]
    for name, body in _bad_bodies(row).items():
        new, before = raw.post(URL, content=body), old.post(URL, content=body)
        assert 400 <= new.status_code < 500, (name, new.status_code, new.text)
        assert (new.status_code, new.json()) == (before.status_code, before.json()), name
        assert set(new.json()) == {"error", "message", "details"}, name
        assert new.headers["content-type"] == "application/json", name


def test_bad_bodies_name_what_is_wrong(api, credit_data):
    row = records(credit_data[2], 1)[0]
    bad = _bad_bodies(row)
    r = api.post(URL, content=bad["not_json"], headers={"Content-Type": "application/json"})
    assert r.status_code == 400 and r.json()["error"] == "malformed_json"
    r = api.post(
        URL, content=bad["deeper_than_orjson"], headers={"Content-Type": "application/json"}
    )
    assert r.status_code == 400 and r.json()["error"] == "malformed_json"
    r = api.post(URL, content=bad["subjects_numbers"], headers={"Content-Type": "application/json"})
    assert r.status_code == 422
    assert r.json()["details"]["errors"][0]["loc"] == ["subjects", 0]
    r = api.post(URL, content=bad["wrong_type"], headers={"Content-Type": "application/json"})
    assert r.status_code == 422
    assert r.json()["details"]["errors"][0] == {
        "row": 0, "field": "age", "error": "type", "message": "must be an integer"
    }  # fmt: skip


def test_good_bodies_nan_and_big_integers_answer_alike(both, credit_data):
    raw, old = both
    rows = records(credit_data[2], 3)
    nan_row = json.dumps({"records": rows}).replace(f'"age": {rows[0]["age"]}', '"age": NaN', 1)
    # NaN (not JSON) and integers over 64 bits: orjson refuses them, pydantic decides as before
    huge = json.dumps({"records": [{**rows[0], "age": 10**30}]})
    for body in (json.dumps({"records": rows}), nan_row, huge):
        new, before = raw.post(URL, content=body), old.post(URL, content=body)
        assert new.status_code == before.status_code, (new.text, before.text)
        a, b = new.json(), before.json()
        if new.status_code == 200:
            assert a.pop("ids") != b.pop("ids")
        assert a == b


def test_size_media_type_and_token_are_checked_before_the_body_is_read(api, store):
    big = b'{"records": [' + b'{"a": 1},' * 1_000_000 + b'{"a": 1}]}'
    r = api.post(URL, content=big, headers={"Content-Type": "application/json"})
    assert r.status_code == 413 and r.json()["error"] == "payload_too_large"
    assert r.json()["details"]["max_bytes"] == ServerSettings().max_body_bytes

    def chunks():  # no Content-Length: counted while it streams
        for _ in range(100):
            yield b" " * 100_000

    r = api.post(URL, content=chunks(), headers={"Content-Type": "application/json"})
    assert r.status_code == 413 and r.json()["error"] == "payload_too_large"
    r = api.post(URL, content=b"{}", headers={"Content-Type": "text/plain"})
    assert r.status_code == 415 and r.json()["error"] == "unsupported_media_type"
    no_token = {"Content-Type": "application/json", "Authorization": ""}
    r = api.post(URL, content=b"{not json", headers=no_token)
    assert r.status_code == 401 and r.json()["error"] == "unauthenticated"
    bad_token = {"Content-Type": "application/json", "Authorization": "Bearer mlw_nope"}
    r = api.post(URL, content=b"{not json", headers=bad_token)
    assert r.status_code == 401


def test_the_route_is_served_raw_and_stays_in_openapi(app, api, credit_data):
    assert app.predict_route is not None
    spec = api.get("/openapi.json").json()
    op = spec["paths"]["/v1/models/{name}/predict"]["post"]
    assert {p["name"] for p in op["parameters"]} >= {"name", "alias", "version", "explain"}
    assert "records" in json.dumps(op["requestBody"])


def test_over_a_real_socket(live, store, credit_data):
    rows = records(credit_data[2], 2)
    with httpx.Client(base_url=live.url, headers=store.headers(), timeout=20) as client:
        ok = client.post(f"{URL}?explain=false&strict=false", json={"records": rows})
        assert ok.status_code == 200, ok.text
        assert ok.json()["logged"] is True and len(ok.json()["ids"]) == 2
        bad = client.post(URL, content=b"[1,", headers={"Content-Type": "application/json"})
        assert bad.status_code == 400 and bad.json()["error"] == "malformed_json"
        q = client.post(f"{URL}?version=0", json={"records": rows})
        assert q.status_code == 422 and q.json()["details"]["field"] == "version"
    assert len(store.warden.predictions("credit", ids=ok.json()["ids"])) == 2


@pytest.mark.parametrize(
    "body",
    [
        {"records": [{"a": 1, "b": "x", "c": None, "d": 1.5, "e": True}]},
        {"columns": {"a": [1, 2], "b": ["x", None]}, "subjects": ["s1", None]},
        {"records": [{"a": 1}], "sensitive": [{"race": "x"}], "extra": {"ignored": [1]}},
    ],
)
def test_parse_body_equals_pydantic_on_plain_bodies(body):
    raw = json.dumps(body).encode()
    want = PredictIn.model_validate_json(raw)
    assert parse_body(raw) == PredictBody(want.records, want.columns, want.subjects, want.sensitive)
