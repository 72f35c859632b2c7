"""Registry entities: models, versions, aliases. Frozen; built by the store, shown to users."""

from __future__ import annotations

import html
from dataclasses import dataclass, field, fields
from datetime import datetime
from typing import Any

from mlwarden.entities._frozen import freeze, thaw
from mlwarden.entities.wire import Wire

RISK_TIERS = ("low", "medium", "high")
#: Where a metric or evidence record came from: ``measured`` by the side that owns the store
#: (the server, or the local process on the embedded default) from data it holds, or only
#: ``asserted`` by a client. Policies read measured values unless a rule asks otherwise.
MEASURED = "measured"
ASSERTED = "asserted"
PROVENANCES = (MEASURED, ASSERTED)


class _Entity(Wire):
    """Shared behaviour: deep-frozen fields, ``to_dict`` (:func:`encode`), an HTML table for
    notebooks."""

    def __post_init__(self) -> None:
        for f in fields(self):  # type: ignore[arg-type]
            object.__setattr__(self, f.name, freeze(getattr(self, f.name)))

    def _html_rows(self) -> list[tuple[str, Any]]:
        return [(f.name, getattr(self, f.name)) for f in fields(self)]  # type: ignore[arg-type]

    def _repr_html_(self) -> str:
        rows = "".join(
            f"<tr><th style='text-align:left'>{html.escape(k)}</th>"
            f"<td style='text-align:left'>{html.escape(_short(v))}</td></tr>"
            for k, v in self._html_rows()
        )
        return f"<table><caption>{html.escape(repr(self))}</caption>{rows}</table>"


def _short(value: Any, limit: int = 300) -> str:
    text = value.isoformat() if isinstance(value, datetime) else str(thaw(value))
    return text if len(text) <= limit else text[: limit - 1] + "…"


@dataclass(frozen=True, repr=False)
class Model(_Entity):
    name: str
    owner: str | None
    risk_tier: str
    intended_use: str | None
    description: str | None
    tags: dict[str, str]
    created_at: datetime
    created_by: str
    latest_version: int | None
    aliases: dict[str, int] = field(default_factory=dict)

    def __repr__(self) -> str:
        return (
            f"Model(name={self.name!r}, risk_tier={self.risk_tier!r}, owner={self.owner!r}, "
            f"latest_version={self.latest_version}, aliases={dict(self.aliases)})"
        )


@dataclass(frozen=True, repr=False)
class ModelVersion(_Entity):
    """One immutable registered version and everything recorded with it."""

    name: str
    version: int
    artifact_sha256: str
    artifact_size: int
    flavor: str
    flavor_info: dict[str, Any]
    signature: dict[str, Any]
    lineage: dict[str, Any]
    metrics: dict[str, float]
    params: dict[str, Any]
    status: str
    created_at: datetime
    created_by: str
    description: str | None = None
    aliases: tuple[str, ...] = ()
    evidence: dict[str, str] = field(default_factory=dict)  # kind -> sha256
    # "metrics.NAME" or an evidence kind -> MEASURED or ASSERTED; one entry per metric and
    # evidence record (a missing entry, from a client older than this field, reads measured)
    provenance: dict[str, str] = field(default_factory=dict)

    @property
    def ref(self) -> str:
        return f"{self.name}@{self.version}"

    @property
    def input_names(self) -> list[str]:
        return [c["name"] for c in self.signature.get("inputs", [])]

    @property
    def sensitive_features(self) -> list[str]:
        """Protected attributes declared at registration: inputs marked sensitive, then those
        that are not model inputs (``Dataset(sensitive=...)``), which travel beside predictions
        for fairness only."""
        flagged = [c["name"] for c in self.signature.get("inputs", []) if c.get("sensitive")]
        declared = self.lineage.get("sensitive_features") or []
        return flagged + [c for c in declared if c not in flagged]

    @property
    def sensitive_attributes(self) -> list[str]:
        """The sensitive features that are not model inputs."""
        inputs = set(self.input_names)
        return [c for c in self.sensitive_features if c not in inputs]

    def provenance_of(self, key: str) -> str:
        """``measured`` or ``asserted`` for ``metrics.NAME`` or an evidence kind."""
        return self.provenance.get(key, MEASURED)

    @property
    def measured_metrics(self) -> dict[str, float]:
        return {
            k: v for k, v in self.metrics.items() if self.provenance_of(f"metrics.{k}") == MEASURED
        }

    @property
    def asserted_metrics(self) -> dict[str, float]:
        return {
            k: v for k, v in self.metrics.items() if self.provenance_of(f"metrics.{k}") == ASSERTED
        }

    @property
    def verified(self) -> list[str]:
        """The measured metrics (``metrics.NAME``) and evidence kinds, sorted."""
        keys = [f"metrics.{k}" for k in self.metrics] + list(self.evidence)
        return sorted(k for k in keys if self.provenance_of(k) == MEASURED)

    def __repr__(self) -> str:
        shown = {k: round(v, 4) for k, v in list(self.metrics.items())[:3]}
        return (
            f"ModelVersion({self.ref!r}, flavor={self.flavor!r}, status={self.status!r}, "
            f"aliases={list(self.aliases)}, metrics={shown}, "
            f"artifact={self.artifact_sha256[:12]})"
        )


@dataclass(frozen=True, repr=False)
class AliasChange(_Entity):
    """One move of an alias, kept forever so rollbacks and audits can see the path."""

    name: str
    alias: str
    from_version: int | None
    to_version: int | None
    action: str
    actor: str
    reason: str | None
    at: datetime

    def __repr__(self) -> str:
        return (
            f"AliasChange({self.name}@{self.alias}: {self.from_version} -> {self.to_version}, "
            f"{self.action} by {self.actor} at {self.at.isoformat()})"
        )
