"""The MCP gateway end to end: a real MCP client session, the gateway as its own process
(``mlwarden gateway mcp``), real MCP servers written with the SDK behind it (SQLite and file
tools), over stdio (the frame relay, and the SDK's session with ``--sdk-session``) and
streamable HTTP; and the stdio relay at the wire, line by line."""

from __future__ import annotations

import json
import os
import socket
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import pytest

pytest.importorskip("mcp")

from mcp import Client, StdioServerParameters
from mcp.shared.exceptions import MCPError

import mlwarden as mw

HERE = Path(__file__).resolve().parent
SRC = HERE.parents[1] / "src"
POLICY = """kind: agent
name: support-bot
rules:
  - id: no-exfiltration
    when: tool.name == "http_post"
    action: deny
    message: agents may not send data out
  - id: writes-need-two-people
    when: tool.name == "execute"
    action: approve
    approvals: 2
  - id: customer-data
    when: tool.name == "query" || tool.name == "lookup"
    action: redact
  - id: no-bulk-reads
    when: recent.calls > 20
    action: deny
"""


@pytest.fixture
def env(tmp_path: Path) -> dict[str, Any]:
    db = tmp_path / "shop.db"
    with sqlite3.connect(db) as conn:
        conn.execute("CREATE TABLE customers (id INTEGER PRIMARY KEY, name TEXT, email TEXT)")
        conn.executemany(
            "INSERT INTO customers VALUES (?, ?, ?)",
            [(1, "Ann Lee", "ann.lee@example.com"), (2, "Bob Stone", "bob@example.org")],
        )
    (tmp_path / "files").mkdir()
    (tmp_path / "files" / "notes.txt").write_text("call bob@example.org tomorrow")
    policy = tmp_path / "agent.yaml"
    policy.write_text(POLICY)
    uri = f"sqlite:///{tmp_path / 'warden.db'}"
    mw.Warden(uri, actor="alice").close()  # schema and keys made once, before the gateway
    environ = {"PYTHONPATH": str(SRC), "MLWARDEN_URI": uri}
    return {"db": db, "policy": policy, "uri": uri, "tmp": tmp_path, "env": environ}


def gateway_params(env: dict[str, Any], upstream: str, *extra: str) -> StdioServerParameters:
    return StdioServerParameters(
        command=sys.executable,
        args=[
            "-m",
            "mlwarden",
            "gateway",
            "mcp",
            "--upstream",
            upstream,
            "--agent",
            "support-bot",
            "--policy",
            str(env["policy"]),
            *extra,
        ],
        env=env["env"],
    )


def sqlite_upstream(env: dict[str, Any]) -> str:
    return f"{sys.executable} {HERE / 'mcp_sqlite_server.py'} {env['db']}"


def run(coro: Any, *args: Any) -> Any:
    return anyio.run(coro, *args)


def test_stdio_session_lists_masks_denies_and_logs_with_proofs(env: dict[str, Any]) -> None:
    files = f"{sys.executable} {HERE / 'mcp_file_server.py'} {env['tmp'] / 'files'}"

    async def session() -> dict[str, Any]:
        out: dict[str, Any] = {}
        async with Client(gateway_params(env, sqlite_upstream(env)), mode="legacy") as c:
            out["tools"] = sorted(t.name for t in (await c.list_tools()).tools)
            res = await c.call_tool("query", {"sql": "SELECT name, email FROM customers"})
            out["query"] = res.content[0].text
        async with Client(gateway_params(env, files), mode="legacy") as c:
            res = await c.call_tool("read_file", {"path": "notes.txt"})
            out["read"] = res.content[0].text
            with pytest.raises(MCPError) as denied:
                await c.call_tool("http_post", {"url": "https://x.example", "body": "ann"})
            out["denied"] = denied.value
        return out

    out = run(session)
    assert out["tools"] == ["execute", "lookup", "query"]
    # redact: the agent never sees the customers' e-mail addresses or names
    assert "ann.lee@example.com" not in out["query"] and "<EMAIL>" in out["query"]
    # allowed and not redacted: the file comes back as it is
    assert out["read"] == "call bob@example.org tomorrow"
    assert out["denied"].code == -32001
    assert "agents may not send data out" in out["denied"].message
    assert not (env["tmp"] / "files" / "outbox.txt").exists()  # never reached the upstream

    with mw.Warden(env["uri"], actor="alice") as wd:
        calls = {c.tool: c for c in wd.gateway.calls()}
        assert set(calls) == {"query", "read_file", "http_post"}
        assert calls["http_post"].decision == "deny" and calls["http_post"].status == "denied"
        assert calls["query"].decision == "redact" and calls["query"].status == "done"
        assert calls["read_file"].agent == "support-bot"
        # logged payloads are masked whatever the decision
        assert "bob@example.org" not in str(calls["read_file"].result)
        assert "<EMAIL>" in str(calls["read_file"].result)
        for call in calls.values():
            event = wd.audit.get(call.audit_seq)
            assert event.action == "tool.call" and event.payload["call"] == call.id
            proof = wd.audit.prove(call.audit_seq)
            assert proof.verify_event(event, wd.audit.signed_checkpoint(), wd.audit.public_key)
        assert wd.audit.verify().ok


