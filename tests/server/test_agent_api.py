"""Agents over HTTP: ``RemoteWarden.register_agent`` / ``get_agent`` / ``list_agents`` and
promotion through a real uvicorn server; the role is checked before the body is read, bodies
are bounded, bad policies are a 422 naming the field."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from serve_support import LiveServer

import mlwarden as mw
from mlwarden.errors import PermissionDenied, PolicyViolation, ValidationError
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
    for name, role in (
        ("alice", "admin"),
        ("bob", "developer"),
        ("carol", "validator"),
        ("vic", "viewer"),
    ):
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
        "support-bot",
        instructions="Be brief.",
        tools=["query"],
        model="m1",
        policies=[policy],
        risk_tier="low",
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
    gate.write_text(
        "name: agent-gate\nrules:\n  - id: agent\n    check: version.flavor == 'agent'\n"
    )
    # the server assigned its default tier (high), whatever bob asked for: two approvals,
    # by other people than the registrant, as for a model
    assert bob.get_model("support-bot").risk_tier == "high"
    with pytest.raises(PolicyViolation, match="2 more approval"):
        bob.promote("support-bot@1", alias="staging", policy=str(gate))
    for approver in ("alice", "carol"):
        mw.connect(url, token=tokens[approver]).approve("support-bot@1", comment="reviewed")
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
    vic = {"Authorization": f"Bearer {tokens['vic']}", "Content-Type": "application/json"}
    r = httpx.post(route, content=b"{not json", headers=vic)
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


def test_the_server_never_reads_a_policy_path_a_client_sends(server, tmp_path):
    wd, url, tokens = server
    on_server = tmp_path / "valid.yaml"
    on_server.write_text(POLICY)  # a valid policy, on the server's disk
    r = httpx.post(
        f"{url}/v1/agents/support-bot/versions",
        json={"policies": [str(on_server)]},
        headers={"Authorization": f"Bearer {tokens['bob']}"},
    )
    assert r.status_code == 422, r.text  # taken as YAML text: not a policy
    assert wd.list_agents() == []
