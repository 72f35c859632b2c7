"""Settings of alerting and metrics: every value an ``MLWARDEN_ALERTS_*`` variable."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict


class AlertSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="MLWARDEN_ALERTS_", extra="ignore")

    interval_s: float = Field(
        default=300.0,
        ge=0,
        description="how often `mlwarden serve` evaluates the installed monitoring policies; "
        "0 turns the scheduler off",
    )
    refresh: bool = Field(
        default=True,
        description="the scheduler computes new monitoring windows before evaluating",
    )
    webhook_url: str | None = Field(
        default=None, description="default channel for policies that name none"
    )
    webhook_format: Literal["json", "slack", "alertmanager"] = "json"
    secret: SecretStr | None = Field(
        default=None,
        description="HMAC-SHA256 key for signing webhooks whose channel names no secret_env",
    )
    attempts: int = Field(default=4, ge=1, le=20, description="delivery attempts per event")
    backoff_s: float = Field(default=0.5, ge=0, description="first retry delay; doubles")
    backoff_max_s: float = Field(default=30.0, ge=0, description="longest retry delay")
    timeout_s: float = Field(default=5.0, gt=0, description="per webhook request")
    allowed_hosts: Annotated[tuple[str, ...], NoDecode] = Field(
        default=(),
        description="comma-separated hosts, addresses or networks (10.0.0.0/8) webhooks may "
        "reach although they are loopback, link-local or private; everything else must be public",
    )
    secret_envs: Annotated[tuple[str, ...], NoDecode] = Field(
        default=(),
        description="comma-separated environment variables a channel's secret_env may name, "
        "besides those starting with MLWARDEN_WEBHOOK_SECRET",
    )
    metrics_auth: bool = Field(
        default=True,
        description="/metrics needs a bearer token (any role); false serves it openly",
    )

    @field_validator("allowed_hosts", "secret_envs", mode="before")
    @classmethod
    def _comma_list(cls, value: object) -> object:
        if isinstance(value, str):
            return tuple(v.strip() for v in value.split(",") if v.strip())
        return value