def _approve_when_pending(uri: str, actors: list[str], deny: bool = False) -> threading.Thread:
    def work() -> None:
        with mw.Warden(uri, actor="alice") as wd:
            for _ in range(300):
                pending = wd.gateway.calls(status="pending")
                if pending:
                    break
                time.sleep(0.1)
        call_id = pending[0].id
        for actor in actors:
            subprocess.run(
                [sys.executable, "-m", "mlwarden", "gateway", "approvals",
                 "deny" if deny else "approve", call_id, "--uri", uri],
                env={**os.environ, "PYTHONPATH": str(SRC), "MLWARDEN_ACTOR": actor},
                check=True, capture_output=True, timeout=60,
            )  # fmt: skip

    thread = threading.Thread(target=work)
    thread.start()
    return thread


def test_a_write_waits_for_two_people_then_runs(env: dict[str, Any]) -> None:
    approver = _approve_when_pending(env["uri"], ["vera", "val2"])

    async def session() -> str:
        async with Client(gateway_params(env, sqlite_upstream(env)), mode="legacy") as c:
            res = await c.call_tool("execute", {"sql": "UPDATE customers SET name='A' WHERE id=1"})
            return str(res.content[0].text)

    assert run(session) == "1"
    approver.join(timeout=60)
    with sqlite3.connect(env["db"]) as conn:
        assert conn.execute("SELECT name FROM customers WHERE id=1").fetchone() == ("A",)
    with mw.Warden(env["uri"], actor="alice") as wd:
        (call,) = wd.gateway.calls()
        assert (call.decision, call.status, call.approvals_needed) == ("approve", "done", 2)
        assert [v.actor for v in wd.gateway.verdicts(call.id)] == ["vera", "val2"]
        actions = [e.action for e in wd.audit.events()]
        assert actions[-4:] == ["tool.pending", "tool.approve", "tool.approve", "tool.call"]


def test_a_denied_approval_is_an_mcp_error_and_the_write_never_runs(env: dict[str, Any]) -> None:
    approver = _approve_when_pending(env["uri"], ["vera"], deny=True)

    async def session() -> MCPError:
        async with Client(gateway_params(env, sqlite_upstream(env)), mode="legacy") as c:
            with pytest.raises(MCPError) as exc:
                await c.call_tool("execute", {"sql": "DELETE FROM customers"})
            return exc.value

    error = run(session)
    approver.join(timeout=60)
    assert error.code == -32002 and "denied" in error.message
    with sqlite3.connect(env["db"]) as conn:
        assert conn.execute("SELECT count(*) FROM customers").fetchone() == (2,)


def test_an_unanswered_approval_expires(env: dict[str, Any]) -> None:
    async def session() -> MCPError:
        params = gateway_params(env, sqlite_upstream(env), "--approval-timeout", "0.5")
        async with Client(params, mode="legacy") as c:
            with pytest.raises(MCPError) as exc:
                await c.call_tool("execute", {"sql": "DELETE FROM customers"})
            return exc.value

    error = run(session)
    assert error.code == -32002 and "expired" in error.message
    with mw.Warden(env["uri"], actor="alice") as wd:
        (call,) = wd.gateway.calls()
        assert call.status == "expired"


