"""``Warden``: the one public entry point. CLI, server and notebooks all call through it."""

from __future__ import annotations

import dataclasses
import math
import os
import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

from mlwarden import backends
from mlwarden._json import jsonable
from mlwarden.access import (
    AccessService,
    Approval,
    ApprovalService,
    ApprovalStatus,
    NewToken,
    Recorder,
    Token,
    User,
)
from mlwarden.access.permissions import PermissionService, scope_of
from mlwarden.alerts.notify import Notifier
from mlwarden.alerts.policy import MonitoringPolicy
from mlwarden.alerts.service import AlertService
from mlwarden.audit.sql_log import open_audit_log
from mlwarden.entities import AliasChange, Dataset, Model, ModelVersion, as_frame
from mlwarden.entities.access import AccessDecision, Grant
from mlwarden.entities.agents import AgentVersion
from mlwarden.entities.alerts import Alert, Channel, Delivery, Evaluation
from mlwarden.entities.policy import Binding, Decision, GatePolicy, Promotion
from mlwarden.errors import Conflict, NotFound, ValidationError
from mlwarden.gateway.service import GatewayService
from mlwarden.monitor.fleet import FleetReport
from mlwarden.monitor.oversight import OversightService
from mlwarden.monitor.predictions import PredictionLog
from mlwarden.monitor.report import MonitorReport
from mlwarden.monitor.service import MonitorService
from mlwarden.policy.gates import GateService
from mlwarden.policy.loader import Policy
from mlwarden.policy.service import PolicyService
from mlwarden.privacy.gdpr import SubjectRights
from mlwarden.privacy.service import MaskingService
from mlwarden.registry.agents import AgentRegistry, AgentSpec, policy_texts
from mlwarden.registry.flavors import Trust
from mlwarden.registry.sandbox import Sandbox
from mlwarden.registry.service import RegistryService
from mlwarden.reports.findings import FindingService
from mlwarden.settings import Settings
from mlwarden.store.artifacts import ArtifactStore
from mlwarden.store.sql.access import SqlAccessStore
from mlwarden.store.sql.alerts import SqlAlertStore
from mlwarden.store.sql.audit import key_path
from mlwarden.store.sql.database import Database
from mlwarden.store.sql.findings import SqlFindingStore
from mlwarden.store.sql.gates import SqlGateStore
from mlwarden.store.sql.keycheck import open_master_key
from mlwarden.store.sql.overview import SqlOverviewStore
from mlwarden.store.sql.permissions import SqlPermissionStore
from mlwarden.store.sql.policy import SqlDecisionStore
from mlwarden.store.sql.predictions import SqlMonitorStore, SqlPredictionStore
from mlwarden.store.sql.registry import SqlRegistryStore
from mlwarden.store.sql.reviews import SqlReviewStore
from mlwarden.store.sql.tool_calls import SqlToolCallStore
from mlwarden.store.sql.vault import SubjectVault


