"""MCP gateway benchmark: the latency a governed tool call adds over calling the tool directly.

One real MCP server (tests/gateway/mcp_sqlite_server.py, a SQLite ``query`` tool) is called
N times by an MCP client session directly, and N times through ``mlwarden gateway mcp``
(policies with four rules, masking, the tool-call log and its audit events on), over stdio
and over streamable HTTP, all sessions open at once and called in turn, one call each, so
every path sees the same machine load. Prints
p50 and p99 per path and the added latency, then one JSON line. Targets: added p50 <= 1 ms,
p99 <= 5 ms.

The floor is measured in the same rounds: the same calls through a do-nothing relay built on
the SDK (bench/_mcp_relay.py: server in front of client, nothing else). Gateway minus relay
is what governance itself costs; relay minus direct is the second MCP hop any gateway built on
the SDK's session pays (the stdio gateway relays frames instead, so it can come in under it).

    python bench/gateway.py [--quick] [-n 400]
"""

from __future__ import annotations

import argparse
import os
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))
import anyio
import httpx2
from _common import ROOT, emit
from mcp import Client, StdioServerParameters
from mcp.client.streamable_http import streamable_http_client

import mlwarden as mw

SERVER = ROOT / "tests" / "gateway" / "mcp_sqlite_server.py"
RELAY = Path(__file__).parent / "_mcp_relay.py"
POLICY = """kind: agent
name: bench
rules:
  - {id: exfil, when: 'tool.name == "http_post"', action: deny}
  - {id: writes, when: 'tool.name == "execute"', action: approve}
  - {id: bulk, when: recent.calls > 100000, action: deny}
  - {id: drop, when: 'has(args.sql) && args.sql.contains("DROP")', action: deny}
"""
SQL = {"sql": "SELECT id, name FROM customers WHERE id = 1"}


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait(port: int, proc: subprocess.Popen) -> None:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            if proc.poll() is not None:
                raise SystemExit(f"server exited with {proc.returncode}") from None
            time.sleep(0.1)
    raise SystemExit("server did not start")


async def _client(stack: AsyncExitStack, target: Any, headers: dict[str, str] | None) -> Client:
    if isinstance(target, str):
        http = await stack.enter_async_context(
            httpx2.AsyncClient(headers=headers or {}, timeout=60)
        )
        target = streamable_http_client(target, http_client=http)
    return await stack.enter_async_context(Client(target, mode="legacy"))


