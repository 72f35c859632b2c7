"""One typed settings tree; every value can come from an ``MLWARDEN_*`` variable.

:class:`Settings` is the root: the store's own values at the top (``MLWARDEN_URI``,
``MLWARDEN_KEY_FILE``, …) and one section per part of the system, each read from
``MLWARDEN_<SECTION>_<FIELD>`` (``env_nested_delimiter="_"``, split once, so the field keeps its
underscores): ``server`` (``MLWARDEN_SERVE_*``, the names ``mlwarden serve`` always had),
``proxy``, ``alerts``, ``dashboard`` and ``privacy`` (also ``MLWARDEN_PII_*``). Each section is a
settings class of its own too, so ``AlertSettings()`` alone reads the same variables.

The tree is built once (by the CLI, ``Warden`` or ``create_app``) and handed down: services take
their section, nothing below reads the environment. README's configuration table lists every
field; ``tests/test_settings_tree.py`` keeps it so.
"""

from __future__ import annotations

import getpass
import os
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import AliasChoices, Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

DEFAULT_HOME = "./mlwarden"
#: Regions tried for phone numbers written the national way (no ``+``).
DEFAULT_PHONE_REGIONS = ("US", "GB", "DE", "FR", "ES", "IT", "NL", "IN", "BR")


def _comma_list(value: object) -> object:
    if isinstance(value, str):
        return tuple(v.strip() for v in value.split(",") if v.strip())
    return value


class ServerSettings(BaseSettings):
    """``mlwarden serve``: every value an ``MLWARDEN_SERVE_*`` variable and an option of the
    command (``--batch-wait-ms`` …)."""

    model_config = SettingsConfigDict(env_prefix="MLWARDEN_SERVE_", extra="ignore")

    host: str = Field(default="127.0.0.1", description="interface to listen on")
    port: int = Field(default=8080, ge=0, le=65535, description="port to listen on")
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

    _split = field_validator("allowed_hosts", mode="before")(_comma_list)


class AlertSettings(BaseSettings):
    """Alerting and metrics: every value an ``MLWARDEN_ALERTS_*`` variable."""

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
    fleet_workers: int = Field(
        default=2,
        ge=1,
        le=64,
        description="threads the scheduler uses to compute new monitoring windows across models",
    )
    webhook_url: str | None = Field(
        default=None, description="default channel for policies that name none"
    )
    webhook_format: Literal["json", "slack", "alertmanager"] = Field(
        default="json", description="body format of the default channel"
    )
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

    _split = field_validator("allowed_hosts", "secret_envs", mode="before")(_comma_list)


class DashboardSettings(BaseSettings):
    """The web pages: every value an ``MLWARDEN_DASHBOARD_*`` variable."""

    model_config = SettingsConfigDict(env_prefix="MLWARDEN_DASHBOARD_", extra="ignore")

    policy_dir: Path | None = Field(
        default=None,
        description="folder of team policies (*.yaml) the promote form offers next to the "
        "shipped ones, by file stem",
    )


class PrivacySettings(BaseSettings):
    """PII detection: every value an ``MLWARDEN_PRIVACY_*`` (or ``MLWARDEN_PII_*``) variable."""

    model_config = SettingsConfigDict(
        env_prefix="MLWARDEN_PRIVACY_", extra="ignore", validate_by_name=True
    )

    phone_regions: Annotated[tuple[str, ...], NoDecode] = Field(
        default=DEFAULT_PHONE_REGIONS,
        # the documented name, read by this section alone as by the tree
        validation_alias=AliasChoices("mlwarden_pii_phone_regions"),
        description="ISO 3166 regions (comma-separated) tried for phone numbers written "
        "without +; unknown codes are refused naming phone_regions",
    )

    _split = field_validator("phone_regions", mode="before")(_comma_list)


