"""``WardenAPI``: the public SDK surface, one typed Protocol for both backends.

The local facade (``mlwarden.client.Warden``, services in this process) and the HTTP client
(``mlwarden.remote.RemoteWarden``, a running ``mlwarden serve``) implement it member for
member: same names, same parameters, same defaults, same exceptions. Code that only needs
"a Warden" (the CLI, reports, notebooks) takes a ``WardenAPI`` and works on either.
``tests/test_api_parity.py`` compares every public member's signature on both backends with
this Protocol, so neither can drift from it. The documentation lives on ``Warden``.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, Self

if TYPE_CHECKING:  # types only: importing this module stays cheap
    from mlwarden.access import Approval, ApprovalStatus, NewToken, Token, User
    from mlwarden.alerts.policy import MonitoringPolicy
    from mlwarden.entities import AliasChange, Dataset, Model, ModelVersion
    from mlwarden.entities.access import AccessDecision, Grant
    from mlwarden.entities.agents import AgentVersion
    from mlwarden.entities.alerts import Alert, Channel, Delivery, Evaluation
    from mlwarden.entities.policy import Binding, Decision, GatePolicy, Promotion
    from mlwarden.monitor.report import MonitorReport
    from mlwarden.policy.loader import Policy
    from mlwarden.settings import Settings


class WardenAPI(Protocol):
    """What every Warden backend offers (see ``mlwarden.client.Warden`` for each member).

    Not ``runtime_checkable``: ``isinstance`` would read ``actor``, a request on the remote
    backend. mypy checks both backends against it (``_implements`` below)."""

    uri: str
    settings: Settings
    #: the audit log: ``events``, ``get``, ``prove``, ``checkpoint``, ``verify``, ``export``
    audit: Any
    #: human oversight: ``set_rule``, ``flag``, ``queue``, ``decide``, ``override_rate``
    oversight: Any
    #: the validation findings register: ``add``, ``update``, ``list``
    findings: Any

    @property
    def actor(self) -> str: ...

    def close(self) -> None: ...

    def __enter__(self) -> Self: ...

    def __exit__(self, *exc: object) -> None: ...

    # -- registry -------------------------------------------------------------------------

    def register_model(
        self,
        name: str,
        model: Any,
        *,
        train: Dataset | None = None,
        eval: Dataset | None = None,
        sensitive_features: list[str] | None = None,
        owner: str | None = None,
        risk_tier: str | None = None,
        intended_use: str | None = None,
        description: str | None = None,
        tags: dict[str, str] | None = None,
        flavor: str | None = None,
        save_fn: Callable[..., Any] | None = None,
        load_fn: Callable[..., Any] | None = None,
        favorable_label: Any = None,
    ) -> ModelVersion: ...

    def register_agent(
        self,
        name: str,
        *,
        instructions: str = "",
        tools: list[str] | None = None,
        model: str | None = None,
        policies: list[str | Path] | None = None,
        owner: str | None = None,
        risk_tier: str | None = None,
        description: str | None = None,
    ) -> AgentVersion: ...

    def get_agent(self, ref: str) -> AgentVersion: ...

    def list_agents(self) -> list[Model]: ...

    def get_model(self, name: str) -> Model: ...

    def list_models(self) -> list[Model]: ...

    def list_versions(self, name: str) -> list[ModelVersion]: ...

    def update_model(
        self,
        name: str,
        *,
        owner: str | None = None,
        description: str | None = None,
        intended_use: str | None = None,
        tags: dict[str, str | None] | None = None,
    ) -> Model: ...

    def get_model_version(self, ref: str) -> ModelVersion: ...

    def set_alias(
        self,
        name: str,
        alias: str,
        version: int,
        *,
        reason: str | None = None,
        override: bool = False,
    ) -> AliasChange: ...

    def delete_alias(
        self, name: str, alias: str, *, reason: str | None = None, override: bool = False
    ) -> AliasChange: ...

    def alias_history(self, name: str, alias: str | None = None) -> list[AliasChange]: ...

    def load_model(self, ref: str) -> Any: ...

    def get_evidence(self, ref: str, kind: str) -> dict[str, Any]: ...

    # -- policy gates, promotion, rollback --------------------------------------------

    def check(self, ref: str, policy: str | Path | Policy) -> Decision: ...

    def promote(
        self,
        ref: str,
        *,
        alias: str,
        policy: str | Path | Policy | None = None,
        dry_run: bool = False,
        reason: str | None = None,
    ) -> Promotion: ...

    def install_policy(self, policy: str | Path | Policy) -> GatePolicy: ...

    def bind_policy(
        self, policy: str, *, alias: str | None = None, risk_tier: str | None = None
    ) -> Binding: ...

    def unbind_policy(
        self, *, alias: str | None = None, risk_tier: str | None = None
    ) -> Binding: ...

    def gate_policies(self) -> list[GatePolicy]: ...

    def gate_policy(self, name: str, version: int | None = None) -> GatePolicy: ...

    def policy_bindings(self) -> list[Binding]: ...

    def protected_aliases(self) -> list[str]: ...

    def set_risk_tier(self, name: str, tier: str, *, reason: str) -> dict[str, Any]: ...

    def rollback(self, name: str, *, alias: str, reason: str) -> AliasChange: ...

    def decisions(self, ref: str, *, limit: int | None = None) -> list[Decision]: ...

    def policy_context(self, ref: str) -> dict[str, Any]: ...

    # -- approvals and access control -------------------------------------------------

    def approve(self, ref: str, *, comment: str | None = None) -> Approval: ...

    def approvals(self, ref: str) -> list[Approval]: ...

    def approval_status(self, ref: str) -> ApprovalStatus: ...

    def create_user(self, name: str, role: str) -> User: ...

    def list_users(self) -> list[User]: ...

    def set_role(self, name: str, role: str) -> User: ...

    def create_token(
        self,
        user: str,
        *,
        expires_in: str | timedelta | None = None,
        description: str | None = None,
        scope: str | None = None,
    ) -> NewToken: ...

    def revoke_token(self, token_id: int) -> Token: ...

    def list_tokens(self, user: str | None = None) -> list[Token]: ...

    # -- permissions per team and model (docs/access.md) -----------------------------

    def create_team(self, name: str) -> str: ...

    def list_teams(self) -> list[str]: ...

    def assign_team(self, model: str, team: str) -> None: ...

    def grant(
        self, user: str, role: str, *, team: str | None = None, model: str | None = None
    ) -> Grant: ...

    def deny(
        self, user: str, action: str, *, team: str | None = None, model: str | None = None
    ) -> Grant: ...

    def revoke_grant(
        self,
        user: str,
        what: str,
        *,
        deny: bool = False,
        team: str | None = None,
        model: str | None = None,
    ) -> bool: ...

    def list_grants(self, user: str | None = None) -> list[Grant]: ...

    def explain(self, user: str, model: str, action: str) -> AccessDecision: ...

    # -- predictions and monitoring ---------------------------------------------------

    def serving_version(self, name: str, version: int | None = None) -> ModelVersion: ...

    def predict(
        self,
        name: str,
        X: Any,
        *,
        alias: str | None = None,
        version: int | None = None,
        explain: bool = False,
        sensitive: Any = None,
    ) -> dict[str, Any]: ...

    def log_predictions(
        self,
        name: str,
        X: Any,
        y_pred: Any,
        *,
        scores: Any = None,
        ids: Any = None,
        version: int | None = None,
        timestamps: Any = None,
        subjects: Any = None,
        subject_column: str | None = None,
        sensitive: Any = None,
    ) -> list[str]: ...

    def log_labels(self, name: str, ids: Any, y_true: Any) -> dict[str, Any]: ...

    def predictions(self, name: str, **filters: Any) -> Any: ...

    def prediction(self, prediction_id: str) -> dict[str, Any]: ...

    def receipt(self, prediction_id: str) -> dict[str, Any]: ...

    def monitor(
        self,
        name: str,
        *,
        since: Any = None,
        until: Any = None,
        window: str = "1d",
        segment_by: str | None = None,
        version: int | None = None,
        explain: bool = False,
    ) -> MonitorReport: ...

    def monitor_rollup(
        self, name: str, *, source: str = "1d", window: str = "7d", version: int | None = None
    ) -> MonitorReport: ...

    # -- data subjects and masking ----------------------------------------------------

    def erase_subject(
        self, subject: str, *, reason: str | None = None, vacuum: bool = False
    ) -> dict[str, Any]: ...

    def export_subject(self, subject: str) -> dict[str, Any]: ...

    def set_retention(self, name: str, days: int) -> None: ...

    def apply_retention(self) -> dict[str, int]: ...

    def set_masking_policy(self, name: str, policy: str) -> Any: ...

    # -- monitoring policies and alerts -----------------------------------------------

    def evaluate_monitoring(
        self,
        policies: list[str | Path | MonitoringPolicy] | None = None,
        *,
        names: list[str] | None = None,
        refresh: bool = False,
    ) -> Evaluation: ...

    def install_monitoring_policy(
        self, policy: str | Path | MonitoringPolicy
    ) -> MonitoringPolicy: ...

    def monitoring_policies(self) -> list[MonitoringPolicy]: ...

    def alerts(
        self,
        name: str | None = None,
        *,
        status: str | None = None,
        policy: str | None = None,
        limit: int | None = None,
    ) -> list[Alert]: ...

    def alert_deliveries(
        self, alert_id: int | None = None, *, failed: bool | None = None, limit: int | None = None
    ) -> list[Delivery]: ...

    def install_alert_channel(
        self,
        name: str,
        url: str | None = None,
        *,
        format: str = "json",
        secret_env: str | None = None,
    ) -> Channel: ...

    def alert_channels(self) -> list[Channel]: ...

    def remove_alert_channel(self, name: str) -> None: ...

    def block(self, ref: str, *, reason: str) -> ModelVersion: ...

    def unblock(self, ref: str, *, reason: str) -> ModelVersion: ...

    # -- documentation and evidence bundles -------------------------------------------

    def report(
        self,
        kind: str,
        ref: str,
        other: str | None = None,
        *,
        format: str = "md",
        out: str | Path | None = None,
    ) -> str | Path: ...

    def bias_audit(
        self,
        ref: str,
        *,
        since: Any = None,
        until: Any = None,
        sex: str = "sex",
        race: str | None = None,
        scoring: bool | None = None,
        data_source: str | None = None,
    ) -> dict[str, Any]: ...

    def validate(self, ref: str, *, challenger: str | None = None) -> dict[str, Any]: ...

    def bundle(self, ref: str, path: str | Path) -> Path: ...
