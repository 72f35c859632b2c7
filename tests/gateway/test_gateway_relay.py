"""The stdio frame relay at the wire: raw JSON-RPC lines to ``mlwarden gateway mcp`` (its own
process, a real SDK server behind it), and the same governed session through the SDK's
session path (``--sdk-session``), which must behave alike."""

from __future__ import annotations

import json
import subprocess
import sys
from typing import Any

import pytest

pytest.importorskip("mcp")

from mcp import Client
from mcp.shared.exceptions import MCPError
from test_gateway_mcp import env, gateway_params, run, sqlite_upstream  # noqa: F401

import mlwarden as mw

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


if __name__ == "__main__":
    sys.exit(pytest.main([__file__, "-q"]))
