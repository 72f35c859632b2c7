"""What the alert service hands out: alerts, deliveries, one evaluation's outcome. Frozen."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from mlwarden.entities.wire import Wire

FIRING, RESOLVED = "firing", "resolved"


@dataclass(frozen=True)
class Alert(Wire):
    """One firing episode of a monitoring rule on a model version."""

    id: int
    fingerprint: str
    policy: str
    policy_sha256: str
    rule: str
    model: str
    version: int
    severity: str
    status: str  # firing or resolved
    message: str
    actions: tuple[dict[str, Any], ...]
    values: dict[str, Any]
    window_start: datetime | None
    window_end: datetime | None
    started_at: datetime
    updated_at: datetime
    ended_at: datetime | None = None
    resolution: str | None = None

    wire_derived = ("ref",)

    @property
    def ref(self) -> str:
        return f"{self.model}@{self.version}"


@dataclass(frozen=True)
class Channel(Wire):
    """Where alerts go, installed by an admin (policies name it). ``secret_env`` names the
    environment variable holding the HMAC key: the key itself is never stored."""

    name: str
    url: str | None
    format: str = "json"
    secret_env: str | None = None
    created_by: str | None = None
    created_at: datetime | None = None


@dataclass(frozen=True)
class Delivery(Wire):
    """One attempt to send one alert event to one channel."""

    id: int
    alert_id: int
    event: str  # firing or resolved
    channel: str
    format: str
    url: str | None
    attempt: int
    ok: bool
    http_status: int | None
    error: str | None
    duration_ms: int
    created_at: datetime
    delivery_id: str | None = None  # the signed X-Warden-Delivery; retries share it


@dataclass(frozen=True)
class RuleOutcome(Wire):
    """A rule on one model in one evaluation: what the latest windows said and what changed."""

    policy: str
    rule: str
    model: str
    version: int
    state: str  # firing, ok, pending (true but not for enough windows), no-data, error
    change: str | None = None  # fired, resolved, suppressed (cooldown) or None
    alert_id: int | None = None
    windows: int = 0
    message: str = ""
    values: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Evaluation(Wire):
    """``wd.evaluate_monitoring()``: every rule's outcome on every model it applies to."""

    time: datetime
    outcomes: tuple[RuleOutcome, ...]
    duration_s: float = 0.0

    @property
    def fired(self) -> list[RuleOutcome]:
        return [o for o in self.outcomes if o.change == "fired"]

    @property
    def resolved(self) -> list[RuleOutcome]:
        return [o for o in self.outcomes if o.change == "resolved"]
