"""The MCP gateway's tool-call log in SQL. What a decision means lives in
``mlwarden.gateway``; this module only stores rows."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Row, select, update
from sqlalchemy.exc import IntegrityError as SqlIntegrityError

from mlwarden._time import as_utc
from mlwarden.entities.agents import ToolCall, Verdict
from mlwarden.errors import AlreadyExists, NotFound
from mlwarden.store.sql.database import Database
from mlwarden.store.sql.schema import tool_call_approvals, tool_calls
from mlwarden.store.tool_call_store import ToolCallStore


def _call(row: Row) -> ToolCall:
    return ToolCall(
        id=row.id,
        agent=row.agent,
        tool=row.tool,
        ts=as_utc(row.ts),  # type: ignore[arg-type]
        decision=row.decision,
        status=row.status,
        approvals_needed=row.approvals_needed,
        rules=tuple(row.rules or ()),
        arguments=row.arguments,
        result=row.result,
        error=row.error,
        latency_ms=row.latency_ms,
        subject=row.subject,
        audit_seq=row.audit_seq,
    )


class SqlToolCallStore(ToolCallStore):
    def __init__(self, db: Database) -> None:
        self.db = db

    def insert(self, call: ToolCall) -> None:
        self.insert_many([call])

    def insert_many(self, calls: Sequence[ToolCall]) -> None:
        if not calls:
            return
        rows = [
            {
                "id": call.id,
                "agent": call.agent,
                "tool": call.tool,
                "ts": call.ts,
                "decision": call.decision,
                "status": call.status,
                "approvals_needed": call.approvals_needed,
                "rules": list(call.rules),
                "arguments": (
                    call.arguments
                    if isinstance(call.arguments, str)
                    else json.dumps(call.arguments)
                ),
                "result": call.result,
                "error": call.error,
                "latency_ms": call.latency_ms,
                "subject": call.subject,
                "audit_seq": call.audit_seq,
            }
            for call in calls
        ]
        try:
            with self.db.transaction() as conn:
                conn.execute(tool_calls.insert(), rows)  # one executemany
        except SqlIntegrityError:
            ids = ", ".join(repr(c.id) for c in calls[:3])
            raise AlreadyExists(f"tool call {ids} is already logged", id=calls[0].id) from None

    def finish(
        self,
        call_id: str,
        *,
        status: str,
        result: str | None = None,
        error: str | None = None,
        latency_ms: float | None = None,
        audit_seq: int | None = None,
    ) -> None:
        values: dict[str, Any] = {"status": status, "result": result, "error": error}
        if latency_ms is not None:
            values["latency_ms"] = latency_ms
        if audit_seq is not None:
            values["audit_seq"] = audit_seq
        with self.db.transaction() as conn:
            moved = conn.execute(
                update(tool_calls).where(tool_calls.c.id == call_id).values(**values)
            ).rowcount
        if not moved:
            raise NotFound(f"no tool call {call_id!r}", id=call_id)

    def get(self, call_id: str) -> ToolCall:
        with self.db.reading() as conn:
            row = conn.execute(select(tool_calls).where(tool_calls.c.id == call_id)).first()
        if row is None:
            raise NotFound(f"no tool call {call_id!r}", id=call_id)
        return _call(row)

    def find(
        self, *, agent: str | None = None, status: str | None = None, limit: int = 100
    ) -> list[ToolCall]:
        query = select(tool_calls).order_by(tool_calls.c.ts.desc(), tool_calls.c.id).limit(limit)
        if agent is not None:
            query = query.where(tool_calls.c.agent == agent)
        if status is not None:
            query = query.where(tool_calls.c.status == status)
        with self.db.reading() as conn:
            return [_call(r) for r in conn.execute(query)]

    def recent(self, agent: str, since: datetime) -> list[tuple[str, str]]:
        query = (
            select(tool_calls.c.tool, tool_calls.c.decision)
            .where(tool_calls.c.agent == agent, tool_calls.c.ts >= since)
            .order_by(tool_calls.c.ts)
        )
        with self.db.reading() as conn:
            return [(r.tool, r.decision) for r in conn.execute(query)]

    def set_status(self, call_id: str, status: str, *, expected: str) -> bool:
        with self.db.transaction() as conn:
            return bool(
                conn.execute(
                    update(tool_calls)
                    .where(tool_calls.c.id == call_id, tool_calls.c.status == expected)
                    .values(status=status)
                ).rowcount
            )

    def add_verdict(self, verdict: Verdict) -> None:
        try:
            with self.db.transaction() as conn:
                conn.execute(
                    tool_call_approvals.insert().values(
                        call_id=verdict.call_id,
                        actor=verdict.actor,
                        verdict=verdict.verdict,
                        comment=verdict.comment,
                        ts=verdict.ts,
                    )
                )
        except SqlIntegrityError:
            raise AlreadyExists(
                f"{verdict.actor} already decided on tool call {verdict.call_id}",
                id=verdict.call_id,
                actor=verdict.actor,
            ) from None

    def verdicts(self, call_id: str) -> list[Verdict]:
        query = (
            select(tool_call_approvals)
            .where(tool_call_approvals.c.call_id == call_id)
            .order_by(tool_call_approvals.c.ts)
        )
        with self.db.reading() as conn:
            return [
                Verdict(r.call_id, r.actor, r.verdict, as_utc(r.ts), r.comment)  # type: ignore[arg-type]
                for r in conn.execute(query)
            ]

    def subject_calls(self, subject: str) -> Sequence[dict[str, Any]]:
        query = select(tool_calls.c.id, tool_calls.c.arguments, tool_calls.c.result).where(
            tool_calls.c.subject == subject
        )
        with self.db.reading() as conn:
            return [dict(r._mapping) for r in conn.execute(query)]
