"""Agents in the registry: registered and versioned like models (aliases, gated promotion,
audit), and a gateway started against ``NAME@ALIAS`` governed by that version's allow-list
and policies, with its metrics scraped over HTTP from a stdio gateway (``--metrics-port``)."""

from __future__ import annotations

import socket
import sqlite3
import sys
import urllib.request
from pathlib import Path
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families
from typer.testing import CliRunner

import mlwarden as mw
from mlwarden.errors import Conflict, PolicyViolation, ValidationError

HERE = Path(__file__).resolve().parent
AGENT_POLICY = """kind: agent
name: support-rules
rules:
  - id: customer-data
    when: tool.name == "query"
    action: redact
  - id: approved-model-only
    when: tool.name == "lookup" && agent.model != "approved-llm"
    action: deny
    message: lookups only from the approved model
"""
GATE = """name: agent-gate
rules:
  - id: is-agent
    check: version.flavor == "agent"
  - id: few-tools
    check: size(version.params.tools) <= 2
    message: an agent in production may use at most two tools
"""


@pytest.fixture
def wd(warden: mw.Warden) -> mw.Warden:
    return warden


def register_two(wd: mw.Warden, tmp_path: Path) -> None:
    policy = tmp_path / "agent.yaml"
    policy.write_text(AGENT_POLICY)
    wd.register_agent(
        "support-bot",
        instructions="Answer customers' questions about their orders.",
        tools=["query", "lookup"],
        model="other-llm",
        policies=[policy],
        description="first-line support",
        risk_tier="low",  # no approvals needed to promote (a high tier would need two)
    )
    wd.register_agent(
        "support-bot",
        instructions="Answer, and fix balances.",
        tools=["query", "lookup", "execute"],
        model="approved-llm",
        policies=[AGENT_POLICY],  # YAML text works as well as a path
    )


def test_an_agent_is_versioned_promoted_through_gates_and_audited(wd, tmp_path):
    register_two(wd, tmp_path)
    v1, v2 = wd.get_agent("support-bot@1"), wd.get_agent("support-bot")
    assert (v1.version, v2.version) == (1, 2)
    assert v1.tools == ("query", "lookup") and v1.model == "other-llm"
    assert v1.policy_names == ("support-rules",) and v1.policies == (AGENT_POLICY,)
    assert v2.instructions == "Answer, and fix balances." and "execute" in v2.tools
    # the registry's own versions: same numbers, flavor "agent", listed apart from models
    assert [mv.flavor for mv in wd.list_versions("support-bot")] == ["agent", "agent"]
    assert [m.name for m in wd.list_agents()] == ["support-bot"]

    gate = tmp_path / "gate.yaml"
    gate.write_text(GATE)
    promoted = wd.promote("support-bot@1", alias="staging", policy=str(gate), reason="ok")
    assert promoted.allowed and wd.get_agent("support-bot@staging").version == 1
    with pytest.raises(PolicyViolation, match="at most two tools"):
        wd.promote("support-bot@2", alias="staging", policy=str(gate))
    assert wd.get_agent("support-bot@staging").version == 1  # the alias did not move

    actions = [(e.action, e.subject) for e in wd.audit.events(model="support-bot")]
    registered = [e for e in wd.audit.events(action="agent.register")]
    assert len(registered) == 2
    assert registered[0].payload["tools"] == ["query", "lookup"]
    assert registered[0].payload["model"] == "other-llm"
    assert set(registered[0].payload["policies"]) == {"support-rules"}
    assert any(a == "version.register" for a, _ in actions)
    assert any(a.startswith("alias.") or a == "promotion" for a, _ in actions), actions
    assert wd.audit.verify().ok


def test_a_bad_policy_or_tool_is_refused_before_anything_is_stored(wd):
    size = wd.audit.size
    with pytest.raises(ValidationError, match=r"<policy 0>:5: .*unknown key .wen."):
        wd.register_agent("bot", policies=[AGENT_POLICY.replace("when:", "wen:", 1)])
    with pytest.raises(ValidationError) as bad_tool:
        wd.register_agent("bot", tools=["rm -rf /"])
    assert bad_tool.value.details["field"] == "tools"
    with pytest.raises(ValidationError):
        wd.register_agent("bot", policies=["kind: monitoring\nname: x\nrules: []\n"])
    assert wd.list_agents() == [] and wd.audit.size == size


