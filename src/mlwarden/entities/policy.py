"""What policy evaluation hands out: rule results, decisions, promotions. All frozen."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from mlwarden.entities import AliasChange
from mlwarden.entities._frozen import FrozenDict, freeze
from mlwarden.entities.wire import Wire

PASS, FAIL, ERROR, SKIPPED = "pass", "fail", "error", "skipped"


def _freeze(value: Any) -> Any:
    return value if isinstance(value, FrozenDict | tuple) else freeze(value)


SEVERITIES = ("error", "warn")


@dataclass(frozen=True)
class RuleResult(Wire):
    """One rule's verdict. ``values`` holds every path the rule reads that exists (as the rule
    saw it); ``missing`` the paths (shortest absent prefix) that do not."""

    id: str
    severity: str
    verdict: str  # pass, fail, error (the rule could not be evaluated) or skipped
    message: str
    values: dict[str, Any] = field(default_factory=dict)
    missing: tuple[str, ...] = ()
    check: str = ""

    def __post_init__(self) -> None:
        # Values read from a built context are frozen already (policy.context); freezing
        # them again would be most of a rule's evaluation time.
        values = self.values
        if not isinstance(values, FrozenDict):
            values = FrozenDict({k: _freeze(v) for k, v in values.items()})
        object.__setattr__(self, "values", values)
        object.__setattr__(self, "missing", tuple(self.missing))

    @property
    def blocking(self) -> bool:
        """An error-severity rule that did not pass (a failed or unevaluable check)."""
        return self.severity == "error" and self.verdict in (FAIL, ERROR)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RuleResult:
        return cls(
            id=data["id"],
            severity=data["severity"],
            verdict=data["verdict"],
            message=data["message"],
            values=data.get("values") or {},
            missing=tuple(data.get("missing") or ()),
            check=data.get("check", ""),
        )


@dataclass(frozen=True)
class Decision(Wire):
    """One evaluation of a policy against one version, as stored and audited."""

    policy: str
    policy_sha256: str
    ref: str
    passed: bool
    applies: bool
    results: tuple[RuleResult, ...]
    time: datetime
    actor: str
    purpose: str = "check"  # check, promote, dry-run
    id: int | None = None  # set once stored
    # the installed gate's version (policy.gates), None for shipped or inline policies
    policy_version: int | None = None
    inline: bool = False  # the policy was sent by the client: it can only dry-run

    wire_derived = ("dry_run",)

    @property
    def dry_run(self) -> bool:
        return self.purpose == "dry-run"

    @property
    def failed_rules(self) -> list[RuleResult]:
        return [r for r in self.results if r.blocking]

    @property
    def warnings(self) -> list[RuleResult]:
        return [r for r in self.results if r.severity == "warn" and r.verdict != PASS]

    def __repr__(self) -> str:
        failed = [r.id for r in self.failed_rules]
        return (
            f"Decision({self.ref!r}, policy={self.policy!r}, passed={self.passed}, "
            f"failed={failed}, id={self.id})"
        )


@dataclass(frozen=True)
class Promotion(Wire):
    """The outcome of ``promote``: the gate's decision, the approvals seen and (unless a dry
    run, or the alias already pointed there) the alias move."""

    ref: str
    alias: str
    decision: Decision
    approvals: dict[str, Any]
    allowed: bool
    dry_run: bool
    change: AliasChange | None = None
    reasons: tuple[str, ...] = ()

    wire_derived = ("moved",)

    @property
    def moved(self) -> bool:
        """Did the alias move (not a dry run, and not already there)?"""
        return self.change is not None


@dataclass(frozen=True)
class GatePolicy(Wire):
    """A gate policy an admin installed on the server: one stored version, by its hash."""

    name: str
    version: int
    sha256: str
    source: str = field(repr=False)
    created_by: str
    created_at: datetime


@dataclass(frozen=True)
class Binding(Wire):
    """A protected alias (``alias:production``) or risk tier (``risk_tier:high``) bound to an
    installed gate policy's name: promotions evaluate that policy's newest version."""

    target: str
    policy: str
    created_by: str
    created_at: datetime

    wire_derived = ("kind", "value")

    @property
    def kind(self) -> str:
        """``alias`` or ``risk_tier``."""
        return self.target.partition(":")[0]

    @property
    def value(self) -> str:
        """The alias or the risk tier."""
        return self.target.partition(":")[2]
