"""The gate-policy persistence contract: installed policy versions and their bindings."""

from __future__ import annotations

from abc import ABC, abstractmethod
from datetime import datetime

from mlwarden.entities.policy import Binding, GatePolicy


class GateStore(ABC):
    """What ``mlwarden.policy.gates`` needs from storage. Every method is one atomic step
    and joins the caller's open transaction."""

    @abstractmethod
    def install(
        self, name: str, source: str, sha256: str, actor: str, now: datetime
    ) -> tuple[GatePolicy, bool]:
        """Store ``source`` as the next version of ``name`` (1, 2, … no gaps); the same text
        as the newest version is not stored again. Returns (policy, created). A concurrent
        install of the same name raises ``Conflict``, never a duplicate version."""

    @abstractmethod
    def get(self, name: str, version: int | None = None) -> GatePolicy | None:
        """One version (the newest when ``version`` is ``None``), or ``None``."""

    @abstractmethod
    def newest(self) -> list[GatePolicy]:
        """The newest version of each installed policy, ordered by name."""

    @abstractmethod
    def bind(self, target: str, policy: str, actor: str, now: datetime) -> Binding:
        """Bind ``target`` (``alias:…``, ``risk_tier:…``) to a policy, replacing a binding."""

    @abstractmethod
    def unbind(self, target: str) -> Binding:
        """Remove and return the binding; ``NotFound`` if nothing is bound to ``target``."""

    @abstractmethod
    def bindings(self) -> list[Binding]:
        """All bindings, ordered by target."""

    @abstractmethod
    def binding(self, target: str) -> Binding | None: ...

    @abstractmethod
    def set_risk_tier(self, name: str, tier: str) -> str:
        """Set a model's risk tier and return the old one; ``NotFound`` for an unknown model."""