def test_erasing_a_subject_shreds_its_tool_calls(env: dict[str, Any]) -> None:
    async def session() -> None:
        params = gateway_params(env, sqlite_upstream(env), "--subject-arg", "customer_id")
        async with Client(params, mode="legacy") as c:
            await c.call_tool("lookup", {"customer_id": 1})
            await c.call_tool("lookup", {"customer_id": 2})

    run(session)
    with mw.Warden(env["uri"], actor="alice") as wd:
        before = {c.arguments["customer_id"]: c for c in wd.gateway.calls()}
        assert set(before) == {1, 2}
        result = wd.erase_subject("1")
        assert result["tool_calls"] == 1
        after = {c.id: c for c in wd.gateway.calls()}
        assert after[before[1].id].arguments is None and after[before[1].id].result is None
        assert after[before[2].id].arguments == {"customer_id": 2}
        assert wd.audit.verify().ok  # the log commits to ids, never to payloads


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def http_gateway(env: dict[str, Any]) -> Iterator[dict[str, Any]]:
    with mw.Warden(env["uri"], actor="alice") as wd:
        wd.create_user("alice", "admin")
        wd.create_user("support-bot", "developer")
        token = wd.access.create_token("support-bot", actor="alice").token
    port = _free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "mlwarden", "gateway", "mcp", "--transport", "http",
         "--port", str(port), "--upstream", sqlite_upstream(env),
         "--policy", str(env["policy"]), "--allow-tool", "query", "--allow-tool", "lookup"],
        env={**os.environ, **env["env"]}, stderr=subprocess.PIPE,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                assert proc.poll() is None, proc.stderr.read().decode()  # type: ignore[union-attr]
                time.sleep(0.1)
        yield {"url": f"http://127.0.0.1:{port}", "token": token}
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def test_http_needs_a_token_and_the_token_is_the_agent(
    env: dict[str, Any], http_gateway: dict[str, Any]
) -> None:
    import httpx2
    from mcp.client.streamable_http import streamable_http_client

    url = http_gateway["url"]
    anonymous = httpx2.post(f"{url}/mcp", json={"jsonrpc": "2.0", "id": 1, "method": "ping"})
    assert anonymous.status_code == 401

    async def session() -> dict[str, Any]:
        headers = {"Authorization": f"Bearer {http_gateway['token']}"}
        async with httpx2.AsyncClient(headers=headers, timeout=30) as http:
            transport = streamable_http_client(f"{url}/mcp", http_client=http)
            async with Client(transport, mode="legacy") as c:
                res = await c.call_tool("lookup", {"customer_id": 2})
                with pytest.raises(MCPError) as not_allowed:
                    await c.call_tool("execute", {"sql": "DELETE FROM customers"})
                return {"lookup": res.content[0].text, "execute": not_allowed.value}

    out = run(session)
    assert "bob@example.org" not in out["lookup"] and "<EMAIL>" in out["lookup"]
    assert out["execute"].code == -32001 and "allow-list" in out["execute"].message
    metrics = httpx2.get(f"{url}/metrics").text
    assert 'mlwarden_agent_tool_calls_total{agent="support-bot",decision="deny"' in metrics
    assert 'mlwarden_agent_tool_call_seconds_count{agent="support-bot"} 1.0' in metrics
    time.sleep(0.5)  # the background writer's batch window
    with mw.Warden(env["uri"], actor="alice") as wd:
        assert {c.agent for c in wd.gateway.calls()} == {"support-bot"}


INIT = {
    "jsonrpc": "2.0",
    "id": 0,
    "method": "initialize",
    "params": {
        "protocolVersion": "2025-06-18",
        "capabilities": {},
        "clientInfo": {"name": "raw", "version": "1"},
    },
}


class Wire:
    """A gateway process spoken to line by line."""

    def __init__(self, env: dict[str, Any], *extra: str) -> None:
        params = gateway_params(env, sqlite_upstream(env), *extra)
        self.proc = subprocess.Popen(
            [params.command, *params.args],
            env={**params.env},  # type: ignore[dict-item]
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
        )

    def send(self, line: bytes) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(line + b"\n")
        self.proc.stdin.flush()

    def ask(self, line: bytes) -> dict[str, Any]:
        self.send(line)
        assert self.proc.stdout is not None
        return json.loads(self.proc.stdout.readline())  # type: ignore[no-any-return]

    def close(self) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.close()
        assert self.proc.wait(timeout=60) == 0


