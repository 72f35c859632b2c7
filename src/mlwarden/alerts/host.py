"""What the alert scheduler and the metrics collector use of a Warden.

A Protocol at the alerts' own layer: mypy checks their ``warden.…`` calls without the alert
service importing the facade above it (the local ``Warden`` satisfies it structurally).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from mlwarden.alerts.service import AlertService
    from mlwarden.audit.log import AuditLog
    from mlwarden.entities import Model, ModelVersion
    from mlwarden.monitor.oversight import OversightService
    from mlwarden.settings import Settings


class AlertHost(Protocol):
    @property
    def settings(self) -> Settings: ...
    @property
    def actor(self) -> str: ...
    @property
    def alerting(self) -> AlertService: ...
    @property
    def audit(self) -> AuditLog: ...
    @property
    def oversight(self) -> OversightService: ...

    def list_models(self) -> list[Model]: ...
    def list_versions(self, name: str) -> list[ModelVersion]: ...
