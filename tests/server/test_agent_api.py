"""Agents over HTTP: ``RemoteWarden.register_agent`` / ``get_agent`` / ``list_agents`` and
promotion through a real uvicorn server; the role is checked before the body is read, bodies
are bounded, bad policies are a 422 naming the field."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from serve_support import LiveServer

import mlwarden as mw
from mlwarden.errors import PermissionDenied, ValidationError
from mlwarden.remote import RemoteWarden
from mlwarden.server import ServerSettings, create_app

POLICY = """kind: agent
name: support-rules
rules:
  - id: no-exfiltration
    when: tool.name == "http_post"
    action: deny
"""


@pytest.fixture
def server(tmp_path: Path):
    wd = mw.Warden(
        f"sqlite:///{tmp_path / 'warden.db'}", artifacts=str(tmp_path / "a"), actor="alice"
    )
    tokens = {}
    for name, role in (("alice", "admin"), ("bob", "developer"), ("vic", "viewer")):
        wd.create_user(name, role)
        tokens[name] = wd.create_token(name).token
    with LiveServer(create_app(ServerSettings(max_body_bytes=64 * 1024), wd)) as live:
        yield wd, live.url, tokens
    wd.close()


def test_remote_registration_promotion_and_reads(server, tmp_path):
    wd, url, tokens = server
    policy = tmp_path / "agent.yaml"
    policy.write_text(POLICY)
    bob = mw.connect(url, token=tokens["bob"])
    assert isinstance(bob, RemoteWarden)
    av = bob.register_agent(
        "support-bot", instructions="Be brief.", tools=["query"], model="m1", policies=[policy]
    )
    assert (av.ref, av.tools, av.policies, av.created_by) == (
        "support-bot@1",
        ("query",),
        (POLICY,),
        "bob",  # the token's user, whatever the client says
    )
    assert bob.get_agent("support-bot@1") == wd.get_agent("support-bot@1") == av
    assert [m.name for m in bob.list_agents()] == ["support-bot"]
    gate = tmp_path / "gate.yaml"
    gate.write_text("name: agent-gate\nrules:\n  - id: agent\n    check: version.flavor == 'agent'\n")
    promoted = bob.promote("support-bot@1", alias="staging", policy=str(gate), reason="ok")
    assert promoted.allowed and bob.get_agent("support-bot@staging").version == 1
    assert [e.actor for e in wd.audit.events(action="agent.register")] == ["bob"]
    with pytest.raises(ValidationError) as bad:
        bob.register_agent("support-bot", policies=[POLICY.replace("action:", "acton:")])
    assert "acton" in bad.value.message
    with pytest.raises(ValidationError, match="twice"):
        bob.register_agent("support-bot", tools=["query", "query"])
    bob.close()


def test_role_before_body_and_bounded_bodies(server):
    wd, url, tokens = server
    route = f"{url}/v1/agents/support-bot/versions"
    # a viewer's request is refused before its (malformed) body is read
    r = httpx.post(route, content=b"{not json", headers={"Authorization": f"Bearer {tokens['vic']}"})
    assert r.status_code == 403, r.text
    r = httpx.post(route, json={"tools": ["query"]})
    assert r.status_code == 401
    bob = {"Authorization": f"Bearer {tokens['bob']}"}
    r = httpx.post(route, json={"instructions": "x" * 100_000}, headers=bob)
    assert r.status_code == 413
    r = httpx.post(route, json={"tools": ["query"], "unknown": 1}, headers=bob)
    assert r.status_code == 422 and r.json()["details"]["field"] == "unknown"
    r = httpx.post(route, json={"tools": "query"}, headers=bob)
    assert r.status_code == 422 and r.json()["details"]["field"] == "tools"
    assert wd.list_agents() == []
    with pytest.raises(PermissionDenied):
        mw.connect(url, token=tokens["vic"]).register_agent("other", tools=["q"])
