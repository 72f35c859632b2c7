"""Findings 6, 8, 9 and 10 of issue 14 against a real server, on SQLite and PostgreSQL:
tokens outliving their parents, audit flooding by bad tokens, the dashboard's sign-out and
``next`` redirect, and names that end in a newline."""

from __future__ import annotations

import base64
from urllib.parse import quote

import httpx
import pytest
from security_support import open_store

BAD_NAMES = ["credit-risk\n", "credit\n", "credit-risk\r\n", "credit\x00"]


def _unchanged(server) -> None:
    server.assert_alive()
    with open_store(server) as wd:
        assert wd.get_model("credit").aliases == {"production": 1}
        assert [m.name for m in wd.list_models()] == ["credit"]


# ---------------------------------------------------------------- finding 10: look-alike names


@pytest.mark.parametrize("name", BAD_NAMES)
def test_names_ending_in_a_newline_are_refused(server, name):
    body = {"artifact_b64": base64.b64encode(b"x").decode(), "flavor": "lightgbm"}
    r = server.request("developer", "POST", f"/v1/models/{quote(name)}/versions", json=body)
    assert r.status_code == 422, r.text
    assert r.json()["details"].get("field") in ("name", "ref")
    user = {"name": f"dave{name[-1]}", "role": "viewer"}
    r = server.request("admin", "POST", "/v1/users", json=user)
    assert r.status_code == 422 and r.json()["details"]["field"] == "name", r.text
    r = server.request(
        "admin", "PUT", "/v1/models/credit/aliases/production%0A", json={"version": 1}
    )
    assert r.status_code == 422 and r.json()["details"]["field"] in ("alias", "ref"), r.text
    r = server.request("viewer", "GET", f"/v1/models/{quote('credit' + name[-1])}")
    assert r.status_code == 422, r.text
    _unchanged(server)
    with open_store(server) as wd:
        assert all(u.name.isprintable() for u in wd.list_users())


# ---------------------------------------------------------------- finding 6: token lifetimes


def _mint(server, token: str, **body) -> dict:
    headers = {"Authorization": f"Bearer {token}"}
    r = httpx.post(f"{server.url}/v1/tokens", json=body, headers=headers, timeout=30)
    assert r.status_code == 201, r.text
    return r.json()


def test_a_token_minted_with_a_token_never_outlives_it(server):
    from datetime import datetime, timedelta

    short = _mint(server, server.tokens["admin"], user="alice", expires_in="1h")
    parent_expiry = datetime.fromisoformat(short["info"]["expires_at"])
    assert parent_expiry - datetime.now(parent_expiry.tzinfo) <= timedelta(hours=1)
    # "never", longer and another user's token: all capped at the parent's expiry
    for body in ({"user": "alice"}, {"user": "alice", "expires_in": "30d"}, {"user": "vic"}):
        child = _mint(server, short["token"], **body)
        assert child["info"]["expires_at"] is not None, body
        assert datetime.fromisoformat(child["info"]["expires_at"]) == parent_expiry, body
        # and a grandchild of the capped child is capped too
        grand = _mint(server, child["token"], user=body["user"], expires_in="2w")
        assert datetime.fromisoformat(grand["info"]["expires_at"]) == parent_expiry
    # a shorter request is kept
    brief = _mint(server, short["token"], user="alice", expires_in="10m")
    assert datetime.fromisoformat(brief["info"]["expires_at"]) < parent_expiry
    # a developer's short token cannot mint a lasting one for itself either
    dev = _mint(server, server.tokens["developer"], user="dave", expires_in="2h")
    lasting = _mint(server, dev["token"], user="dave")
    assert lasting["info"]["expires_at"] == dev["info"]["expires_at"]
    server.assert_alive()
    with open_store(server) as wd:
        created = wd.audit.events(action="token.create")
        capped = [e for e in created if (e.payload or {}).get("capped_by")]
        assert capped and capped[-1].payload["capped_by"] == f"token:{dev['info']['id']}"
        never = [t for t in wd.list_tokens() if t.expires_at is None]
        # only the tokens the fixture made locally never expire
        assert {t.user for t in never} == {"alice", "dave", "vera", "vic"}
        assert len(never) == 4
    _unchanged(server)


# ---------------------------------------------------------------- finding 9: dashboard


def _csrf(html: str) -> str:
    import re

    found = re.search(r'name="csrf-token" content="([^"]+)"', html) or re.search(
        r'name="csrf" value="([^"]+)"', html
    )
    assert found, "no CSRF token on the page"
    return found[1]


def _sign_in(server, role: str, next_: str = "/") -> httpx.Client:
    c = httpx.Client(base_url=server.url, timeout=30, follow_redirects=False)
    r = c.post("/login", json={"token": server.tokens[role], "next": next_})
    assert r.status_code == 200, r.text
    return c


