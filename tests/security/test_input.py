"""Finding 12 (part) and requirement 9: bad input is a 4xx JSON error naming the field, never a
500; viewers never read decrypted subject-linked inputs; every list is paged; ``/docs`` loads
only same-origin assets. Each against a real server, on SQLite and PostgreSQL."""

from __future__ import annotations

import re

import pytest
from security_support import open_store

PREDICTIONS = "/v1/models/credit/predictions"
ROW = [{"age": 1}]


def _records(credit_data, n: int) -> list[dict]:
    _, _, test = credit_data
    head = test.head(n).astype(object)
    return head.where(head.notna(), None).to_dict(orient="records")


def _unchanged(server) -> None:
    server.assert_alive()
    with open_store(server) as wd:
        assert wd.get_model("credit").aliases.get("production") == 1


def _error(resp, status: int, field: str) -> dict:
    assert resp.status_code == status, resp.text
    body = resp.json()
    assert set(body) == {"error", "message", "details"}, body
    assert field in resp.text, body  # the field is named
    return body


@pytest.mark.parametrize(
    ("method", "path", "body", "field"),
    [
        ("GET", "/v1/models/credit/versions/99999999999999999999", None, "ref"),
        ("GET", "/v1/models/credit/versions/2147483648", None, "ref"),
        ("GET", f"{PREDICTIONS}?version=99999999999999999999", None, "version"),
        ("POST", "/v1/models/credit/predict?version=2147483648", {"records": ROW}, "version"),
        ("PUT", "/v1/models/credit/aliases/staging", {"version": 2**63}, "version"),
        ("PUT", "/v1/models/credit/aliases/staging", {"version": None}, "version"),
        ("GET", "/v1/audit/events/99999999999999999999", None, "seq"),
        ("GET", "/v1/audit/proofs/1?tree_size=99999999999999999999", None, "tree_size"),
        ("DELETE", "/v1/tokens/99999999999999999999", None, "token_id"),
        ("PUT", "/v1/models/credit/retention", {"days": 99999999999999999999}, "days"),
        ("PUT", "/v1/models/credit/retention", {"days": None}, "days"),
        ("POST", "/v1/tokens", {"user": "alice", "expires_in": "9999999999999d"}, "expires_in"),
        ("POST", PREDICTIONS, {"records": [{"age": 1}], "y_pred": None}, "y_pred"),
        ("POST", PREDICTIONS, {"records": [{"age": 1}], "y_pred": [1], "ids": [None]}, "ids"),
        ("POST", PREDICTIONS, {"records": ROW, "y_pred": [1], "timestamps": ["x"]}, "timestamps"),
        ("POST", "/v1/users", {"name": None, "role": "viewer"}, "name"),
    ],
)
def test_bad_numbers_and_nulls_are_422_naming_the_field(server, method, path, body, field):
    resp = server.request("admin", method, path, json=body)
    _error(resp, 422, field)
    _unchanged(server)


def test_nan_and_infinity_literals_are_refused(server):
    for literal in ("NaN", "Infinity", "-Infinity"):
        raw = f'{{"records": [{{"age": {literal}}}], "y_pred": [1], "scores": [{literal}]}}'
        raw = raw.encode()
        resp = server.request(
            "admin", "POST", PREDICTIONS, content=raw, headers={"content-type": "application/json"}
        )
        assert resp.status_code in (400, 422), resp.text
        assert resp.json()["error"] in ("malformed_json", "validation_error")
    _unchanged(server)


def test_duplicate_prediction_ids_are_409(server, credit_data):
    records = _records(credit_data, 2)
    dup = {"records": records, "y_pred": [0, 1], "ids": ["dup-a", "dup-a"]}
    _error(server.request("developer", "POST", PREDICTIONS, json=dup), 409, "ids")
    ok = {"records": records, "y_pred": [0, 1], "ids": ["dup-b", "dup-c"]}
    assert server.request("developer", "POST", PREDICTIONS, json=ok).status_code == 201
    again = {"records": records, "y_pred": [0, 1], "ids": ["dup-d", "dup-b"]}
    _error(server.request("developer", "POST", PREDICTIONS, json=again), 409, "ids")
    with open_store(server) as wd:
        logged = set(wd.predictions("credit")["id"])
    assert {"dup-b", "dup-c"} <= logged
    assert not {"dup-a", "dup-d"} & logged  # the refused batches wrote nothing
    _unchanged(server)


