"""The registry's persistence contract: a small abstract base, primitives only."""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from types import EllipsisType
from typing import Any

from mlwarden.entities import AliasChange, Model, ModelVersion


@dataclass(frozen=True)
class NewModel:
    name: str
    owner: str | None
    risk_tier: str
    intended_use: str | None
    description: str | None
    tags: dict[str, str]


@dataclass(frozen=True)
class NewVersion:
    artifact_sha256: str
    artifact_size: int
    flavor: str
    flavor_info: dict[str, Any]
    signature: dict[str, Any]
    lineage: dict[str, Any]
    metrics: dict[str, float]
    params: dict[str, Any]
    description: str | None = None
    status: str = "registered"
    # "metrics.NAME" or an evidence kind -> "measured" | "asserted"; missing keys are measured
    provenance: dict[str, str] = field(default_factory=dict)


class RegistryStore(ABC):
    """What the registry service needs from storage. Every method is one atomic step."""

    @abstractmethod
    def get_or_create_model(self, spec: NewModel, actor: str) -> tuple[Model, bool]: ...

    @abstractmethod
    def get_model(self, name: str) -> Model: ...

    @abstractmethod
    def update_model(self, name: str, changes: dict[str, Any]) -> Model:
        """Set model-level fields (owner, description, intended_use, tags) atomically."""

    @abstractmethod
    def model_id(self, name: str) -> int:
        """The model's row id, for stores that key other records by it."""

    @abstractmethod
    def list_models(self) -> list[Model]: ...

    @abstractmethod
    def model_ids(self, names: list[str]) -> dict[str, int]:
        """``model_id`` of many models in one read; a name that does not exist is absent."""

    @abstractmethod
    def serving_versions(self, names: list[str] | None = None) -> list[ModelVersion]:
        """For every model (or ``names``), ordered by name, the version behind
        ``production``, else its latest, in a fixed number of reads; models without
        versions are left out."""

    @abstractmethod
    def create_version(
        self, name: str, spec: NewVersion, evidence: dict[str, dict[str, Any]], actor: str
    ) -> ModelVersion:
        """Allocate the next version number and store it with its evidence, atomically."""

    @abstractmethod
    def get_version(self, name: str, version: int) -> ModelVersion: ...

    @abstractmethod
    def latest_version(self, name: str) -> ModelVersion: ...

    @abstractmethod
    def resolve_alias(self, name: str, alias: str) -> ModelVersion: ...

    @abstractmethod
    def list_versions(self, name: str) -> list[ModelVersion]: ...

    @abstractmethod
    def move_alias(
        self,
        name: str,
        alias: str,
        version: int | None,
        *,
        actor: str,
        action: str,
        reason: str | None = None,
        expect_version: int | EllipsisType | None = ...,
    ) -> AliasChange:
        """Point ``alias`` at ``version`` (``None`` removes it) and record the move.

        ``expect_version`` makes the move conditional (compare-and-set), so two concurrent
        promotions cannot both succeed.
        """

    @abstractmethod
    def alias_history(self, name: str, alias: str | None = None) -> list[AliasChange]: ...

    @abstractmethod
    def get_evidence(self, name: str, version: int, kind: str) -> dict[str, Any]: ...

    @abstractmethod
    def evidence_of(
        self, versions: list[tuple[str, int]], kinds: list[str]
    ) -> dict[tuple[str, int, str], dict[str, Any]]:
        """``kinds`` evidence of many ``(name, version)`` at once, keyed ``(name, version,
        kind)``; what a version lacks is absent."""

    @abstractmethod
    def put_evidence(self, name: str, version: int, kind: str, content: dict[str, Any]) -> str: ...

    @abstractmethod
    def set_status(self, name: str, version: int, status: str) -> None: ...
