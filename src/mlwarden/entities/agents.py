"""What the MCP gateway records about an agent's tool call, and the verdicts on it. Frozen."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

from mlwarden._json import jsonable
from mlwarden.entities.registry import _Entity

#: The flavor of a registered agent's versions, and the model-level tag (``kind: agent``)
#: that marks the model as an agent: one registry, two kinds that never mix under one name.
AGENT_FLAVOR = "agent"
KIND_TAG = "kind"

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


@dataclass(frozen=True, repr=False)
class AgentVersion(_Entity):
    """One registered version of an agent: a model version whose artifact is the agent's
    spec (flavor ``agent``), so it has the same numbers, aliases, gates and audit events.

    ``policies`` are the YAML texts of its ``kind: agent`` policies, parsed and checked by
    the side that owns the store when the version was registered."""

    name: str
    version: int
    instructions: str
    tools: tuple[str, ...]
    model: str | None
    policies: tuple[str, ...]
    policy_names: tuple[str, ...]
    artifact_sha256: str
    status: str
    created_at: datetime
    created_by: str
    description: str | None = None
    aliases: tuple[str, ...] = ()

    wire_derived = ("ref",)

    @property
    def ref(self) -> str:
        return f"{self.name}@{self.version}"

    def __repr__(self) -> str:
        return (
            f"AgentVersion({self.ref!r}, model={self.model!r}, tools={list(self.tools)}, "
            f"policies={list(self.policy_names)}, aliases={list(self.aliases)})"
        )