def test_agents_and_models_never_share_a_name(wd):
    from sklearn.linear_model import LogisticRegression

    wd.register_agent("helper", tools=["query"])
    model = LogisticRegression().fit([[0.0], [1.0], [2.0], [3.0]], [0, 0, 1, 1])
    with pytest.raises(Conflict, match="agent"):
        wd.register_model("helper", model)
    wd.register_model("scorer", model)
    with pytest.raises(Conflict, match="model"):
        wd.register_agent("scorer", tools=["query"])
    with pytest.raises(ValidationError, match="not an agent"):
        wd.get_agent("scorer")
    assert [m.name for m in wd.list_agents()] == ["helper"]
    with pytest.raises(ValidationError, match="an agent, not a model"):
        wd.load_model("helper@1")
    for name, kind in (("helper", None), ("scorer", "agent")):
        with pytest.raises(ValidationError, match="'kind' tag cannot be changed"):
            wd.update_model(name, tags={"kind": kind})
    assert wd.update_model("helper", tags={"team": "support"}).tags["kind"] == "agent"


# ---- the gateway against a registered agent (real MCP servers and client)

pytest.importorskip("mcp")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_a_stdio_gateway_takes_the_registered_versions_rules_and_serves_metrics(tmp_path):
    import anyio
    from mcp import Client, StdioServerParameters
    from mcp.shared.exceptions import MCPError
    from test_gateway_mcp import SRC, sqlite_upstream

    db = tmp_path / "shop.db"
    with sqlite3.connect(db) as conn:
        conn.execute("CREATE TABLE customers (id INTEGER PRIMARY KEY, name TEXT, email TEXT)")
        conn.execute("INSERT INTO customers VALUES (1, 'Ann Lee', 'ann.lee@example.com')")
    uri = f"sqlite:///{tmp_path / 'warden.db'}"
    with mw.Warden(uri, actor="alice") as wd:
        register_two(wd, tmp_path)
        wd.set_alias("support-bot", "production", 1, override=True, reason="test")
    port = _free_port()
    params = StdioServerParameters(
        command=sys.executable,
        args=[
            "-m",
            "mlwarden",
            "gateway",
            "mcp",
            "--upstream",
            sqlite_upstream({"db": db}),
            "--agent",
            "support-bot@production",
            "--metrics-port",
            str(port),
        ],
        env={"PYTHONPATH": str(SRC), "MLWARDEN_URI": uri},
    )

    async def session() -> dict[str, Any]:
        out: dict[str, Any] = {}
        async with Client(params, mode="legacy") as c:
            res = await c.call_tool("query", {"sql": "SELECT name, email FROM customers"})
            out["query"] = res.content[0].text
            refused = (
                ("execute", {"sql": "DELETE FROM customers"}),
                ("lookup", {"customer_id": 1}),
            )
            for tool, args in refused:
                with pytest.raises(MCPError) as denied:
                    await c.call_tool(tool, args)
                out[tool] = denied.value
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as r:
                out["metrics"] = r.read().decode()
        return out

    out = anyio.run(session)
    assert "<EMAIL>" in out["query"] and "ann.lee@example.com" not in out["query"]
    # v1's allow-list has no "execute" (v2's has): the registered version governs
    assert out["execute"].code == -32001 and "allow-list" in out["execute"].message
    # v1 runs on "other-llm": its own policy reads agent.model and denies the lookup
    assert "approved model" in out["lookup"].message
    samples = {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(out["metrics"])
        for sample in family.samples
    }

    def calls(tool: str, decision: str) -> float:
        labels = {"agent": "support-bot", "tool": tool, "decision": decision}
        return samples[("mlwarden_agent_tool_calls_total", tuple(sorted(labels.items())))]

    assert calls("execute", "deny") == calls("lookup", "deny") == calls("query", "redact") == 1
    latency = ("mlwarden_agent_tool_call_seconds_count", (("agent", "support-bot"),))
    assert samples[latency] == 1  # the call that ran
    with mw.Warden(uri, actor="alice") as wd:
        with sqlite3.connect(db) as conn:
            assert conn.execute("SELECT count(*) FROM customers").fetchone() == (1,)
        calls = {c.tool: c for c in wd.gateway.calls(agent="support-bot")}
        assert calls["execute"].status == "denied" and calls["lookup"].decision == "deny"


def test_flags_cannot_override_a_registered_agent(tmp_path, monkeypatch):
    from mlwarden.cli.main import app

    uri = f"sqlite:///{tmp_path / 'warden.db'}"
    with mw.Warden(uri, actor="alice") as wd:
        wd.register_agent("bot", tools=["query"])
    monkeypatch.setenv("MLWARDEN_URI", uri)
    result = CliRunner().invoke(
        app, ["gateway", "mcp", "--upstream", "true", "--agent", "bot@1", "--allow-tool", "x"]
    )
    assert result.exit_code != 0
    assert "drop --policy and --allow-tool" in result.output
    assert "Traceback" not in result.output