async def _interleaved(
    targets: dict[str, tuple[Any, dict[str, str] | None]], n: int
) -> dict[str, list[float]]:
    """All paths' sessions open at once, called in turn, one call each: every path sees the
    same machine load call by call (sequential rounds per path drift with the load)."""
    async with AsyncExitStack() as stack:
        clients = {k: await _client(stack, t, h) for k, (t, h) in targets.items()}
        out: dict[str, list[float]] = {k: [] for k in clients}
        for i in range(20 + n):  # 20 warm-up calls per path
            for name, client in clients.items():
                start = time.perf_counter()
                result = await client.call_tool("query", SQL)
                if i >= 20:
                    out[name].append((time.perf_counter() - start) * 1000)
                assert not result.is_error, result
        return out


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("-n", type=int, default=400, help="calls per path and round")
    args = ap.parse_args()
    n = 100 if args.quick else args.n
    rounds = 2 if args.quick else 3
    tmp = Path(tempfile.mkdtemp(prefix="mw-bench-gateway-"))
    db = tmp / "shop.db"
    with sqlite3.connect(db) as conn:
        conn.execute("CREATE TABLE customers (id INTEGER PRIMARY KEY, name TEXT)")
        conn.execute("INSERT INTO customers VALUES (1, 'Ann')")
    (tmp / "agent.yaml").write_text(POLICY)
    uri = f"sqlite:///{tmp / 'warden.db'}"
    with mw.Warden(uri, actor="admin") as wd:
        wd.create_user("admin", "admin")
        wd.create_user("bench-agent", "developer")
        token = wd.access.create_token("bench-agent", actor="admin").token
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src"), "MLWARDEN_URI": uri}
    upstream = f"{sys.executable} {SERVER} {db}"
    gateway = [sys.executable, "-m", "mlwarden", "gateway", "mcp", "--upstream"]
    direct_stdio = StdioServerParameters(command=sys.executable, args=[str(SERVER), str(db)])
    gw_stdio = StdioServerParameters(
        command=sys.executable,
        args=[
            *gateway[1:],
            upstream,
            "--agent",
            "bench-agent",
            "--policy",
            str(tmp / "agent.yaml"),
        ],
        env={"PYTHONPATH": str(ROOT / "src"), "MLWARDEN_URI": uri},
    )
    relay_stdio = StdioServerParameters(
        command=sys.executable, args=[str(RELAY), upstream], env={"PYTHONPATH": str(ROOT / "src")}
    )
    up_port, gw_port, relay_port = _port(), _port(), _port()
    quiet: dict[str, Any] = {"stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL}
    procs = [
        subprocess.Popen(
            [sys.executable, str(SERVER), str(db), "--http", str(up_port)], env=env, **quiet
        )
    ]
    _wait(up_port, procs[0])
    up_url = f"http://127.0.0.1:{up_port}/mcp"
    procs.append(
        subprocess.Popen(
            [
                *gateway,
                up_url,
                "--transport",
                "http",
                "--port",
                str(gw_port),
                "--policy",
                str(tmp / "agent.yaml"),
            ],
            env=env,
            stderr=subprocess.DEVNULL,
        )
    )
    _wait(gw_port, procs[1])
    procs.append(
        subprocess.Popen([sys.executable, str(RELAY), up_url, str(relay_port)], env=env, **quiet)
    )
    _wait(relay_port, procs[2])
    paths = ("stdio", "stdio_relay", "stdio_gw", "http", "http_relay", "http_gw")
    samples: dict[str, list[float]] = {k: [] for k in paths}
    auth = {"Authorization": f"Bearer {token}"}
    targets: dict[str, tuple[Any, dict[str, str] | None]] = {
        "stdio": (direct_stdio, None),
        "stdio_relay": (relay_stdio, None),
        "stdio_gw": (gw_stdio, None),
        "http": (up_url, None),
        "http_relay": (f"http://127.0.0.1:{relay_port}/mcp", None),
        "http_gw": (f"http://127.0.0.1:{gw_port}/mcp", auth),
    }
    try:
        for _ in range(rounds):
            for k, v in anyio.run(_interleaved, targets, n).items():
                samples[k] += v
    finally:
        for p in procs:
            p.terminate()
            p.wait(timeout=30)
    with mw.Warden(uri, actor="admin") as wd:
        logged = len(wd.gateway.calls(limit=100_000))
    record: dict[str, Any] = {"bench": "gateway", "size": f"{rounds}x{n} calls per path"}
    print(f"{'path':<10}{'direct p50':>12}{'relay p50':>11}{'gateway p50':>13}{'added p50':>11}"
          f"{'floor p50':>11}{'direct p99':>12}{'gateway p99':>13}{'added p99':>11}"
          f"{'floor p99':>11}  (ms)")  # fmt: skip
    for transport in ("stdio", "http"):
        d, r, g = samples[transport], samples[f"{transport}_relay"], samples[f"{transport}_gw"]
        added50 = pct(g, 0.5) - pct(d, 0.5)
        added99 = pct(g, 0.99) - pct(d, 0.99)
        floor50 = pct(r, 0.5) - pct(d, 0.5)
        floor99 = pct(r, 0.99) - pct(d, 0.99)
        print(f"{transport:<10}{pct(d, 0.5):>12.3f}{pct(r, 0.5):>11.3f}{pct(g, 0.5):>13.3f}"
              f"{added50:>11.3f}{floor50:>11.3f}{pct(d, 0.99):>12.3f}{pct(g, 0.99):>13.3f}"
              f"{added99:>11.3f}{floor99:>11.3f}")  # fmt: skip
        record |= {
            f"{transport}_direct_p50_ms": round(pct(d, 0.5), 3),
            f"{transport}_relay_p50_ms": round(pct(r, 0.5), 3),
            f"{transport}_gateway_p50_ms": round(pct(g, 0.5), 3),
            f"{transport}_added_p50_ms": round(added50, 3),
            f"{transport}_added_p99_ms": round(added99, 3),
            # the SDK's second hop (do-nothing relay minus direct): the floor for any gateway
            f"{transport}_sdk_floor_p50_ms": round(floor50, 3),
            f"{transport}_sdk_floor_p99_ms": round(floor99, 3),
            # what governance adds on top of that hop
            f"{transport}_governance_p50_ms": round(pct(g, 0.5) - pct(r, 0.5), 3),
            f"{transport}_ratio": round(pct(g, 0.5) / pct(d, 0.5), 2),
        }
    record |= {
        "peer": "direct MCP call",
        "calls_logged": logged,
        "load_avg_1m": round(os.getloadavg()[0], 2),
        "cpus": os.cpu_count(),
    }
    emit(record)


if __name__ == "__main__":
    main()
