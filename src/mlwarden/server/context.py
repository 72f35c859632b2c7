"""``ServerContext``: what the routes share, built once per app by ``create_app`` (no
import-time state) and kept on ``app.state.ctx``."""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from mlwarden.access import User
    from mlwarden.audit.reads import ReadAudit
    from mlwarden.client import Warden
    from mlwarden.server.auth import Authenticator
    from mlwarden.server.jobs import JobRunner
    from mlwarden.server.proxy import ProxyRuntime
    from mlwarden.server.settings import ServerSettings
    from mlwarden.server.writer import PredictionWriter
    from mlwarden.serving.core import ModelCache, Resolver


@dataclass
class ServerContext:
    """What the routes share; built once per app (no import-time state)."""

    settings: ServerSettings
    warden: Warden
    auth: Authenticator
    resolver: Resolver
    models: ModelCache
    writer: PredictionWriter | None
    proxies: ProxyRuntime
    jobs: JobRunner
    #: the read audit (audit/reads.py), when Settings.audit_reads names risk tiers
    reads: ReadAudit | None = None

    def viewed(self, user: User, model: str, kind: str) -> None:
        if self.reads is not None:
            self.reads.seen(user.name, model, kind)

    def acting(self, user: User) -> Warden:
        """The Warden as ``user``: a shallow copy sharing every service, with its actor."""
        wd = copy.copy(self.warden)
        wd.settings = self.warden.settings.model_copy(update={"actor": user.name})
        return wd
