"""The alerting persistence contract: alerts, deliveries, installed channels and monitoring
policies, and the monitoring results an evaluation or a metrics scrape reads."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from mlwarden.entities.alerts import FIRING, Alert, Channel, Delivery


class AlertStore(ABC):
    """What ``mlwarden.alerts`` needs from storage. Every method is one atomic step; writes
    join the caller's open transaction."""

    # -- alerts

    @abstractmethod
    def open(self, model_id: int, **fields: Any) -> Alert | None:
        """Insert a firing alert (``fields``: the alert's columns, ``now`` optional); ``None``
        if one with that fingerprint is firing already: at most one firing alert per
        fingerprint, even when two evaluators race."""

    @abstractmethod
    def update(self, alert_id: int, **fields: Any) -> None: ...

    @abstractmethod
    def resolve(self, alert_id: int, reason: str, now: datetime) -> bool:
        """Mark resolved if still firing; whether this call did it (only one caller does)."""

    @abstractmethod
    def get(self, alert_id: int) -> Alert:
        """The alert; ``NotFound`` for an unknown id."""

    @abstractmethod
    def firing(self, fingerprint: str) -> Alert | None: ...

    @abstractmethod
    def last_ended(self, fingerprint: str) -> datetime | None:
        """When the fingerprint's latest resolved alert ended (for cool-downs), or ``None``."""

    @abstractmethod
    def find(
        self,
        *,
        model_id: int | None = None,
        status: str | None = None,
        policy: str | None = None,
        limit: int | None = None,
    ) -> list[Alert]:
        """Alerts matching every given filter, newest first."""

    def firing_for(self, model_id: int, policy: str) -> list[Alert]:
        return self.find(model_id=model_id, status=FIRING, policy=policy)

    # -- deliveries

    @abstractmethod
    def add_delivery(self, alert_id: int, **fields: Any) -> Delivery: ...

    @abstractmethod
    def deliveries(
        self, *, alert_id: int | None = None, failed: bool | None = None, limit: int | None = None
    ) -> list[Delivery]:
        """Delivery attempts matching the filters, newest first."""

    # -- installed channels

    @abstractmethod
    def put_channel(
        self, name: str, fmt: str, url: str | None, secret_env: str | None, actor: str
    ) -> Channel:
        """Install a channel, replacing one of that name."""

    @abstractmethod
    def delete_channel(self, name: str) -> bool:
        """Remove a channel; whether there was one."""

    @abstractmethod
    def channels(self, name: str | None = None) -> list[Channel]:
        """Installed channels (or the one named), ordered by name."""

    # -- installed monitoring policies

    @abstractmethod
    def put_policy(self, name: str, source: str, sha256: str, actor: str) -> None:
        """Install a policy's source verbatim, replacing one of that name."""

    @abstractmethod
    def delete_policy(self, name: str) -> bool:
        """Remove a policy; whether there was one."""

    @abstractmethod
    def policies(self) -> list[dict[str, Any]]:
        """Installed policies (``name, source, sha256, created_by, created_at``), by name."""

    # -- what an evaluation and a metrics scrape read

    @abstractmethod
    def recent_windows(
        self, model_id: int, version: int, window: str | None, n: int
    ) -> list[dict[str, Any]]:
        """The ``n`` newest overall windows of a version, oldest first. With ``window=None``,
        of the window size computed most recently."""

    @abstractmethod
    def latest_windows(self) -> list[dict[str, Any]]:
        """The newest stored overall window of every model version that has one, with the
        model's ``name``."""

    @abstractmethod
    def alert_counts(self) -> list[dict[str, Any]]:
        """Alerts per policy, severity and status: ``[{policy, severity, status, n}]``."""

    @abstractmethod
    def delivery_counts(self) -> list[dict[str, Any]]:
        """Delivery attempts per channel and outcome: ``[{channel, ok, n}]``."""

    @abstractmethod
    def version_statuses(self, names: Sequence[str] | None = None) -> list[dict[str, Any]]:
        """``[{name, version, status}]`` of every version (of the named models)."""