#: JOSE algorithms an access token may be signed with: asymmetric only. ``none`` and the HMAC
#: family are refused outright: with HS* a verifier holding a public key can be fooled into
#: using it as the shared secret.
OIDC_ALGORITHMS = ("RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "EdDSA")


class OIDCSettings(BaseSettings):
    """Sign-in through the company's OpenID Provider: every value an ``MLWARDEN_OIDC_*``
    variable. Off while ``issuer`` is unset. See docs/identity.md."""

    model_config = SettingsConfigDict(env_prefix="MLWARDEN_OIDC_", extra="ignore")

    issuer: str | None = Field(
        default=None,
        description="the provider's issuer URL (exactly as in its tokens' iss); unset: OIDC off",
    )
    audience: str | None = Field(
        default=None,
        description="the aud access tokens must carry (the API's identifier at the provider); "
        "required when issuer is set",
    )
    resource: str | None = Field(
        default=None,
        description="RFC 8707 resource indicator sent with authorization and token requests "
        "(providers that issue JWT access tokens per resource)",
    )
    client_id: str | None = Field(
        default=None, description="dashboard client (authorization code + PKCE)"
    )
    client_secret: SecretStr | None = Field(
        default=None, description="the dashboard client's secret, if it is confidential"
    )
    cli_client_id: str | None = Field(
        default=None, description="public client `mlwarden login` uses (device authorization)"
    )
    scopes: str = Field(default="openid profile email", description="scopes requested at sign-in")
    algorithms: Annotated[tuple[str, ...], NoDecode] = Field(
        default=("RS256", "PS256", "ES256", "EdDSA"),
        description="comma-separated signature algorithms accepted; never none or HS*",
    )
    leeway_s: int = Field(
        default=60, ge=0, le=600, description="clock skew allowed on exp, nbf and iat"
    )
    username_claim: str = Field(
        default="preferred_username",
        description="claim that names the Warden user (falls back to sub when absent)",
    )
    groups_claim: str = Field(
        default="groups", description="claim listing the user's groups (a list of strings)"
    )
    role_map: Annotated[tuple[str, ...], NoDecode] = Field(
        default=(),
        description="comma-separated GROUP=ROLE pairs; a user gets the highest role any of "
        "their groups maps to, or none (default deny)",
    )
    sync_roles: bool = Field(
        default=True,
        description="users the provider created get their role from role_map at each "
        "sign-in (a group removed at the provider takes the role away)",
    )
    jwks_ttl_s: float = Field(
        default=600.0, gt=0, description="how long the provider's keys are reused"
    )
    jwks_min_refetch_s: float = Field(
        default=10.0,
        ge=0,
        description="a token with an unknown key id refetches the keys (rotation), at most "
        "this often",
    )
    http_timeout_s: float = Field(default=5.0, gt=0, description="per request to the provider")
    max_token_bytes: int = Field(
        default=16_384, ge=1024, description="longer bearer tokens are refused unparsed"
    )
    token_cache: Path = Field(
        default=Path("~/.cache/mlwarden/oidc-token.json"),
        description="where `mlwarden login` keeps the provider's access token (mode 0600); "
        "the CLI and SDK use it for http(s) URIs when no MLWARDEN_TOKEN is set",
    )

    _split = field_validator("algorithms", "role_map", mode="before")(_comma_list)

    @field_validator("algorithms")
    @classmethod
    def _asymmetric_only(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        bad = [a for a in value if a not in OIDC_ALGORITHMS]
        if bad or not value:
            raise ValueError(
                f"algorithms {bad or value!r} not allowed: use some of {list(OIDC_ALGORITHMS)} "
                "(never none or HS*)"
            )
        return value

    @field_validator("role_map")
    @classmethod
    def _pairs(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for pair in value:
            group, sep, role = pair.rpartition("=")
            if not sep or not group.strip() or not role.strip():
                raise ValueError(f"role_map entry {pair!r} must be GROUP=ROLE")
        return value

    def roles_by_group(self) -> dict[str, str]:
        return {
            g.strip(): r.strip() for g, _, r in (pair.rpartition("=") for pair in self.role_map)
        }


#: audit actions exported to OpenTelemetry by default: decisions, promotions, rollbacks, alerts
GOVERNANCE_ACTIONS = (
    "policy.decision",
    "alias.set",
    "alias.promote",
    "alias.override",
    "alias.rollback",
    "alias.delete",
    "alert.fired",
    "alert.resolved",
)


class OtelSettings(BaseSettings):
    """OpenTelemetry export of governance events: every value an ``MLWARDEN_OTEL_*`` variable."""

    model_config = SettingsConfigDict(env_prefix="MLWARDEN_OTEL_", extra="ignore")

    endpoint: str | None = Field(
        default=None,
        description="OTLP/HTTP base URL (e.g. http://collector:4318); governance events are "
        "exported as spans to <endpoint>/v1/traces when set (needs mlwarden[otel])",
    )
    service_name: str = Field(default="mlwarden", description="the spans' service.name")
    interval_s: float = Field(
        default=2.0, gt=0, description="how often mlwarden serve exports new audit events"
    )
    actions: Annotated[tuple[str, ...], NoDecode] = Field(
        default=GOVERNANCE_ACTIONS,
        description="audit actions exported (comma-separated)",
    )

    _split = field_validator("actions", mode="before")(_comma_list)


class Settings(BaseSettings):
    """Where Warden keeps things and who is acting.

    ``uri`` picks the backend: ``sqlite:///…`` (default, under ``home``), ``postgresql://…``,
    or ``http(s)://…`` for a running ``mlwarden serve``.
    """

    model_config = SettingsConfigDict(
        env_prefix="MLWARDEN_",
        extra="ignore",
        # MLWARDEN_<section>_<field>: the first "_" after the section ends it, the field keeps
        # its own underscores
        env_nested_delimiter="_",
        env_nested_max_split=1,
        validate_by_name=True,
        env_prefix_target="all",
    )

    home: Path = Field(default=Path(DEFAULT_HOME), description="embedded store folder")
    uri: str | None = Field(
        default=None,
        description="database (sqlite:///…, postgresql://…) or server (http(s)://…) URI; "
        "default sqlite:///<home>/warden.db",
    )
    artifacts: str | None = Field(
        default=None,
        description="artifact root (path, s3://…, gs://…); default <home>/artifacts, or "
        "beside an explicit SQLite file",
    )
    token: SecretStr | None = Field(default=None, description="API token for http(s) URIs")
    actor: str | None = Field(
        default=None, description="who acts on the embedded store; default the OS user"
    )
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
    audit_verify_workers: int | None = Field(
        default=None,
        ge=1,
        description="processes that verify a large audit log online (default: one per CPU; "
        "1: always one scan)",
    )
    audit_verify_parallel_min: int | None = Field(
        default=None,
        ge=1,
        description="audit log size from which online verification runs in parallel "
        "(default 100000)",
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
    audit_reads: Annotated[tuple[str, ...], NoDecode] = Field(
        default=(),
        description="risk tiers (comma-separated: high, medium, low) whose prediction and "
        "evidence views a server records, counted per user, model and hour (read.view events)",
    )
    sandbox_memory_mb: int = Field(
        default=2048, ge=64, description="address space of the artifact check's process"
    )

    immutable_features: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="features (comma-separated) a decision receipt's counterfactual never "
        "changes, beside each version's sensitive features and its model's "
        "counterfactual.immutable tag",
    )
    monotone_features: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="NAME:+ or NAME:- (comma-separated): a counterfactual may only increase "
        "(+) or decrease (-) the feature; a model's counterfactual.monotone tag adds to it",
    )

    debug: bool = Field(
        default=False, description="CLI errors show their traceback instead of one line"
    )
    chromium: str | None = Field(
        default=None,
        description="Chromium or Chrome used for PDF reports (default: the first on PATH)",
    )
    server: ServerSettings = Field(
        default_factory=ServerSettings,
        validation_alias=AliasChoices("server", "serve"),  # MLWARDEN_SERVE_*
        description="mlwarden serve",
    )
    proxy: ProxySettings = Field(default_factory=ProxySettings, description="proxied versions")
    alerts: AlertSettings = Field(default_factory=AlertSettings, description="alerting and metrics")
    dashboard: DashboardSettings = Field(
        default_factory=DashboardSettings, description="the web pages"
    )
    privacy: PrivacySettings = Field(
        default_factory=PrivacySettings,
        validation_alias=AliasChoices("privacy", "pii"),  # MLWARDEN_PII_PHONE_REGIONS
        description="PII detection",
    )
    oidc: OIDCSettings = Field(
        default_factory=OIDCSettings, description="sign-in through an OpenID Provider"
    )

    _split_tiers = field_validator("audit_reads", mode="before")(_comma_list)

    otel: OtelSettings = Field(
        default_factory=OtelSettings, description="OpenTelemetry export of governance events"
    )

    @field_validator(
        "trusted_loaders",
        "trusted_types",
        "immutable_features",
        "monotone_features",
        mode="before",
    )
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
