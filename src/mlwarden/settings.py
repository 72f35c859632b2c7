"""One typed settings object; every value can come from an ``MLWARDEN_*`` variable."""

from __future__ import annotations

import getpass
import os
from pathlib import Path
from typing import Annotated, Any

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

DEFAULT_HOME = "./mlwarden"


class Settings(BaseSettings):
    """Where Warden keeps things and who is acting.

    ``uri`` picks the backend: ``sqlite:///…`` (default, under ``home``), ``postgresql://…``,
    or ``http(s)://…`` for a running ``mlwarden serve``.
    """

    model_config = SettingsConfigDict(env_prefix="MLWARDEN_", extra="ignore")

    home: Path = Field(default=Path(DEFAULT_HOME), description="embedded store folder")
    uri: str | None = Field(default=None, description="database or server URI")
    artifacts: str | None = Field(default=None, description="artifact root (path or fsspec URL)")
    token: SecretStr | None = Field(default=None, description="API token for http(s) URIs")
    actor: str | None = Field(default=None, description="who acts on the embedded store")
    key_file: Path | None = Field(default=None, description="Ed25519 audit signing key")
    master_key_file: Path | None = Field(
        default=None,
        description="32-byte master key that wraps the data subjects' keys (default: "
        "master.key beside the signing key); every server of one store needs the same",
    )
    master_key: SecretStr | None = Field(
        default=None,
        description="the master key itself, base64 (from a secret manager); wins over the file",
    )
    audit_pubkey: str | None = Field(
        default=None,
        description="pinned audit public key (PEM file or base64): verification trusts it, "
        "and a server whose signing key does not match it refuses to start",
    )
    protected_aliases: str = Field(
        default="production",
        description="aliases moved only through an installed gate policy (comma-separated)",
    )
    default_risk_tier: str = Field(
        default="high",
        description="risk tier of a model registered by someone who may not choose one",
    )
    timezone: str = Field(
        default="UTC",
        description="IANA time zone where monitoring's calendar windows (1d, 1w, 1mo, 1q) start",
    )
    trusted_loaders: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="generic-flavor loaders (module:callable, comma-separated) the operator "
        "allows; any other loader a stored version names is refused",
    )
    trusted_types: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="types or module prefixes (comma-separated) a skops artifact may hold "
        "beyond scikit-learn, NumPy, SciPy, LightGBM and XGBoost",
    )
    sandbox_timeout_s: float = Field(
        default=20.0, gt=0, description="time an uploaded artifact has to load and predict"
    )
    sandbox_memory_mb: int = Field(
        default=2048, ge=64, description="address space of the artifact check's process"
    )

    @field_validator("trusted_loaders", "trusted_types", mode="before")
    @classmethod
    def _split_loaders(cls, value: Any) -> Any:
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value

    def resolved_uri(self) -> str:
        return self.uri or f"sqlite:///{(self.home / 'warden.db').as_posix()}"

    def resolved_artifacts(self) -> str:
        if self.artifacts:
            return self.artifacts
        uri = self.resolved_uri()
        if uri.startswith("sqlite:///") and self.uri:
            # an explicit SQLite file keeps its artifacts beside it
            return str(Path(uri.removeprefix("sqlite:///")).parent / "artifacts")
        return str(self.home / "artifacts")

    def resolved_actor(self) -> str:
        if self.actor:
            return self.actor
        try:
            return getpass.getuser()
        except Exception:  # no passwd entry in some containers
            return os.environ.get("USER", "unknown")
