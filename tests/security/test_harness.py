"""The harness itself: a real server per backend answers each role's token."""

from __future__ import annotations

from security_support import open_store


def test_each_role_reads_and_the_server_is_alive(server):
    for role in ("admin", "developer", "validator", "viewer"):
        r = server.request(role, "GET", "/v1/models/credit")
        assert r.status_code == 200, r.text
        assert r.json()["aliases"] == {"production": 1}
    assert server.request(None, "GET", "/v1/models").status_code == 401
    server.assert_alive()
    with open_store(server) as wd:
        assert wd.get_model("credit").aliases == {"production": 1}