def test_cli_register_list_show_promote(tmp_path, monkeypatch):
    from mlwarden.cli.main import app

    monkeypatch.setenv("MLWARDEN_URI", f"sqlite:///{tmp_path / 'warden.db'}")
    (tmp_path / "agent.yaml").write_text(AGENT_POLICY)
    (tmp_path / "prompt.txt").write_text("Answer politely.")
    (tmp_path / "gate.yaml").write_text(GATE)
    cli = CliRunner()
    args = ["agent", "register", "support-bot", "--instructions", str(tmp_path / "prompt.txt")]
    args += ["--tool", "query", "--model", "approved-llm", "--policy", str(tmp_path / "agent.yaml")]
    result = cli.invoke(app, [*args, "--risk-tier", "low"])
    assert result.exit_code == 0, result.output
    assert "registered support-bot@1" in result.output
    result = cli.invoke(app, ["agent", "promote", "support-bot@1", "--alias", "staging",
                              "--policy", str(tmp_path / "gate.yaml")])  # fmt: skip
    assert result.exit_code == 0, result.output
    shown = cli.invoke(app, ["agent", "show", "support-bot@staging", "--json"])
    assert shown.exit_code == 0, shown.output
    assert '"instructions": "Answer politely."' in shown.output
    assert '"policy_names": [\n    "support-rules"' in shown.output
    listed = cli.invoke(app, ["agent", "list"])
    assert "support-bot" in listed.output and "staging→1" in listed.output
    bad = cli.invoke(app, ["agent", "register", "bot", "--tool", "rm -rf"])
    assert bad.exit_code != 0 and "invalid tool name" in bad.output
    assert "Traceback" not in bad.output


def test_an_http_gateway_serves_only_the_registered_agents_tokens(tmp_path):
    import os
    import subprocess
    import time

    import anyio
    import httpx2
    from mcp import Client
    from mcp.client.streamable_http import streamable_http_client
    from mcp.shared.exceptions import MCPError
    from test_gateway_mcp import SRC, sqlite_upstream

    db = tmp_path / "shop.db"
    with sqlite3.connect(db) as conn:
        conn.execute("CREATE TABLE customers (id INTEGER PRIMARY KEY, name TEXT, email TEXT)")
    uri = f"sqlite:///{tmp_path / 'warden.db'}"
    with mw.Warden(uri, actor="alice") as wd:
        register_two(wd, tmp_path)
        wd.create_user("alice", "admin")
        tokens = {}
        for name in ("support-bot", "mallory"):
            wd.create_user(name, "developer")
            tokens[name] = wd.access.create_token(name, actor="alice").token
    port = _free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "mlwarden", "gateway", "mcp", "--transport", "http",
         "--port", str(port), "--upstream", sqlite_upstream({"db": db}),
         "--agent", "support-bot@1"],
        env={**os.environ, "PYTHONPATH": str(SRC), "MLWARDEN_URI": uri},
        stderr=subprocess.PIPE,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"

    async def session(token: str) -> dict[str, Any]:
        out: dict[str, Any] = {}
        headers = {"Authorization": f"Bearer {token}"}
        async with (
            httpx2.AsyncClient(headers=headers) as http,
            Client(streamable_http_client(f"{url}/mcp", http_client=http), mode="legacy") as c,
        ):
            for tool in ("lookup", "execute"):
                with pytest.raises(MCPError) as refused:
                    await c.call_tool(tool, {"customer_id": 1})
                out[tool] = refused.value
        return out

    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                assert proc.poll() is None, proc.stderr.read().decode()  # type: ignore[union-attr]
                assert time.monotonic() < deadline, "the gateway did not start"
                time.sleep(0.1)
        ping = {"jsonrpc": "2.0", "id": 1, "method": "ping"}
        other = httpx2.post(
            f"{url}/mcp", json=ping, headers={"Authorization": f"Bearer {tokens['mallory']}"}
        )
        assert other.status_code == 401 and "serves agent 'support-bot'" in other.text
        out = anyio.run(session, tokens["support-bot"])
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    assert "approved model" in out["lookup"].message  # v1's policy, v1's model
    assert "allow-list" in out["execute"].message  # v1's allow-list