def test_the_relay_answers_bad_lines_itself_and_governs_escaped_methods(
    env: dict[str, Any],
) -> None:
    wire = Wire(env, "--max-line-bytes", "4096")
    try:
        hello = wire.ask(json.dumps(INIT).encode())
        assert hello["id"] == 0 and "tools" in hello["result"]["capabilities"]
        wire.send(b'{"jsonrpc": "2.0", "method": "notifications/initialized"}')

        assert wire.ask(b"{not json")["error"]["code"] == -32700
        batch = wire.ask(b'[{"jsonrpc": "2.0", "id": 5, "method": "tools/list"}]')
        assert batch["id"] is None and batch["error"]["code"] == -32600
        too_long = wire.ask(b'{"jsonrpc": "2.0", "id": 6, "x": "' + b"a" * 8000 + b'"}')
        assert too_long["error"]["code"] == -32600 and "4096 bytes" in too_long["error"]["message"]
        nameless = wire.ask(b'{"jsonrpc": "2.0", "id": 7, "method": "tools/call", "params": {}}')
        assert nameless["id"] == 7 and nameless["error"]["code"] == -32602
        # "tools\/call" is tools/call to any JSON parser: the relay must not let it slip past
        escaped = b'{"jsonrpc":"2.0","id":8,"method":"tools\\/call","params":{"name":"http_post"}}'
        denied = wire.ask(escaped)
        assert denied["id"] == 8 and denied["error"]["code"] == -32001
        assert "agents may not send data out" in denied["error"]["message"]
        # duplicate keys: what the upstream gets is what the relay judged (the last one)
        twice = (
            b'{"jsonrpc":"2.0","id":9,"method":"tools/call","method":"tools/call",'
            b'"params":{"name":"query","arguments":{"sql":"SELECT email FROM customers"}}}'
        )
        masked = wire.ask(twice)
        assert masked["id"] == 9 and "<EMAIL>" in masked["result"]["content"][0]["text"]
        assert "ann.lee@example.com" not in json.dumps(masked)
        # everything else passes through to the upstream untouched
        listed = wire.ask(b'{"jsonrpc": "2.0", "id": 10, "method": "tools/list"}')
        assert sorted(t["name"] for t in listed["result"]["tools"]) == [
            "execute",
            "lookup",
            "query",
        ]
    finally:
        wire.close()
    with mw.Warden(env["uri"], actor="alice") as wd:
        calls = {c.tool: c for c in wd.gateway.calls()}
        assert set(calls) == {"http_post", "query"}  # the rejected lines never became calls
        assert calls["http_post"].status == "denied" and calls["query"].decision == "redact"


@pytest.mark.parametrize("extra", [(), ("--sdk-session",)], ids=["relay", "sdk-session"])
def test_both_stdio_paths_govern_alike(env: dict[str, Any], extra: tuple[str, ...]) -> None:
    async def session() -> dict[str, Any]:
        async with Client(gateway_params(env, sqlite_upstream(env), *extra), mode="legacy") as c:
            query = await c.call_tool("query", {"sql": "SELECT email FROM customers WHERE id=2"})
            with pytest.raises(MCPError) as denied:
                await c.call_tool("http_post", {"url": "https://x.example"})
            failed = await c.call_tool("nonexistent", {})  # the upstream's error result
        return {"query": query, "denied": denied.value, "failed": failed}

    out = run(session)
    assert out["query"].content[0].text.count("<EMAIL>") == 1
    assert out["denied"].code == -32001 and out["denied"].data["rules"][0]["rule"] == (
        "no-exfiltration"
    )
    with mw.Warden(env["uri"], actor="alice") as wd:
        statuses = sorted((c.tool, c.status) for c in wd.gateway.calls())
    assert statuses == [("http_post", "denied"), ("nonexistent", "error"), ("query", "done")]
    assert out["failed"].is_error and "Unknown tool" in out["failed"].content[0].text
