"""Findings 6, 8, 9 and 10 of issue 14 against a real server, on SQLite and PostgreSQL:
tokens outliving their parents, audit flooding by bad tokens, the dashboard's sign-out and
``next`` redirect, and names that end in a newline."""

from __future__ import annotations

import base64
from urllib.parse import quote

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
