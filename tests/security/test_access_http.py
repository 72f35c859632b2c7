"""Issue 18, the follow-ups: permissions per team and model managed over HTTP (and through
``RemoteWarden`` and the CLI with a server URL), Warden-issued service tokens with a scope,
and model lists filtered by grants. Against a real server process, on SQLite and PostgreSQL."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from security_support import open_store
from typer.testing import CliRunner

import mlwarden as mw
from mlwarden.cli.main import app as cli
from mlwarden.errors import PermissionDenied


def _remote(server, role: str = "admin") -> mw.RemoteWarden:
    return mw.connect(server.url, token=server.tokens[role])


def _as(server, token: str) -> httpx.Client:
    headers = {"Authorization": f"Bearer {token}"}
    return httpx.Client(base_url=server.url, headers=headers, timeout=30)


def _denials(server, subject_prefix: str) -> list[dict]:
    with open_store(server) as wd:
        events = wd.audit.events(action="access.denied")
        return [e.payload for e in events if e.subject.startswith(subject_prefix)]


def _rows(credit_data, n: int = 3) -> list[dict]:
    _, _, test = credit_data
    return json.loads(test.head(n).to_json(orient="records"))


@pytest.fixture
def other_model(server, lgb_model, credit_data):
    """A second model, ``other``, so that lists have something to leave out."""
    with open_store(server) as wd:
        if "other" not in {m.name for m in wd.list_models()}:
            X, y, _ = credit_data
            wd.register_model("other", lgb_model, train=mw.Dataset(X, y), risk_tier="low")
    return "other"


# ---------------------------------------------------------------- item 1: routes, SDK, CLI


def test_an_admin_manages_teams_and_grants_through_the_remote_sdk(server, other_model):
    wd = _remote(server)
    assert wd.create_team("risk-http") == "risk-http"
    assert "risk-http" in wd.list_teams()
    wd.assign_team("credit", "risk-http")
    g = wd.grant("vic", "developer", team="risk-http")
    assert (g.user, g.scope, g.target, g.effect, g.what) == (
        "vic",
        "team",
        "risk-http",
        "allow",
        "developer",
    )
    decision = wd.explain("vic", "credit", "model.update")
    assert (decision.allowed, decision.rule, decision.role) == (True, "grant", "developer")
    wd.deny("vic", "model.update", model="credit")
    assert wd.explain("vic", "credit", "model.update").rule == "deny"
    # the server enforces the deny at once (it drops its cached grants on a change)
    r = server.request("viewer", "PATCH", "/v1/models/credit", json={"description": "x"})
    assert r.status_code == 403 and "denied model.update" in r.json()["message"], r.text
    assert {(x.effect, x.what) for x in wd.list_grants("vic")} >= {
        ("allow", "developer"),
        ("deny", "model.update"),
    }
    assert wd.revoke_grant("vic", "model.update", deny=True, model="credit") is True
    assert wd.revoke_grant("vic", "model.update", deny=True, model="credit") is False
    assert wd.revoke_grant("vic", "developer", team="risk-http") is True
    assert wd.explain("vic", "credit", "model.update").allowed is False
    # each change audited, with the admin as actor
    with open_store(server) as local:
        actions = [(e.actor, e.action) for e in local.audit.events() if e.actor == "alice"]
    for action in ("team.create", "model.team", "grant.add", "grant.remove"):
        assert ("alice", action) in actions
    wd.close()


def test_set_role_over_http_applies_at_once(server):
    admin = _remote(server)
    with open_store(server) as wd:
        if "sam" not in {u.name for u in wd.list_users()}:
            wd.create_user("sam", "viewer")
        token = wd.create_token("sam").token
    with _as(server, token) as sam:
        assert sam.get("/v1/models/credit").status_code == 200
        assert admin.set_role("sam", "none").role == "none"
        assert sam.get("/v1/models/credit").status_code == 403  # no cached role kept
        admin.set_role("sam", "viewer")
        assert sam.get("/v1/models/credit").status_code == 200
    with pytest.raises(PermissionDenied):
        _remote(server, "developer").set_role("dave", "admin")
    with open_store(server) as wd:
        assert ("user.role", "user:sam") in {(e.action, e.subject) for e in wd.audit.events()}


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("POST", "/v1/access/teams"),
        ("POST", "/v1/access/grants"),
        ("POST", "/v1/access/grants/revoke"),
        ("PUT", "/v1/access/models/credit/team"),
        ("PUT", "/v1/users/dave/role"),
    ],
)
def test_changes_are_for_admins_and_refused_before_the_body_is_read(server, method, path):
    # a body that is not even JSON: a 403, not a 422, shows the role was checked first
    for role in ("developer", "validator", "viewer"):
        r = server.request(
            role, method, path, content=b"{not json", headers={"Content-Type": "application/json"}
        )
        assert r.status_code == 403, (role, r.text)
    # the admin gets the parser's answer for the same body: a 422 naming the problem
    r = server.request(
        "admin", method, path, content=b"{not json", headers={"Content-Type": "application/json"}
    )
    assert r.status_code == 422, r.text
    server.assert_alive()


def test_the_access_routes_are_in_the_openapi_document(server):
    doc = server.request(None, "GET", "/openapi.json").json()
    for path, method in [
        ("/v1/access/teams", "post"),
        ("/v1/access/grants", "post"),
        ("/v1/access/grants/revoke", "post"),
        ("/v1/access/models/{name}/team", "put"),
        ("/v1/access/explain", "get"),
        ("/v1/users/{name}/role", "put"),
    ]:
        op = doc["paths"][path][method]
        if method != "get":
            assert op["requestBody"]["content"]["application/json"]["schema"]["properties"]
    scope = doc["paths"]["/v1/tokens"]["post"]
    assert scope  # the token body documents its scope field
    assert "scope" in json.dumps(doc["components"]["schemas"]["CreateTokenIn"])


def test_the_cli_manages_grants_on_a_server(server):
    env = {"MLWARDEN_URI": server.url, "MLWARDEN_TOKEN": server.tokens["admin"]}
    run = CliRunner().invoke
    r = run(cli, ["access", "grant", "vera", "developer", "--model", "credit"], env=env)
    assert r.exit_code == 0, r.output
    r = run(cli, ["access", "explain", "vera", "credit", "model.register", "--json"], env=env)
    assert r.exit_code == 0 and json.loads(r.output)["rule"] == "grant", r.output
    r = run(cli, ["access", "revoke", "vera", "developer", "--model", "credit"], env=env)
    assert r.exit_code == 0, r.output
    r = run(cli, ["access", "explain", "vera", "credit", "model.register"], env=env)
    assert r.exit_code == 1 and "denied" in r.output
    # a non-admin's token: one readable line, non-zero exit
    env["MLWARDEN_TOKEN"] = server.tokens["developer"]
    r = run(cli, ["access", "team-add", "rogue"], env=env)
    assert r.exit_code != 0 and "Traceback" not in r.output
    assert "team.manage" in r.output


# ---------------------------------------------------------------- item 2: service tokens


def _service_token(server, scope: str, role: str = "developer") -> str:
    with open_store(server) as wd:
        if "nightly" not in {u.name for u in wd.list_users()}:
            wd.create_user("nightly", role)
    env = {"MLWARDEN_URI": server.url, "MLWARDEN_TOKEN": server.tokens["admin"]}
    args = ["tokens", "create", "nightly", "--scope", scope, "--expires", "30d", "--json"]
    r = CliRunner().invoke(cli, args, env=env)
    assert r.exit_code == 0, r.output
    made = json.loads(r.output)
    expires = datetime.fromisoformat(made["expires_at"])
    assert timedelta(days=29) < expires - datetime.now(UTC) <= timedelta(days=30)
    assert made["scope"] == scope
    return made["token"]


def test_a_service_token_acts_only_within_its_scope(server, other_model, credit_data):
    token = _service_token(server, "model:credit:predict,read")
    rows = _rows(credit_data)
    with _as(server, token) as svc:
        assert svc.post("/v1/models/credit/predict", json={"records": rows}).status_code == 200
        assert svc.get("/v1/models/credit").status_code == 200
        assert [m["name"] for m in svc.get("/v1/models").json()] == ["credit"]
        refused = {
            "other model": svc.get(f"/v1/models/{other_model}"),
            "predict other": svc.post(f"/v1/models/{other_model}/predict", json={"records": rows}),
            "an action outside": svc.patch("/v1/models/credit", json={"description": "x"}),
            "mint a token": svc.post("/v1/tokens", json={"user": "nightly"}),
            "users": svc.get("/v1/users"),
            "audit log": svc.get("/v1/audit/events"),
        }
    for what, r in refused.items():
        assert r.status_code == 403, (what, r.text)
        assert "scoped to" in r.json()["message"], (what, r.text)
    reasons = [p["reason"] for p in _denials(server, "") if "scoped to" in p.get("reason", "")]
    assert len(reasons) >= len(refused)  # each refusal audited


def test_a_predict_only_token_cannot_read_evidence(server, credit_data):
    token = _service_token(server, "model:credit:predict")
    with _as(server, token) as svc:
        ok = svc.post("/v1/models/credit/predict", json={"records": _rows(credit_data)})
        assert ok.status_code == 200, ok.text
        assert svc.get("/v1/models/credit/versions/1").status_code == 403
        assert svc.get("/v1/models").json() == []  # listing needs read


def test_the_scope_only_narrows_the_service_accounts_own_role(server):
    with open_store(server) as wd:
        wd.create_user("reader-svc", "viewer")
        token = wd.create_token("reader-svc", scope="model:*:*").token
    with _as(server, token) as svc:
        assert svc.get("/v1/models/credit").status_code == 200
        r = svc.patch("/v1/models/credit", json={"description": "x"})  # viewer: no update
        assert r.status_code == 403 and "viewer" in r.json()["message"]


def test_a_scoped_token_signs_into_the_dashboard_with_its_scope_only(server, other_model):
    token = _service_token(server, "model:credit:read")
    with httpx.Client(base_url=server.url, timeout=30) as browser:
        r = browser.post("/login", json={"token": token, "next": "/"})
        assert r.status_code == 200, r.text
        page = browser.get("/").text
        assert "/models/credit" in page and f"/models/{other_model}" not in page
        assert browser.get(f"/models/{other_model}").status_code == 403


@pytest.mark.parametrize(
    "scope",
    ["credit:read", "model:credit", "model:credit:fly", "team:risk:read", "model:bad name:read"],
)
def test_a_bad_scope_is_a_422_naming_the_field(server, scope):
    r = server.request("admin", "POST", "/v1/tokens", json={"user": "alice", "scope": scope})
    assert r.status_code == 422 and r.json()["details"]["field"] == "scope", r.text


# ---------------------------------------------------------------- item 3: lists by grants


def test_lists_follow_grants_without_a_global_role(server, other_model):
    with open_store(server) as wd:
        wd.create_user("nora", "none")
        wd.grant("nora", "viewer", model="credit")
        nora = wd.create_token("nora").token
        wd.deny("vic", "read", model="credit")
    try:
        with _as(server, nora) as c:
            assert [m["name"] for m in c.get("/v1/models").json()] == ["credit"]
            assert c.get(f"/v1/models/{other_model}").status_code == 403
        names = [m["name"] for m in server.request("viewer", "GET", "/v1/models").json()]
        assert "credit" not in names and other_model in names
        with httpx.Client(base_url=server.url, timeout=30) as browser:
            assert browser.post("/login", json={"token": nora}).status_code == 200
            page = browser.get("/").text
            assert "/models/credit" in page and f"/models/{other_model}" not in page
        with httpx.Client(base_url=server.url, timeout=30) as browser:
            browser.post("/login", json={"token": server.tokens["viewer"]})
            page = browser.get("/").text
            assert '/models/credit"' not in page and f"/models/{other_model}" in page
    finally:
        with open_store(server) as wd:
            wd.revoke_grant("vic", "read", deny=True, model="credit")