def test_viewers_never_read_decrypted_subject_linked_inputs(server, credit_data):
    records = _records(credit_data, 2)
    secret_age = records[0]["age"]
    body = {
        "records": records,
        "y_pred": ["<=50K", ">50K"],
        "ids": ["subj-1", "subj-2"],
        "subjects": ["anna@example.com", "bob@example.com"],
    }
    assert server.request("admin", "POST", PREDICTIONS, json=body).status_code == 201
    for role in ("viewer", "developer", "validator"):
        resp = server.request(role, "GET", f"{PREDICTIONS}?limit=1000")
        assert resp.status_code == 200, resp.text
        rows = {r["id"]: r for r in resp.json()["rows"]}
        for pid in ("subj-1", "subj-2"):
            row = rows[pid]
            assert row["sealed"] is True
            assert row["output"] is None and row.get("age") is None, (role, row)
        assert "anna@example.com" not in resp.text
    resp = server.request("admin", "GET", f"{PREDICTIONS}?limit=1000")
    rows = {r["id"]: r for r in resp.json()["rows"]}
    assert rows["subj-1"]["age"] == secret_age and rows["subj-2"]["output"] == ">50K"
    _unchanged(server)


def test_lists_have_a_default_and_a_maximum_page(server, credit_data):
    records = _records(credit_data, 150)
    body = {"records": records, "y_pred": [0] * 150}
    assert server.request("developer", "POST", PREDICTIONS, json=body).status_code == 201
    resp = server.request("viewer", "GET", PREDICTIONS)
    assert resp.status_code == 200 and len(resp.json()["rows"]) == 100
    second = server.request("viewer", "GET", f"{PREDICTIONS}?offset=100")
    first_ids = {r["id"] for r in resp.json()["rows"]}
    assert not first_ids & {r["id"] for r in second.json()["rows"]}
    assert len(server.request("viewer", "GET", "/v1/audit/events").json()) <= 100
    for path in (
        "/v1/models",
        "/v1/models/credit/versions",
        "/v1/models/credit/alias-history",
        "/v1/models/credit/versions/1/approvals",
        "/v1/models/credit/versions/1/decisions",
        "/v1/users",
        "/v1/tokens",
        "/v1/alerts",
    ):
        assert server.request("admin", "GET", path).status_code == 200, path
        _error(server.request("admin", "GET", f"{path}?limit=100000"), 422, "limit")
        _error(server.request("admin", "GET", f"{path}?offset=-1"), 422, "offset")
    for path in (PREDICTIONS, "/v1/audit/events"):
        assert server.request("viewer", "GET", f"{path}?limit=10000").status_code == 200
        _error(server.request("viewer", "GET", f"{path}?limit=100000"), 422, "limit")
    _unchanged(server)


def test_remote_client_pages_through(server, credit_data):
    import mlwarden as mw

    with mw.connect(server.url, token=server.tokens["admin"]) as remote:
        frame = remote.predictions("credit")
        events = remote.audit.events()
    with open_store(server) as wd:
        assert len(frame) == len(wd.predictions("credit"))
        assert len(events) == wd.audit.size
    assert len(frame) > 100


def test_api_docs_load_only_same_origin_assets(server):
    resp = server.request(None, "GET", "/docs")
    assert resp.status_code == 200
    csp = resp.headers["content-security-policy"]
    assert "script-src 'self'" in csp and "default-src 'self'" in csp
    html = resp.text
    assert "<script>" not in html and "cdn" not in html.lower()
    srcs = re.findall(r'(?:src|href)="([^"]+)"', html)
    assert srcs and all(s.startswith("/") and not s.startswith("//") for s in srcs), srcs
    for src in srcs:
        asset = server.request(None, "GET", src)
        assert asset.status_code == 200 and len(asset.content) > 100, src
    assert server.request(None, "GET", "/redoc").status_code in (401, 404)
    server.assert_alive()
