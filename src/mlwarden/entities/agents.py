"""What the MCP gateway records about an agent's tool call, and the verdicts on it. Frozen."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

from mlwarden._json import jsonable

#: What an agent policy decides for a call.
ALLOW, DENY, APPROVE, REDACT = "allow", "deny", "approve", "redact"
DECISIONS = (ALLOW, DENY, APPROVE, REDACT)
#: A call's life: pending → approved | denied | expired, then done | error.
PENDING, APPROVED, DENIED, EXPIRED, DONE, FAILED = (
    "pending",
    "approved",
    "denied",
    "expired",
    "done",
    "error",
)


@dataclass(frozen=True)
class ToolCall:
    """One ``tools/call`` as logged: arguments and result masked (``None`` once erased)."""

    id: str
    agent: str
    tool: str
    ts: datetime
    decision: str
    status: str
    approvals_needed: int
    rules: tuple[dict[str, Any], ...]
    arguments: Any
    result: Any = None
    error: str | None = None
    latency_ms: float | None = None
    subject: str | None = None
    audit_seq: int | None = None

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = jsonable(asdict(self))
        return out


@dataclass(frozen=True)
class Verdict:
    """One person's approval or denial of a pending call."""

    call_id: str
    actor: str
    verdict: str  # approve or deny
    ts: datetime
    comment: str | None = None