def test_sign_out_survives_a_restart(fresh_server):
    server = fresh_server.start()
    c = _sign_in(server, "viewer")
    assert c.get("/").status_code == 200
    cookie = c.cookies.get("mlw_session")
    assert cookie and server.tokens["viewer"] not in cookie
    # a second session of the same user stays signed in throughout
    other = _sign_in(server, "viewer")
    r = c.post("/logout", json={"csrf": _csrf(c.get("/").text)})
    assert r.status_code == 200 and r.headers.get("HX-Redirect") == "/login"
    server.restart()
    replay = httpx.Client(base_url=server.url, timeout=30, follow_redirects=False)
    replay.cookies.set("mlw_session", cookie)
    r = replay.get("/")
    assert r.status_code == 303 and r.headers["location"].startswith("/login"), r.text
    assert other.get("/").status_code == 200  # sessions live in the store: kept by a restart
    server.assert_alive()


@pytest.mark.parametrize(
    "target",
    [
        "/%09/evil.com",
        "/\t/evil.com",
        "//evil.com",
        "/\\evil.com",
        "/%5Cevil.com",
        "/%2F/evil.com",
        "/%252F%252Fevil.com",
        "https://evil.com",
        "/\n/evil.com",
        "/%0d%0a/evil.com",
        "evil.com",
    ],
)
def test_next_is_only_a_path_on_this_site(server, target):
    c = _sign_in(server, "viewer", next_=target)
    r = c.post("/login", json={"token": server.tokens["viewer"], "next": target})
    assert r.headers.get("HX-Redirect") == "/", r.headers
    r = c.get("/login", params={"next": target})
    assert r.status_code == 303 and r.headers["location"] == "/", r.headers
    fresh = httpx.Client(base_url=server.url, timeout=30)
    page = fresh.get("/login", params={"next": target}).text
    assert "evil.com" not in page
    server.assert_alive()


def test_next_keeps_a_path_on_this_site(server):
    c = _sign_in(server, "viewer")
    r = c.get("/login", params={"next": "/models/credit?tab=audit"})
    assert r.status_code == 303 and r.headers["location"] == "/models/credit?tab=audit"


# ---------------------------------------------------------------- finding 8: audit flooding


def _denied_by_client(server) -> list:
    with open_store(server) as wd:
        return [
            e for e in wd.audit.events(action="access.denied") if e.subject.startswith("client:")
        ]


def test_a_flood_of_bad_tokens_is_limited_and_aggregated(fresh_server, credit_data):
    import json
    import time

    server = fresh_server.start(MLWARDEN_SERVE_AUTH_AUDIT_INTERVAL_S="1")
    _, _, test = credit_data
    rows = {"records": json.loads(test.head(2).to_json(orient="records"))}
    good = server.client("developer")
    assert good.post("/v1/models/credit/predict", json=rows).status_code == 200
    with open_store(server) as wd:
        size_before = wd.audit.size
    statuses = []
    with httpx.Client(base_url=server.url, timeout=30) as bad:
        for i in range(200):
            h = {"Authorization": f"Bearer mlw_{i:040d}"} if i % 4 else {}
            r = bad.get("/v1/models", headers=h)
            statuses.append(r.status_code)
            if r.status_code == 429:
                assert int(r.headers["retry-after"]) > 0
                assert r.json()["error"] == "too_many_requests"
        # signing in to the dashboard is refused too, before the token is even looked at
        r = bad.post("/login", json={"token": server.tokens["viewer"]})
        assert r.status_code == 429
    assert statuses.count(401) == 20 and statuses.count(429) == 180, statuses
    server.assert_alive()
    # the client whose token was good keeps working through the flood
    r = good.post("/v1/models/credit/predict", json=rows)
    assert r.status_code == 200, r.text
    assert good.get("/v1/models/credit").json()["aliases"] == {"production": 1}
    deadline = time.monotonic() + 10
    while (
        time.monotonic() < deadline
        and sum(e.payload["count"] for e in _denied_by_client(server)) < 201
    ):
        time.sleep(0.2)
    events = _denied_by_client(server)
    assert 1 <= len(events) <= 5, [e.payload for e in events]
    assert {e.subject for e in events} == {"client:127.0.0.1"}
    assert sum(e.payload["failures"] for e in events) == 20
    assert sum(e.payload["rate_limited"] for e in events) == 181
    reasons = {k for e in events for k in e.payload["reasons"]}
    assert {"unknown API token", "missing bearer token"} <= reasons
    with open_store(server) as wd:
        # a handful of events, not one per request
        assert wd.audit.size - size_before <= 10
        assert wd.audit.verify().ok
    good.close()
    server.assert_alive()
