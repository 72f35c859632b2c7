"""The MCP gateway's use cases: decide a tool call, log it with its audit event, hold it for
approval, and read the log back (masked; erased subjects' payloads unreadable).

The decision is made on the caller's path (CEL over the call); masking, sealing, the row and
its audit event are written by a background writer in batches (one transaction, one signed
checkpoint per batch), so a call pays microseconds for being governed, not a disk sync. A
call held for approval is written at once: approvers must see it. ``close`` drains the
writer; a crash loses at most the last batch window of allowed calls' records (documented in
docs/agents.md), never a decision.
"""

from __future__ import annotations

import json
import re
import sys
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any

from mlwarden._time import utcnow
from mlwarden.audit.log import AuditLog
from mlwarden.entities.agents import (
    ALLOW,
    APPROVE,
    APPROVED,
    DENIED,
    DENY,
    DONE,
    EXPIRED,
    FAILED,
    PENDING,
    ToolCall,
    Verdict,
)
from mlwarden.errors import Conflict, NotFound, ValidationError
from mlwarden.gateway.metrics import GatewayMetrics
from mlwarden.gateway.policy import AgentPolicy, Outcome
from mlwarden.privacy.masking import MaskingPolicy
from mlwarden.store.sql.vault import SubjectVault
from mlwarden.store.tool_call_store import ToolCallStore

RECENT = timedelta(minutes=1)
# A rule that may read ``recent.tools``: it names ``tools``, or uses ``recent`` other than
# through ``.calls``/``.denied``. Only then is the list (a minute of calls) put in the context:
# handing the CEL runtime hundreds of strings costs milliseconds per call.
_MAY_READ_TOOLS = re.compile(r"tools|\brecent\b(?!\s*\.\s*(?:calls|denied)\b)")
BATCH_WAIT_S = 0.05  # a record waits at most this long; one commit and signature per batch
BATCH_MAX = 256
WRITE_ATTEMPTS = 3


@dataclass(frozen=True)
class AgentIdentity:
    """Who calls: established by the gateway (a token's user over HTTP, ``--agent`` on stdio),
    never by what the agent says about itself."""

    name: str
    tools: tuple[str, ...] = ()  # the allow-list; empty: any tool
    version: int | None = None
    model: str | None = None


@dataclass
class Call:
    """One tools/call in flight."""

    agent: AgentIdentity
    tool: str
    arguments: dict[str, Any]
    subject: str | None = None  # a raw data-subject identifier, pseudonymized before storage
    id: str = field(default_factory=lambda: str(uuid.uuid4()))
    ts: datetime = field(default_factory=utcnow)