class Warden:
    """Govern models on one store.

    ``Warden()`` uses ``MLWARDEN_URI`` or the embedded default ``./mlwarden/`` (a SQLite file
    and an artifact folder); ``Warden("postgresql://…")`` a shared PostgreSQL. A running
    ``mlwarden serve`` is reached with ``mlwarden.connect("http://host:8080", token=…)`` (a
    ``RemoteWarden``: same methods, same exceptions). Both implement
    ``mlwarden.api.WardenAPI``; ``connect`` picks one by the URI's scheme.
    """

    def __init__(
        self,
        uri: str | None = None,
        *,
        artifacts: str | None = None,
        actor: str | None = None,
        settings: Settings | None = None,
    ) -> None:
        base = settings or Settings()
        overrides = {
            k: v
            for k, v in {"uri": uri, "artifacts": artifacts, "actor": actor}.items()
            if v is not None
        }
        self.settings = base.model_copy(update=overrides)
        resolved = self.settings.resolved_uri()
        if backends.backend_for(resolved) is not backends.local:
            raise ValidationError(
                f"Warden opens a store in this process; {resolved!r} is another backend: "
                "use mlwarden.connect(uri) (token=… or MLWARDEN_TOKEN for a server)",
                field="uri",
            )
        if backends.scheme_of(resolved) == backends.PATH:  # a plain path: a SQLite file
            resolved = f"sqlite:///{resolved}"
            self.settings = self.settings.model_copy(update={"uri": resolved})
        self.uri = resolved
        self.db = Database(resolved)
        self.artifacts = ArtifactStore(self.settings.resolved_artifacts())
        # The signing key lives outside the database (see store/sql/audit.py: key_path).
        self.audit = open_audit_log(self.db, self.settings)
        recorder = Recorder(self.audit)
        access_store = SqlAccessStore(self.db)
        self.access = AccessService(access_store, recorder, transaction=self.db.transaction)
        self.access.grants = SqlPermissionStore(self.db)
        self.permissions = PermissionService(
            self.access.grants, self.access, recorder, transaction=self.db.transaction
        )
        self.registry = RegistryService(
            SqlRegistryStore(self.db),
            self.artifacts,
            transaction=self.db.transaction,
            events=recorder,  # registrations and alias moves are audited in their transaction
            trust=Trust.of(self.settings.trusted_loaders, self.settings.trusted_types),
            sandbox=Sandbox(self.settings.sandbox_timeout_s, self.settings.sandbox_memory_mb),
        )
        #: agents are registered models of the ``agent`` flavor (docs/agents.md)
        self.agents = AgentRegistry(self.registry, transaction=self.db.transaction, events=recorder)
        self.approval_service = ApprovalService(
            access_store, self.registry, self.access, recorder, transaction=self.db.transaction
        )
        self.gates = GateService(
            SqlGateStore(self.db),
            self.access,
            recorder,
            transaction=self.db.transaction,
            protected_aliases=self.settings.protected_aliases,
            default_risk_tier=self.settings.default_risk_tier,
        )
        self.policies = PolicyService(
            self.registry,
            SqlDecisionStore(self.db),
            self.approval_service,
            self.access,
            recorder,
            transaction=self.db.transaction,
            gates=self.gates,
        )
        # per-subject payload keys are wrapped by a master key outside the database, checked
        # against the store's key-check value (a replica with another key refuses to start)
        self.vault = SubjectVault(self.db, open_master_key(self.db, self.settings))
        prediction_store = SqlPredictionStore(self.db, self.vault)
        self.masking = MaskingService(
            self.db, key_path(self.settings).with_name("privacy-keys.json"), record=recorder
        )
        tool_calls = SqlToolCallStore(self.db)
        self.subjects = SubjectRights(
            prediction_store,
            self.vault,
            model_id=self.registry.store.model_id,
            record=recorder,
            tool_calls=tool_calls,
        )
        #: agents' tool calls through the MCP gateway (policies are set by whoever runs it)
        self.gateway = GatewayService(
            tool_calls,
            self.audit,
            self.vault,
            masking=self.masking.get,
            transaction=self.db.transaction,
            require=self.access.require,
        )
        # human oversight: a per-model rule flags predictions for reviewers (EU AI Act Art. 14)
        self.oversight = OversightService(
            SqlReviewStore(self.db),
            prediction_store,
            self.registry,
            self.access,
            recorder,
            transaction=self.db.transaction,
        )
        self.prediction_log = PredictionLog(
            prediction_store,
            model_id=self.registry.store.model_id,
            transaction=self.db.transaction,
            record=recorder.event,  # maps "name@version" subjects into the audit tree
            mask=self.masking.mask,  # the server's writer reuses it: one masking path
            signature=lambda name, v: self.registry.get_version(f"{name}@{v}").signature,
            flag=self.oversight.flag_logged,  # the review queue fills as predictions are logged
        )
        self.monitoring = MonitorService(
            prediction_store,
            SqlMonitorStore(self.db),
            self.artifacts,
            model_id=self.registry.store.model_id,
            model_ids=self.registry.store.model_ids,
            evidence=self.registry.get_evidence,
            evidence_of=self.registry.store.evidence_of,
            load_model=self.registry.load_model,
            timezone=self.settings.timezone,
            masking=self.masking.get,
            masking_of=self.masking.get_many,
            pinned=self.db.pinned,
        )
        self.findings = FindingService(
            SqlFindingStore(self.db),
            version_of=self._finding_subject,
            require=self.access.require,
            record=recorder,
            transaction=self.db.transaction,
        )
        self._served: Any = None  # loaded models for ``predict``, made on first use
        #: the dashboard's read model: batched reads across models, versions and windows
        self.overview = SqlOverviewStore(self.db)
        alert_store = SqlAlertStore(self.db)
        self.alerting = AlertService(
            alert_store,
            self.registry,
            self.monitoring,
            self.access,
            recorder,
            Notifier(alert_store, self.settings.alerts),
            rollback=self.policies.rollback,
            transaction=self.db.transaction,
            workers=self.settings.alerts.fleet_workers,
        )
        self.alerting.review_counts = self.oversight.override_rate

    def _finding_subject(self, ref: str) -> tuple[str, int | None]:
        """A finding is about ``NAME`` (model-wide) or ``NAME@V`` (one version)."""
        if "@" not in ref:
            return self.get_model(ref).name, None
        mv = self.get_model_version(ref)
        return mv.name, mv.version

    @property
    def actor(self) -> str:
        return self.settings.resolved_actor()

    def __repr__(self) -> str:
        return f"Warden({self.uri!r})"

    def close(self) -> None:
        self.gateway.close()  # queued tool-call records are written before the store closes
        close_audit = getattr(self.audit.backend, "close", None)
        if close_audit is not None:
            close_audit()
        if self.registry.sandbox is not None:
            self.registry.sandbox.close()
        self.monitoring.forget_profiles()
        self.db.dispose()

    def __enter__(self) -> Warden:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

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
    ) -> ModelVersion:
        """Register a fitted model as the next version of ``name`` (created if new).

        Records the artifact (content-addressed), signature, dataset fingerprints, metrics on
        ``eval`` (or ``train``), code commit, environment and evidence. Model-level fields
        (owner, risk tier, intended use) are taken from the first registration. The risk
        tier is the requested one only for validators and admins (``set_risk_tier``);
        others get ``MLWARDEN_DEFAULT_RISK_TIER`` (``high``).

        ``favorable_label`` is the outcome fairness counts as favourable: for a default or
        recidivism model where 1 is the bad outcome, pass 0. Undeclared, a binary classifier's
        last class is used and the gap report says so.
        """
        self.access.require(self.actor, "model.register", f"model:{name}")
        risk_tier = self.gates.assign_tier(self.actor, risk_tier)
        return self.registry.register(
            name,
            model,
            actor=self.actor,
            train=train,
            eval=eval,
            sensitive_features=sensitive_features,
            owner=owner,
            risk_tier=risk_tier,
            intended_use=intended_use,
            description=description,
            tags=tags,
            flavor=flavor,
            save_fn=save_fn,
            load_fn=load_fn,
            favorable_label=favorable_label,
        )

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
    ) -> AgentVersion:
        """Register an AI agent as the next version of ``name``: its instructions, tool
        allow-list (empty: any tool), the model it runs on, and its ``kind: agent`` policies
        (paths or YAML texts, parsed and checked here). An agent is a registered model of the
        ``agent`` flavor: aliases, ``promote`` through gates, rollback and audit are the
        models' own. ``mlwarden gateway mcp --agent NAME@ALIAS`` runs a gateway with the
        version's allow-list and policies."""
        self.access.require(self.actor, "model.register", f"model:{name}")
        if isinstance(tools, str):
            raise ValidationError("tools is a list of tool names", field="tools")
        spec = AgentSpec(instructions, tuple(tools or ()), model, policy_texts(policies))
        return self.agents.register(
            name,
            spec,
            actor=self.actor,
            owner=owner,
            risk_tier=self.gates.assign_tier(self.actor, risk_tier),
            description=description,
        )

    def get_agent(self, ref: str) -> AgentVersion:
        """``"name@3"``, ``"name@production"`` or ``"name"`` (the latest version)."""
        return self.agents.get(ref)

    def list_agents(self) -> list[Model]:
        return self.agents.all()

    def get_model(self, name: str) -> Model:
        return self.registry.get_model(name)

    def list_models(self) -> list[Model]:
        return self.registry.list_models()

    def list_versions(self, name: str) -> list[ModelVersion]:
        return self.registry.list_versions(name)

    def update_model(
        self,
        name: str,
        *,
        owner: str | None = None,
        description: str | None = None,
        intended_use: str | None = None,
        tags: dict[str, str | None] | None = None,
    ) -> Model:
        """Change a model's owner, description, intended use or tags (merged; ``None``
        removes a tag), audited as ``model.update``. The risk tier changes only through
        ``set_risk_tier`` (a validator or admin, with a reason)."""
        self.access.require(self.actor, "model.update", f"model:{name}")
        return self.registry.update_model(
            name,
            actor=self.actor,
            owner=owner,
            description=description,
            intended_use=intended_use,
            tags=tags,
        )

    def get_model_version(self, ref: str) -> ModelVersion:
        """``"name@3"``, ``"name@production"`` or ``"name"`` (the latest version)."""
        return self.registry.get_version(ref)

    def set_alias(
        self,
        name: str,
        alias: str,
        version: int,
        *,
        reason: str | None = None,
        override: bool = False,
    ) -> AliasChange:
        """Move ``alias`` to ``version`` unconditionally (gated promotion is ``promote``).
        A protected alias moves this way only with ``override=True`` and a reason (admins;
        audited ``alias.override``)."""
        self.access.require(self.actor, "alias.set", f"model:{name}/{alias}")
        if not self._override(name, alias, override, reason, "set", version):
            return self.registry.set_alias(name, alias, version, actor=self.actor, reason=reason)
        with self.db.transaction():
            change = self.registry.set_alias(name, alias, version, actor=self.actor, reason=reason)
            self._record_override(change, reason)
        return change

    def delete_alias(
        self, name: str, alias: str, *, reason: str | None = None, override: bool = False
    ) -> AliasChange:
        self.access.require(self.actor, "alias.delete", f"model:{name}/{alias}")
        if not self._override(name, alias, override, reason, "delete", None):
            return self.registry.delete_alias(name, alias, actor=self.actor)
        with self.db.transaction():
            change = self.registry.delete_alias(name, alias, actor=self.actor)
            self._record_override(change, reason)
        return change

    def _override(
        self,
        name: str,
        alias: str,
        override: bool,
        reason: str | None,
        what: str,
        version: int | None,
    ) -> bool:
        """Whether this direct move is an override of a protected alias (refused unless
        asked for, with a reason, by an admin)."""
        if not self.gates.is_protected(alias):
            return False
        subject = f"model:{name}/{alias}"
        if not override:
            self.access.recorder.denied(
                self.actor,
                f"alias.{what}",
                subject,
                f"{alias!r} is protected",
                version=version,
            )
            raise Conflict(
                f"{alias!r} is a protected alias: it moves through `promote` and its bound "
                "gate policy; an admin may override with override=True and a reason",
                alias=alias,
                model=name,
            )
        if not isinstance(reason, str) or not reason.strip():
            raise ValidationError("overriding a protected alias needs a reason", field="reason")
        self.access.require(self.actor, "alias.override", subject)
        return True

    def _record_override(self, change: AliasChange, reason: str | None) -> None:
        self.access.recorder.record(
            self.actor,
            "alias.override",
            f"model:{change.name}/{change.alias}",
            {**change.to_dict(), "reason": reason},
        )

    def alias_history(self, name: str, alias: str | None = None) -> list[AliasChange]:
        return self.registry.alias_history(name, alias)

    def load_model(self, ref: str) -> Any:
        """Load a version's model after checking its artifact's sha256."""
        return self.registry.load_model(ref)

    def get_evidence(self, ref: str, kind: str) -> dict[str, Any]:
        return self.registry.get_evidence(ref, kind)

    # -- policy gates, promotion, rollback (docs/policies.md) ------------------------------

    def check(self, ref: str, policy: str | Path | Policy) -> Decision:
        """Evaluate a policy (file, shipped name or ``Policy``) on a version; the decision is
        stored and audited with the policy's hash and each rule's inputs."""
        return self.policies.check(ref, policy, actor=self.actor)

    def promote(
        self,
        ref: str,
        *,
        alias: str,
        policy: str | Path | Policy | None = None,
        dry_run: bool = False,
        reason: str | None = None,
    ) -> Promotion:
        """Move ``alias`` to ``ref`` (compare-and-set) if the gate passes and the approvals
        meet the risk tier; else ``PolicyViolation`` (audited). ``dry_run`` only evaluates.
        A protected alias (``production``) evaluates the gate policy an admin bound to it:
        leave ``policy`` out there; any other policy can only dry-run."""
        return self.policies.promote(
            ref, alias=alias, policy=policy, actor=self.actor, dry_run=dry_run, reason=reason
        )

    def install_policy(self, policy: str | Path | Policy) -> GatePolicy:
        """Store a gate policy (file, shipped name, YAML text) as its name's next version
        (admins; audited with its sha256). ``bind_policy`` puts it in front of an alias."""
        return self.gates.install(policy, actor=self.actor)

    def bind_policy(
        self, policy: str, *, alias: str | None = None, risk_tier: str | None = None
    ) -> Binding:
        """Bind an installed gate policy to a protected alias or a risk tier (admins)."""
        return self.gates.bind(policy, alias=alias, risk_tier=risk_tier, actor=self.actor)

    def unbind_policy(self, *, alias: str | None = None, risk_tier: str | None = None) -> Binding:
        return self.gates.unbind(alias=alias, risk_tier=risk_tier, actor=self.actor)

    def gate_policies(self) -> list[GatePolicy]:
        """Installed gate policies (newest version of each)."""
        return self.gates.policies()

    def gate_policy(self, name: str, version: int | None = None) -> GatePolicy:
        return self.gates.policy(name, version)

    def policy_bindings(self) -> list[Binding]:
        return self.gates.bindings()

    def protected_aliases(self) -> list[str]:
        return list(self.gates.protected_aliases)

    def set_risk_tier(self, name: str, tier: str, *, reason: str) -> dict[str, Any]:
        """Change a model's risk tier (validators and admins; audited ``model.risk_tier``)."""
        return self.gates.set_risk_tier(name, tier, reason=reason, actor=self.actor)

    def rollback(self, name: str, *, alias: str, reason: str) -> AliasChange:
        """Return ``alias`` to the version it was promoted from (by its history)."""
        return self.policies.rollback(name, alias=alias, reason=reason, actor=self.actor)

    def decisions(self, ref: str, *, limit: int | None = None) -> list[Decision]:
        """Stored policy decisions for a version (``name@3``) or a model, newest first."""
        return self.policies.decisions(ref, limit=limit)

    def policy_context(self, ref: str) -> dict[str, Any]:
        """The evaluation context policy rules see for a version."""
        return self.policies.context(ref)

    # -- approvals and access control (docs/access.md) -------------------------------------

    def approve(self, ref: str, *, comment: str | None = None) -> Approval:
        """Approve a version as the current actor (a validator or admin who did not register
        it); refusals raise ``PermissionDenied`` and are audited."""
        return self.approval_service.approve(ref, actor=self.actor, comment=comment)

    def approvals(self, ref: str) -> list[Approval]:
        return self.approval_service.approvals(ref)

    def approval_status(self, ref: str) -> ApprovalStatus:
        """Approvals the version's risk tier requires, has, and is missing."""
        return self.approval_service.status(ref)

    def create_user(self, name: str, role: str) -> User:
        return self.access.create_user(name, role, actor=self.actor)

    def list_users(self) -> list[User]:
        return self.access.list_users()

    def set_role(self, name: str, role: str) -> User:
        """Change a user's role (admins; audited); ``none`` takes every permission away."""
        return self.access.set_role(name, role, actor=self.actor)

    def create_token(
        self,
        user: str,
        *,
        expires_in: str | timedelta | None = None,
        description: str | None = None,
        scope: str | None = None,
    ) -> NewToken:
        """A new API token for ``user``; ``.token`` holds the secret, shown this once.
        ``scope`` (``model:NAME:ACTION,…;…``) makes it a service token limited to those."""
        return self.access.create_token(
            user, actor=self.actor, expires_in=expires_in, description=description, scope=scope
        )

    def revoke_token(self, token_id: int) -> Token:
        return self.access.revoke_token(token_id, actor=self.actor)

    def list_tokens(self, user: str | None = None) -> list[Token]:
        return self.access.list_tokens(user)

    # -- permissions per team and model (access/permissions.py) -----------------------

    def create_team(self, name: str) -> str:
        return self.permissions.create_team(name, actor=self.actor)

    def list_teams(self) -> list[str]:
        return self.permissions.store.list_teams()

    def assign_team(self, model: str, team: str) -> None:
        """Make ``team`` the owner of ``model``."""
        self.permissions.assign(model, team, actor=self.actor)

    def grant(
        self, user: str, role: str, *, team: str | None = None, model: str | None = None
    ) -> Grant:
        """Grant ``user`` a role on a team's models or on one model."""
        return self.permissions.grant(user, role, actor=self.actor, team=team, model=model)

    def deny(
        self, user: str, action: str, *, team: str | None = None, model: str | None = None
    ) -> Grant:
        """Deny ``user`` an action (or ``*``) there; a deny wins over every role."""
        return self.permissions.deny(user, action, actor=self.actor, team=team, model=model)

    def revoke_grant(
        self,
        user: str,
        what: str,
        *,
        deny: bool = False,
        team: str | None = None,
        model: str | None = None,
    ) -> bool:
        """Remove the role ``what`` granted (or with ``deny`` the action denied) there."""
        scope, target = scope_of(team, model)
        grant = Grant(user, scope, target, "deny" if deny else "allow", what)
        return self.permissions.revoke(grant, actor=self.actor)

    def list_grants(self, user: str | None = None) -> list[Grant]:
        return self.permissions.list_grants(user)

    def explain(self, user: str, model: str, action: str) -> AccessDecision:
        """The effective permission of ``user`` for ``action`` on ``model``, and why."""
        return self.permissions.explain(user, model, action)

    # -- predictions and monitoring ---------------------------------------------------------

    def serving_version(self, name: str, version: int | None = None) -> ModelVersion:
        """The version behind ``production`` (else the latest), or an explicit one."""
        if version is not None:
            return self.registry.get_version(f"{name}@{version}")
        try:
            return self.registry.get_version(f"{name}@production")
        except NotFound:
            return self.registry.get_version(name)

    def predict(
        self,
        name: str,
        X: Any,
        *,
        alias: str | None = None,
        version: int | None = None,
        explain: bool = False,
        sensitive: Any = None,
    ) -> dict[str, Any]:
        """Governed predictions in this process, as ``mlwarden serve`` makes them: the version
        behind ``alias`` (default ``production``) or ``version``, every row validated against
        its signature, outputs, scores and (``explain``, tree models) reason codes, logged
        with their ids. ``sensitive``: protected attributes per row, logged for fairness,
        never given to the model."""
        # the serving code is pure (entities, numpy, pandas): one validation and prediction
        # path for the server and this process
        from mlwarden.serving.core import ModelCache, validate_records

        started = time.perf_counter()
        self.access.require(self.actor, "read", f"model:{name}")
        if alias is not None and version is not None:
            raise ValidationError("give an alias or a version, not both", field="alias")
        mv = self.registry.get_version(
            f"{name}@{version}" if version is not None else f"{name}@{alias or 'production'}"
        )
        frame = as_frame(X, "X")
        # the rows as the server receives them (JSON values), so both validate alike
        records = jsonable(frame.astype(object).where(frame.notna(), None).to_dict("records"))
        if not records:
            raise ValidationError("no rows to predict", field="X")
        if self._served is None:
            self._served = ModelCache(lambda v: self.registry.load_model(v.ref), size=4)
        served = self._served.get(mv)
        validate_records(served.spec, records)
        pred = served.predict(records)
        explained = None
        if explain:  # the version's sensitive features are never cited (the server's default)
            explained = served.explain(records)
            pred.reasons = explained.codes
        ids = self.prediction_log.log(
            mv,
            frame,
            pred.outputs,
            actor=self.actor,
            scores=None
            if pred.scores is None
            else [math.nan if v is None else v for v in pred.scores],
            reasons=pred.reasons,
            latency_ms=[(time.perf_counter() - started) * 1000.0] * len(records),
            sensitive=sensitive,
        )
        return {
            "model": mv.name,
            "version": mv.version,
            "alias": None if version is not None else (alias or "production"),
            "ids": ids,
            "outputs": pred.outputs,
            "scores": pred.scores,
            "reasons": pred.reasons,
            **(
                {
                    "reason_unit": explained.unit,
                    "excluded_features": explained.excluded_features,
                    "excluded_contribution": explained.excluded_contribution,
                }
                if explained is not None
                else {}
            ),
            "logged": True,
        }

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
    ) -> list[str]:
        """Log a batch of predictions (e.g. from a scoring job); returns their ids.

        ``subjects`` (or ``subject_column``, a column of X removed from the logged inputs)
        names the data subject of each row: stored pseudonymized, its payload sealed with the
        subject's key so ``erase_subject`` can shred it. ``sensitive`` (one row per row of X)
        carries protected attributes declared at registration that are not model inputs: logged
        beside the inputs (and masked like them) for per-window fairness."""
        mv = self.serving_version(name, version)
        return self.prediction_log.log(
            mv,
            X,
            y_pred,
            actor=self.actor,
            scores=scores,
            ids=ids,
            timestamps=timestamps,
            subjects=subjects,
            subject_column=subject_column,
            sensitive=sensitive,
        )

    def log_labels(self, name: str, ids: Any, y_true: Any) -> dict[str, Any]:
        """Attach ground truth to logged predictions; unknown ids are reported back."""
        return self.prediction_log.log_labels(name, list(ids), y_true, actor=self.actor)

    def predictions(self, name: str, **filters: Any) -> Any:
        """Logged predictions as a DataFrame (inputs as masked at logging, labels joined)."""
        return self.prediction_log.store.read(self.registry.store.model_id(name), **filters)

    def prediction(self, prediction_id: str) -> dict[str, Any]:
        """One logged prediction: its model and version, time, inputs (as masked at logging),
        output, score, reason codes, label, and the inclusion proof of the ``predictions.log``
        audit event of its batch (see ``mlwarden.monitor.lookup``). ``NotFound`` if unknown."""
        return self.prediction_log.get(prediction_id, self.audit)

    def receipt(self, prediction_id: str) -> dict[str, Any]:
        """The signed decision receipt of one prediction (GDPR Art. 15(1)(h)/22): masked
        inputs, version and approvals, reason codes and a counterfactual without protected
        attributes, and the audit inclusion proof. ``mw.reports.verify_receipt`` checks it
        offline; ``mw.reports.render_receipt`` renders it as md, html or pdf."""
        from mlwarden.reports.receipt import receipt

        self.access.require(self.actor, "read", f"model:{self.prediction(prediction_id)['model']}")
        return receipt(self, prediction_id)

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
    ) -> MonitorReport:
        """Drift, data quality, performance (realized and estimated) and fairness per window
        of the prediction log, against the version's reference profile; with ``explain``,
        attribution drift too (tree models)."""
        mv, note = self.monitored_version(name, version, since=since, until=until)
        report = self.monitoring.run(
            mv, since=since, until=until, window=window, segment_by=segment_by, explain=explain
        )
        import dataclasses

        return dataclasses.replace(report, note=note) if note else report

    def monitored_version(
        self, name: str, version: int | None = None, *, since: Any = None, until: Any = None
    ) -> tuple[ModelVersion, str]:
        """The version ``monitor`` reads and a note saying why, when that needs saying: the
        serving version (or ``version``); when the serving version logged nothing in the range
        but others did (after a rollback, say), the newest version with traffic instead."""
        mv = self.serving_version(name, version)
        traffic = self.monitoring.traffic(name, since=since, until=until)
        if traffic.get(mv.version) or not traffic:
            return mv, ""
        seen = ", ".join(f"{name}@{v}: {n:,} predictions" for v, n in traffic.items())
        if version is not None:
            return mv, f"{mv.ref} has no logged predictions in that range ({seen})"
        chosen = self.registry.get_version(f"{name}@{max(traffic)}")
        return chosen, (
            f"{mv.ref}, the serving version, has no logged predictions in that range; "
            f"monitoring {chosen.ref}, the newest version with traffic ({seen}); "
            "pass a version to choose another"
        )

    def monitor_fleet(
        self,
        names: list[str] | None = None,
        *,
        window: str = "1d",
        since: Any = None,
        until: Any = None,
        executor: str = "thread",
        workers: int | None = None,
    ) -> FleetReport:
        """Monitor every model (or ``names``) at once: for each serving version, the windows
        not final yet are read, profiled, compared and scored once and stored; final ones
        are kept (docs/monitoring.md, "Fleets"). ``executor``: ``serial``, ``thread`` (one
        store, ``workers`` threads), ``process`` or ``dask`` (a ``LocalCluster`` of
        ``workers`` processes, each opening this store)."""
        from mlwarden.fleet import EXECUTORS, run_distributed
        from mlwarden.monitor.service import as_time
        from mlwarden.monitor.windows import parse_window

        if executor not in EXECUTORS:
            raise ValidationError(
                f"executor must be one of {', '.join(EXECUTORS)}, got {executor!r}",
                field="executor",
            )
        if workers is not None and not 1 <= workers <= 256:
            raise ValidationError("workers must be between 1 and 256", field="workers")
        parse_window(window)
        since, until = as_time(since, "since"), as_time(until, "until")
        n = workers or min(8, os.cpu_count() or 1)
        started = time.perf_counter()
        # every serving version in three reads (models without versions have nothing to do)
        versions = self.registry.serving_versions(names)
        if executor in ("serial", "thread"):
            if executor == "serial" or n == 1:
                return self.monitoring.evaluate_fleet(
                    versions, window=window, since=since, until=until
                )
            from concurrent.futures import ThreadPoolExecutor

            with ThreadPoolExecutor(n, thread_name_prefix="mlwarden-fleet") as pool:
                report = self.monitoring.evaluate_fleet(
                    versions, window=window, since=since, until=until, map=pool.map
                )
            return dataclasses.replace(report, executor="thread", workers=n)
        if self.uri.startswith(("http://", "https://")):
            raise ValidationError("process and dask fleets need a database URI", field="uri")
        outcomes = run_distributed(
            executor,
            n,
            self.uri,
            str(self.settings.resolved_artifacts()),
            [mv.ref for mv in versions],
            window,
            since,
            until,
        )
        return FleetReport(window, tuple(outcomes), time.perf_counter() - started, executor, n)

    def monitor_rollup(
        self, name: str, *, source: str = "1d", window: str = "7d", version: int | None = None
    ) -> MonitorReport:
        """Drift over ``window`` by merging stored ``source`` windows (no raw rows re-read)."""
        return self.monitoring.rollup(
            self.serving_version(name, version), source=source, window=window
        )

    # -- data subjects ------------------------------------------------------------------------

    def erase_subject(
        self, subject: str, *, reason: str | None = None, vacuum: bool = False
    ) -> dict[str, Any]:
        """GDPR erasure: destroy the subject's key so its logged payloads become unreadable;
        the audit log still verifies. ``vacuum``: on PostgreSQL, VACUUM the affected tables
        now (SQLite's write-ahead log is always checkpointed and truncated)."""
        self.access.require(self.actor, "subject.erase", f"subject:{self.vault.pseudonym(subject)}")
        return self.subjects.erase(subject, actor=self.actor, reason=reason, vacuum=vacuum)

    def export_subject(self, subject: str) -> dict[str, Any]:
        """GDPR access request: every logged prediction about the subject."""
        self.access.require(
            self.actor, "subject.export", f"subject:{self.vault.pseudonym(subject)}"
        )
        return self.subjects.export(subject, actor=self.actor)

    def set_retention(self, name: str, days: int) -> None:
        """Delete this model's logged predictions after ``days`` (see ``apply_retention``)."""
        self.access.require(self.actor, "config.set", f"model:{name}")
        self.subjects.set_retention(name, days, actor=self.actor)

    def apply_retention(self) -> dict[str, int]:
        """Purge predictions older than each model's retention; audited per model."""
        # deletes from every model's log: the role set_retention needs, on all models
        self.access.require(self.actor, "config.set", "model:*")
        return self.subjects.apply_retention(actor=self.actor)

    def set_masking_policy(self, name: str, policy: str) -> Any:
        """Mask this model's logged inputs with ``policy`` (YAML text or a file path):
        redact, pseudonymize (keyed HMAC), generalize, drop or keep, per column or entity."""
        self.registry.get_model(name)
        self.access.require(self.actor, "config.set", f"model:{name}")
        from mlwarden.monitor.masked import check_policy

        def monitorable(parsed: Any) -> None:  # monitoring maps each reference as the log is
            for mv in self.registry.list_versions(name):
                check_policy(parsed, dict(mv.signature), mv.ref)

        return self.masking.set(name, policy, actor=self.actor, check=monitorable)

    # -- monitoring policies and alerts (docs/alerts.md) -----------------------------------

    def evaluate_monitoring(
        self,
        policies: list[str | Path | MonitoringPolicy] | None = None,
        *,
        names: list[str] | None = None,
        refresh: bool = False,
    ) -> Evaluation:
        """Run monitoring policies (files, or the installed ones) over the newest stored
        windows of every model they apply to: fire, resolve, roll back, block, notify.
        Validators and admins only: evaluating can roll back and block versions."""
        self.access.require(self.actor, "checks.run", "monitoring")
        return self.alerting.evaluate(
            None if policies is None else [str(p) if isinstance(p, Path) else p for p in policies],
            actor=self.actor,
            names=names,
            refresh=refresh,
        )

    def install_monitoring_policy(self, policy: str | Path | MonitoringPolicy) -> MonitoringPolicy:
        """Store a monitoring policy so ``mlwarden serve`` and ``monitor run`` evaluate it."""
        return self.alerting.install(
            str(policy) if isinstance(policy, Path) else policy, actor=self.actor
        )

    def monitoring_policies(self) -> list[MonitoringPolicy]:
        return self.alerting.installed()

    def alerts(
        self,
        name: str | None = None,
        *,
        status: str | None = None,
        policy: str | None = None,
        limit: int | None = None,
    ) -> list[Alert]:
        """Alerts, newest first: all, or one model's; ``status`` is firing or resolved."""
        return self.alerting.alerts(name, status=status, policy=policy, limit=limit)

    def alert_deliveries(
        self, alert_id: int | None = None, *, failed: bool | None = None, limit: int | None = None
    ) -> list[Delivery]:
        """Every attempt to send an alert (channel, HTTP status, error), newest first."""
        return self.alerting.store.deliveries(alert_id=alert_id, failed=failed, limit=limit)

    def install_alert_channel(
        self,
        name: str,
        url: str | None = None,
        *,
        format: str = "json",
        secret_env: str | None = None,
    ) -> Channel:
        """Install (or replace) a named alert channel; policies name it. Admins only. The URL
        must be public unless its host is in ``MLWARDEN_ALERTS_ALLOWED_HOSTS``; ``secret_env``
        names a variable ``MLWARDEN_WEBHOOK_SECRET…`` (or one listed in
        ``MLWARDEN_ALERTS_SECRET_ENVS``)."""
        return self.alerting.channels.install(
            name, url, format=format, secret_env=secret_env, actor=self.actor
        )

    def alert_channels(self) -> list[Channel]:
        """Installed alert channels (admins only: a URL can be a credential)."""
        return self.alerting.channels.list(actor=self.actor)

    def remove_alert_channel(self, name: str) -> None:
        self.alerting.channels.remove(name, actor=self.actor)

    def block(self, ref: str, *, reason: str) -> ModelVersion:
        """Mark a version blocked: promotions to it are refused until ``unblock``."""
        return self.alerting.block(ref, reason=reason, actor=self.actor)

    def unblock(self, ref: str, *, reason: str) -> ModelVersion:
        return self.alerting.unblock(ref, reason=reason, actor=self.actor)

    # -- documentation and evidence bundles (docs/compliance.md) ----------------------------

    def report(
        self,
        kind: str,
        ref: str,
        other: str | None = None,
        *,
        format: str = "md",
        out: str | Path | None = None,
    ) -> str | Path:
        """Document ``kind`` (card, annex-iv, gaps, instructions, monitoring-plan; ``diff``
        from ``ref`` to ``other``) as Markdown, or ``format="html"|"pdf"``, ``out=FILE``."""
        from mlwarden import reports

        return reports.report(self, kind, ref, other, format=format, out=out)

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
    ) -> dict[str, Any]:
        """Run (and record as ``ll144`` evidence) the NYC LL144 bias audit of ``NAME`` (every
        version) or ``NAME@V`` over the logged decisions in ``[since, until)``; render it with
        ``mlwarden.reports.ll144.ll144_markdown`` / ``ll144_csv``."""
        from mlwarden.reports.ll144 import bias_audit

        return bias_audit(self, ref, since=since, until=until, sex=sex, race=race,
                          scoring=scoring, data_source=data_source)  # fmt: skip

    def validate(self, ref: str, *, challenger: str | None = None) -> dict[str, Any]:
        """Measure ``NAME@V`` for its validation report (recorded as ``validation`` evidence);
        ``report("validation", ref)`` renders it."""
        from mlwarden.reports.validation import validate

        return validate(self, ref, challenger=challenger)

    def bundle(self, ref: str, path: str | Path) -> Path:
        """Write ``ref``'s signed evidence bundle (zip); ``mw.reports.verify_bundle`` checks it."""
        from mlwarden import reports

        return reports.write_bundle(self, ref, path)
