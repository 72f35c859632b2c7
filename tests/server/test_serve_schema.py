"""Property-based checks of the OpenAPI document with schemathesis: no 5xx, and every
response matches its declared schema and content type.

Run as every role (each role's 403s are answers too, never a 500). Bounded for CI:
``max_examples=4`` per operation, one SQLite store shared by the module; token
revocation is left out (it would revoke the token the run itself uses; it has its own test).
"""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_schema_conformance,
)
from serve_support import records

import mlwarden as mw
from mlwarden.server import ServerSettings, create_app


@pytest.fixture(scope="module")
def schema_app(tmp_path_factory, lgb_model, credit_data):
    X, y, test = credit_data
    root = tmp_path_factory.mktemp("schema")
    wd = mw.Warden(f"sqlite:///{root / 'w.db'}", actor="alice")
    wd.create_user("alice", "admin")
    tokens = {"admin": wd.create_token("alice").token}
    for name, role in (("dave", "developer"), ("vera", "validator"), ("vic", "viewer")):
        wd.create_user(name, role)
        tokens[role] = wd.create_token(name).token
    wd.register_model("credit", lgb_model, train=mw.Dataset(X, y), sensitive_features=["sex"])
    wd.set_alias("credit", "production", 1, override=True, reason="test setup")
    wd.log_predictions("credit", test.head(50), lgb_model.predict(test.head(50)))
    app = create_app(ServerSettings(), wd)
    ctx = app.state.ctx
    ctx.writer.start()  # schemathesis calls the app without running its lifespan
    yield app, tokens
    ctx.writer.stop()
    wd.close()


@pytest.fixture(scope="module")
def api_schema(schema_app):
    app, tokens = schema_app
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    return schema.exclude(method="DELETE", path="/v1/tokens/{token_id}"), tokens


@pytest.mark.parametrize("role", ["admin", "developer", "validator", "viewer"])
def test_api_conforms_to_its_openapi_document(api_schema, role):
    api_schema, tokens = api_schema
    token = tokens[role]
    # schemathesis' pytest plugin does not load under this pytest; drive its strategies with
    # hypothesis directly, one operation after another
    checks = [not_a_server_error, response_schema_conformance, content_type_conformance]
    headers = {"Authorization": f"Bearer {token}"}
    failures: list[str] = []
    calls: list[str] = []
    operations = [r.ok() for r in api_schema.get_all_operations()]
    assert len(operations) >= 30
    for op in operations:

        @given(case=op.as_strategy())
        @settings(
            max_examples=4,
            deadline=None,
            derandomize=True,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
        def run(case):  # type: ignore[no-untyped-def]
            case.call_and_validate(headers=headers, checks=checks)
            calls.append(case.operation.path)

        try:
            run()
        except Exception as exc:  # collect every failing operation, not just the first
            failures.append(f"{op.method.upper()} {op.path}: {exc}")
    assert not failures, "\n\n".join(failures)
    assert len(set(calls)) >= 25, sorted(set(calls))  # most operations were exercised
    print(f"schemathesis: {len(operations)} operations, {len(calls)} calls")


def test_a_valid_prediction_round_trips_the_schema(schema_app, credit_data):
    from fastapi.testclient import TestClient

    app, tokens = schema_app
    token = tokens["admin"]
    _, _, test = credit_data
    with TestClient(app, headers={"Authorization": f"Bearer {token}"}) as api:
        resp = api.post("/v1/models/credit/predict", json={"records": records(test, 2)})
    assert resp.status_code == 200 and len(resp.json()["ids"]) == 2