class GatewayService:
    def __init__(
        self,
        store: ToolCallStore,
        audit: AuditLog,
        vault: SubjectVault,
        *,
        masking: Callable[[str], MaskingPolicy | None],
        transaction: Callable[[], AbstractContextManager[Any]],
        policies: tuple[AgentPolicy, ...] = (),
        server: str = "",
        metrics: GatewayMetrics | None = None,
        require: Callable[[str, str, str], Any] | None = None,
    ) -> None:
        self.store, self.audit, self.vault = store, audit, vault
        self.policies = policies
        self.server = server
        self.metrics = metrics or GatewayMetrics()
        self._masking = masking
        self._require = require  # the access service's role check (audits refusals)
        self._transaction = transaction
        #: the masking policy for agents without a stored one (``--masking``); the default,
        #: built on first use (its recognizers take a while to load), redacts PII spans
        self.default_masking: MaskingPolicy | None = None
        # the agent's calls of the last minute, kept in memory for ``recent`` (per process)
        self._recent: dict[str, deque[tuple[float, str, str]]] = {}
        self._read_tools: tuple[Any, bool] = (None, True)
        # records wait here for the writer, which looks every batch window: the call's path
        # only appends (no lock, no hand-off to the writer thread)
        self._pending: deque[tuple[Call, Outcome, dict[str, Any]]] = deque()
        self._writer: tuple[threading.Thread, threading.Event] | None = None
        self._lock = threading.Lock()

    # ---- deciding

    def context(self, call: Call) -> dict[str, Any]:
        now = time.monotonic()
        recent = self._recent.get(call.agent.name)
        if recent is None:
            # first call of this agent in this process: the last minute from the log, so a
            # restarted gateway (or another replica's calls) still counts
            recent = self._recent[call.agent.name] = deque(
                (now, tool, decision)
                for tool, decision in self.store.recent(call.agent.name, utcnow() - RECENT)
            )
        while recent and now - recent[0][0] >= 60.0:  # oldest first: drop the expired
            recent.popleft()
        agent: dict[str, Any] = {"name": call.agent.name, "tools": list(call.agent.tools)}
        if call.agent.version is not None:
            agent["version"] = call.agent.version
        if call.agent.model is not None:
            agent["model"] = call.agent.model
        return {
            "tool": {"name": call.tool, "server": self.server},
            "args": call.arguments,
            "agent": agent,
            "recent": {
                "calls": len(recent),
                "denied": sum(1 for r in recent if r[2] == DENY),
                "tools": [r[1] for r in recent] if self._rules_read_tools() else [],
            },
        }

    def _rules_read_tools(self) -> bool:
        if self._read_tools[0] is not self.policies:  # the policies are set after __init__
            reads = any(
                _MAY_READ_TOOLS.search(r.rule.check) for p in self.policies for r in p.rules
            )
            self._read_tools = (self.policies, reads)
        return self._read_tools[1]

    def decide(self, call: Call) -> Outcome:
        """The strictest outcome of the allow-list and every policy on this call."""
        if call.agent.tools and call.tool not in call.agent.tools:
            outcome = Outcome(
                DENY,
                0,
                ({"rule": "allow-list", "action": DENY, "why": "not in the agent's tools"},),
                f"tool {call.tool!r} is not in agent {call.agent.name!r}'s allow-list",
            )
        else:
            context = self.context(call)
            outcomes = [p.decide(context) for p in self.policies] or [Outcome(ALLOW, 0, ())]
            order = (DENY, APPROVE, "redact", ALLOW)
            outcomes.sort(key=lambda o: order.index(o.decision))
            first = outcomes[0]
            rules = tuple(r for o in outcomes for r in o.rules)
            need = max((o.approvals for o in outcomes if o.decision == first.decision), default=0)
            outcome = Outcome(first.decision, need, rules, first.message)
        self._recent.setdefault(call.agent.name, deque()).append(
            (time.monotonic(), call.tool, outcome.decision)
        )
        self.metrics.calls.labels(call.agent.name, call.tool, outcome.decision).inc()
        return outcome

    # ---- masking and logging

    def masking_for(self, agent: str) -> MaskingPolicy:
        """The masking policy stored for the agent's name, else the default: every string's
        personal-data spans redacted."""
        policy = self._masking(agent)
        if policy is not None:
            return policy
        if self.default_masking is None:
            self.default_masking = MaskingPolicy()
        return self.default_masking

    def mask(self, agent: str, value: Any) -> Any:
        return self.masking_for(agent).apply_json(value)

    def record(self, call: Call, outcome: Outcome, **end: Any) -> None:
        """Queue the call's record (``status``, ``result``, ``error``, ``latency_ms``)."""
        if end.get("status") == FAILED:
            self.metrics.errors.labels(call.agent.name, call.tool).inc()
        if end.get("latency_ms") is not None:
            self.metrics.latency.labels(call.agent.name).observe(end["latency_ms"] / 1000)
        self._pending.append((call, outcome, end))
        self._ensure_writer()

    def hold(self, call: Call, outcome: Outcome) -> ToolCall:
        """Write a call that needs approval now, as ``pending``, with its audit event."""
        row = self._row(call, outcome, {"status": PENDING})
        with self._transaction():
            event = self.audit.append(
                call.agent.name, "tool.pending", self._subject(call), self._payload(row)
            )
            self.store.insert(replace(row, audit_seq=event.seq))
        return row

    def _subject(self, call: Call) -> str:
        return f"agent:{call.agent.name}/{call.tool}"

    def _payload(self, row: ToolCall) -> dict[str, Any]:
        # the audit log commits to the call's id and decision, never its payloads: an erased
        # subject's arguments must not survive in the tamper-evident log
        return {
            "call": row.id,
            "tool": row.tool,
            "decision": row.decision,
            "status": row.status,
            "approvals_needed": row.approvals_needed,
            "rules": list(row.rules),
            "latency_ms": row.latency_ms,
            "error": row.error,
        }

    def _row(self, call: Call, outcome: Outcome, end: dict[str, Any]) -> ToolCall:
        return self._rows([(call, outcome, end)])[0]

    def _rows(self, batch: list[tuple[Call, Outcome, dict[str, Any]]]) -> list[ToolCall]:
        """The batch's rows: payloads masked (one masking pass per agent: the recognizers'
        cost is per pass, not per string) and sealed for their subjects (one key lookup)."""
        docs: list[Any] = [None] * (2 * len(batch))
        by_agent: dict[str, list[int]] = {}
        for i, (call, _, _) in enumerate(batch):
            by_agent.setdefault(call.agent.name, []).append(i)
        for agent, indexes in by_agent.items():
            # a list adds nothing to a key path, so masking the documents together is
            # masking each one
            masked = self.masking_for(agent).apply_json(
                [[batch[i][0].arguments, batch[i][2].get("result")] for i in indexes]
            )
            for i, (arguments, result) in zip(indexes, masked, strict=True):
                docs[2 * i] = json.dumps(arguments, default=str)
                docs[2 * i + 1] = (
                    None if batch[i][2].get("result") is None else json.dumps(result, default=str)
                )
        subjects = [self.vault.pseudonym(c.subject) if c.subject else None for c, _, _ in batch]
        if any(subjects):
            docs = self.vault.seal([s for s in subjects for _ in (0, 1)], docs)
        return [
            ToolCall(
                id=call.id,
                agent=call.agent.name,
                tool=call.tool,
                ts=call.ts,
                decision=outcome.decision,
                status=end.get("status", DONE),
                approvals_needed=outcome.approvals,
                rules=outcome.rules,
                arguments=docs[2 * i],
                result=docs[2 * i + 1],
                error=end.get("error"),
                latency_ms=end.get("latency_ms"),
                subject=subjects[i],
            )
            for i, (call, outcome, end) in enumerate(batch)
        ]

    def _ensure_writer(self) -> None:
        if self._writer is None:
            with self._lock:
                if self._writer is None:
                    stop = threading.Event()
                    thread = threading.Thread(
                        target=self._write_loop,
                        args=(stop,),
                        name="mlwarden-gateway-log",
                        daemon=True,
                    )
                    self._writer = (thread, stop)
                    thread.start()

    def _write_loop(self, stop: threading.Event) -> None:
        while True:
            stopping = stop.wait(BATCH_WAIT_S)  # the window fills: one commit per batch
            while self._pending:
                batch = [self._pending.popleft() for _ in range(min(BATCH_MAX, len(self._pending)))]
                self._write_retrying(batch)
            if stopping:  # set before this drain began: everything queued until then is written
                return

    def _write_retrying(self, batch: list[tuple[Call, Outcome, dict[str, Any]]]) -> None:
        """Write a batch; a failed write (the database restarting, a lock timeout) is retried
        before the writer gives up on it, saying which calls went unlogged."""
        for attempt in range(WRITE_ATTEMPTS):
            try:
                self._write(batch)
                return
            except Exception as exc:  # the writer thread must outlive one bad batch
                if attempt == WRITE_ATTEMPTS - 1:
                    ids = ", ".join(call.id for call, _, _ in batch)
                    print(
                        f"mlwarden gateway: {len(batch)} tool-call records not logged "
                        f"({type(exc).__name__}: {exc}): {ids}",
                        file=sys.stderr,
                        flush=True,
                    )
                    return
                time.sleep(0.1 * 2**attempt)

    def _write(self, batch: list[tuple[Call, Outcome, dict[str, Any]]]) -> None:
        rows = self._rows(batch)
        with self._transaction():
            events = self.audit.append_many(
                [
                    (call.agent.name, "tool.call", self._subject(call), self._payload(row))
                    for (call, _, _), row in zip(batch, rows, strict=True)
                ]
            )
            fresh = []
            for row, event in zip(rows, events, strict=True):
                if row.decision == APPROVE:  # held, then resolved: the row exists
                    self.store.finish(
                        row.id,
                        status=row.status,
                        result=row.result,
                        error=row.error,
                        latency_ms=row.latency_ms,
                        audit_seq=event.seq,
                    )
                else:
                    fresh.append(replace(row, audit_seq=event.seq))
            self.store.insert_many(fresh)

    def flush(self) -> None:
        """Write every queued record, then keep writing (a fresh writer starts on demand)."""
        with self._lock:
            writer, self._writer = self._writer, None
        if writer is not None:
            thread, stop = writer
            stop.set()
            thread.join()

    close = flush

    # ---- approvals

    def wait(self, call_id: str, timeout_s: float, *, poll_s: float = 0.2) -> str:
        """Block until the call is approved or denied, or ``timeout_s`` passes (then it is
        ``expired``: nobody can approve it afterwards). Returns the final status."""
        deadline = time.monotonic() + timeout_s
        while True:
            status = self.store.get(call_id).status
            if status != PENDING:
                return status
            if time.monotonic() >= deadline:
                if self.store.set_status(call_id, EXPIRED, expected=PENDING):
                    return EXPIRED
                continue  # decided at the last moment
            time.sleep(min(poll_s, max(0.0, deadline - time.monotonic())))

    def decide_pending(
        self, call_id: str, *, actor: str, approve: bool, comment: str | None = None
    ) -> ToolCall:
        """One person's verdict on a pending call. A denial ends it; it is approved once
        ``approvals_needed`` different people approved. The agent itself cannot approve."""
        call = self.store.get(call_id)
        if self._require is not None:
            self._require(actor, "tool.approve", f"agent:{call.agent}/{call.tool}")
        if call.status != PENDING:
            raise Conflict(f"tool call {call_id} is {call.status}, not pending", id=call_id)
        if actor == call.agent:
            raise ValidationError(
                f"{actor} made tool call {call_id} and cannot decide on it", field="actor"
            )
        verdict = "approve" if approve else "deny"
        with self._transaction():
            self.store.add_verdict(Verdict(call_id, actor, verdict, utcnow(), comment))
            approvals = [v for v in self.store.verdicts(call_id) if v.verdict == "approve"]
            status = DENIED if not approve else APPROVED
            if approve and len(approvals) < call.approvals_needed:
                status = PENDING
            if status != PENDING and not self.store.set_status(call_id, status, expected=PENDING):
                raise Conflict(f"tool call {call_id} was decided meanwhile", id=call_id)
            self.audit.append(
                actor,
                f"tool.{verdict}",
                f"agent:{call.agent}/{call.tool}",
                {"call": call_id, "comment": comment, "approvals": len(approvals)},
            )
        if status != PENDING:
            self.metrics.approvals.labels(call.agent, status).inc()
        return self.store.get(call_id)

    # ---- reading

    def calls(
        self, *, agent: str | None = None, status: str | None = None, limit: int = 100
    ) -> list[ToolCall]:
        """Logged calls, newest first, payloads decoded (``None`` once the subject is erased)."""
        return [self._open(c) for c in self.store.find(agent=agent, status=status, limit=limit)]

    def get(self, call_id: str) -> ToolCall:
        return self._open(self.store.get(call_id))

    def _open(self, call: ToolCall) -> ToolCall:
        args, result = call.arguments, call.result
        if call.subject:
            args, result = self.vault.open([call.subject] * 2, [args, result])
        return replace(
            call,
            arguments=None if args is None else json.loads(args),
            result=None if result is None else json.loads(result),
        )

    def verdicts(self, call_id: str) -> list[Verdict]:
        self.store.get(call_id)  # NotFound for unknown ids
        return self.store.verdicts(call_id)


__all__ = ["AgentIdentity", "Call", "GatewayService", "NotFound"]
