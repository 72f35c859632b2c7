"""Settings of ``mlwarden serve``: one typed object, every value an ``MLWARDEN_SERVE_*``
variable, mirrored by the command's options."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict


class ServerSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="MLWARDEN_SERVE_", extra="ignore")

    host: str = Field(default="127.0.0.1", description="interface to listen on")
    port: int = Field(default=8080, ge=0, le=65535)
    workers: int = Field(default=1, ge=1, description="server processes")
    durability: Literal["sync", "async"] = Field(
        default="sync",
        description="sync: answer once the prediction is committed; async: answer at once "
        "and commit within batch_wait_ms (a crash can lose the last batch)",
    )
    log_predictions: bool = Field(default=True, description="store every served prediction")
    batch_wait_ms: float = Field(
        default=0.1,
        ge=0,
        description="while other requests are about (the last commit had company), how long "
        "the log writer waits for more before committing; a lone client never waits",
    )
    batch_max_rows: int = Field(default=2000, ge=1, description="rows per commit, at most")
    max_body_bytes: int = Field(default=8 * 1024 * 1024, ge=1024, description="413 above this")
    max_rows: int = Field(default=10_000, ge=1, description="rows per predict request")
    max_upload_mb: int = Field(
        default=512, ge=1, description="413 above this for an upload (PUT /v1/blobs/{sha256})"
    )
    registration_workers: int = Field(
        default=1,
        ge=1,
        description="registration jobs measured at once (threads, off the event loop); "
        "more wait queued",
    )
    alias_ttl_s: float = Field(
        default=1.0, ge=0, description="how long a resolved alias is reused before re-reading"
    )
    auth_ttl_s: float = Field(
        default=2.0,
        ge=0,
        description="how long an authenticated token is trusted before re-checking the store "
        "(revocations made elsewhere take effect within this time)",
    )
    auth_failures_per_min: int = Field(
        default=20,
        ge=0,
        description="failed authentications a client address may make per minute before its "
        "requests are answered 429 (0: no limit); refusals are audited as one event per "
        "address and auth_audit_interval_s",
    )
    auth_audit_interval_s: float = Field(
        default=60.0, gt=0, description="how often refused authentications are audited"
    )
    strict_categories: bool = Field(
        default=False, description="refuse category values unseen in training (422)"
    )
    reasons_exclude: str = Field(
        default="sensitive",
        pattern=r"^\s*[^,\s][^,]*(,\s*[^,\s][^,]*)*$",
        description="features never cited in reason codes (explain=true): 'sensitive' (the "
        "version's sensitive features), 'none', or a comma list of feature names in which "
        "'sensitive' stands for those; their summed share is reported apart",
    )
    proxy_timeout_s: float = Field(default=2.0, gt=0, description="per upstream call")
    proxy_retries: int = Field(default=2, ge=0, description="retries per request, at most")
    proxy_retry_budget: float = Field(
        default=0.2, ge=0, le=1, description="retries allowed as a share of upstream calls"
    )
    proxy_breaker_failures: int = Field(
        default=5, ge=1, description="consecutive failures that open the circuit"
    )
    proxy_breaker_reset_s: float = Field(
        default=10.0, gt=0, description="how long an open circuit refuses calls"
    )
    access_log: bool = Field(default=True, description="one line per request (no headers)")
    model_cache_size: int = Field(default=16, ge=1, description="loaded models kept")
    settle_heap: bool = Field(
        default=True,
        description="after start-up and each model load, freeze the heap (gc.freeze) so the "
        "garbage collector's full passes stop adding tens of milliseconds to the p99",
    )


class ProxySettings(BaseSettings):
    """Where proxied versions may send their inputs: every value an ``MLWARDEN_PROXY_*``
    variable (read by the server, and by a process that registers or calls a proxied version
    itself)."""

    model_config = SettingsConfigDict(env_prefix="MLWARDEN_PROXY_", extra="ignore")

    allowed_hosts: Annotated[tuple[str, ...], NoDecode] = Field(
        default=(),
        description="comma-separated hosts, addresses or networks (10.0.0.0/8) proxied "
        "endpoints may be at although they are loopback, link-local or private; everything "
        "else must be public",
    )
    allow_public: bool = Field(
        default=True,
        description="false: proxied endpoints must be on allowed_hosts, public ones too",
    )
    resolve_ttl_s: float = Field(
        default=10.0,
        ge=0,
        description="how long an endpoint's checked address is reused before its host is "
        "resolved and checked again",
    )

    @field_validator("allowed_hosts", mode="before")
    @classmethod
    def _comma_list(cls, value: object) -> object:
        if isinstance(value, str):
            return tuple(v.strip() for v in value.split(",") if v.strip())
        return value
