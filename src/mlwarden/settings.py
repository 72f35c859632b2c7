"""One typed settings object; every value can come from an ``MLWARDEN_*`` variable."""

from __future__ import annotations

import getpass
import os
from pathlib import Path

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

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
