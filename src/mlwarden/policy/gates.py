"""Gates that live on the server: installed policies, bindings, protected aliases, risk tiers.

An admin installs named gate policies (each version stored with its text and sha256, audited
``policy.install``) and binds them to protected aliases (``MLWARDEN_PROTECTED_ALIASES``,
``production`` by default) and to risk tiers (``policy.bind``). A promotion to a protected
alias evaluates the bound policies from the store, never a policy the caller sent: a
caller's policy can only dry-run there. A model's risk tier is chosen by a validator or an
admin (``model.risk_tier``, audited); a developer's registration gets the default tier.
See docs/policies.md, "Gates on the server".
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import datetime
from pathlib import Path
from typing import Any

from mlwarden._time import utcnow
from mlwarden.access import Recorder
from mlwarden.access.roles import allowed
from mlwarden.access.users import AccessService
from mlwarden.entities import RISK_TIERS
from mlwarden.entities.policy import Binding, GatePolicy
from mlwarden.errors import NotFound, PolicyViolation, ValidationError
from mlwarden.policy.loader import Policy, load, loads
from mlwarden.registry.refs import check_alias, check_name
from mlwarden.store.gate_store import GateStore

DEFAULT_PROTECTED = ("production",)


def parse_aliases(value: str | Iterable[str] | None) -> tuple[str, ...]:
    """``"production,champion"`` (the setting's form) or a list: checked alias names."""
    if value is None:
        return DEFAULT_PROTECTED
    items = value.split(",") if isinstance(value, str) else list(value)
    return tuple(check_alias(a.strip()) for a in items if a.strip())


def check_tier(tier: str, field: str = "risk_tier") -> str:
    if tier not in RISK_TIERS:
        raise ValidationError(
            f"{field} must be one of {list(RISK_TIERS)}, got {tier!r}", field=field
        )
    return tier


class GateService:
    def __init__(
        self,
        store: GateStore,
        access: AccessService,
        recorder: Recorder,
        *,
        transaction: Callable[[], Any],
        protected_aliases: str | Iterable[str] | None = None,
        default_risk_tier: str = "high",
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.store = store
        self.access = access
        self.recorder = recorder
        self._transaction = transaction
        self.protected_aliases = parse_aliases(protected_aliases)
        self.default_risk_tier = check_tier(default_risk_tier, "default_risk_tier")
        self._clock = clock

    def is_protected(self, alias: str) -> bool:
        return alias in self.protected_aliases

    # -- installed policies ----------------------------------------------------------------

    def install(self, policy: str | Path | Policy, *, actor: str) -> GatePolicy:
        """Store a gate policy (a file, a shipped policy's name, YAML text or a ``Policy``)
        as the next version of its name; audited ``policy.install`` with its sha256."""
        self.access.require(actor, "policy.install", "policy:*")
        if isinstance(policy, str) and "\n" in policy:
            pol = loads(policy, "<install>")
        else:
            pol = load(policy)
        name = check_name(pol.name)
        with self._transaction():
            stored, created = self.store.install(name, pol.source, pol.sha256, actor, self._clock())
            if created:
                self.recorder.record(
                    actor,
                    "policy.install",
                    f"policy:{name}",
                    {"name": name, "version": stored.version, "sha256": stored.sha256},
                )
        return stored

    def policies(self) -> list[GatePolicy]:
        return self.store.newest()

    def policy(self, name: str, version: int | None = None) -> GatePolicy:
        found = self.store.get(name, version)
        if found is None:
            which = name if version is None else f"{name} version {version}"
            raise NotFound(f"no installed gate policy {which}", policy=name)
        return found

    # -- bindings --------------------------------------------------------------------------

    def _target(self, alias: str | None, risk_tier: str | None) -> str:
        if (alias is None) == (risk_tier is None):
            raise ValidationError("name exactly one of alias and risk_tier", field="alias")
        if alias is not None:
            if not self.is_protected(check_alias(alias)):
                raise ValidationError(
                    f"alias {alias!r} is not protected (protected: "
                    f"{', '.join(self.protected_aliases)}; set MLWARDEN_PROTECTED_ALIASES)",
                    field="alias",
                )
            return f"alias:{alias}"
        return f"risk_tier:{check_tier(risk_tier)}"  # type: ignore[arg-type]

    def bind(
        self,
        policy: str,
        *,
        alias: str | None = None,
        risk_tier: str | None = None,
        actor: str,
    ) -> Binding:
        """Bind an installed policy to a protected alias or a risk tier (audited)."""
        target = self._target(alias, risk_tier)
        self.access.require(actor, "policy.bind", f"policy:{policy}")
        stored = self.policy(policy)
        with self._transaction():
            binding = self.store.bind(target, stored.name, actor, self._clock())
            self.recorder.record(
                actor,
                "policy.bind",
                f"policy:{stored.name}",
                {"target": target, "policy": stored.name, "version": stored.version},
            )
        return binding

    def unbind(
        self, *, alias: str | None = None, risk_tier: str | None = None, actor: str
    ) -> Binding:
        target = self._target(alias, risk_tier)
        self.access.require(actor, "policy.bind", target)
        with self._transaction():
            binding = self.store.unbind(target)
            self.recorder.record(
                actor,
                "policy.unbind",
                f"policy:{binding.policy}",
                {"target": target, "policy": binding.policy},
            )
        return binding

    def bindings(self) -> list[Binding]:
        return self.store.bindings()

    def gates_for(self, name: str, alias: str, risk_tier: str) -> list[tuple[Policy, GatePolicy]]:
        """The stored policies a promotion of model ``name`` to protected ``alias`` must pass:
        the alias's binding, then the risk tier's (when it names another policy). No binding
        on the alias refuses the promotion: an unbound protected alias has no gate."""
        bound = self.store.binding(f"alias:{alias}")
        if bound is None:
            raise PolicyViolation(
                f"no gate policy is bound to protected alias {alias!r}: an admin installs "
                f"and binds one (`mlwarden policy install FILE` then "
                f"`mlwarden policy bind NAME --alias {alias}`)",
                alias=alias,
                model=name,
            )
        names = [bound.policy]
        tier = self.store.binding(f"risk_tier:{risk_tier}")
        if tier is not None and tier.policy not in names:
            names.append(tier.policy)
        out = []
        for policy_name in names:
            stored = self.policy(policy_name)
            out.append(
                (loads(stored.source, f"<installed {policy_name} v{stored.version}>"), stored)
            )
        return out

    # -- risk tiers --------------------------------------------------------------------------

    def may_set_tier(self, actor: str) -> bool:
        if self.access.single_user():
            return True
        user = self.access.store.get_user(actor)
        return user is not None and not user.disabled and allowed(user.role, "model.risk_tier")

    def assign_tier(self, actor: str, requested: str | None) -> str:
        """The tier a new model gets: the requested one from a validator or admin (or in
        single-user mode), else the server's default tier, whatever a developer asked for."""
        if requested is not None:
            check_tier(requested)
            if self.may_set_tier(actor):
                return requested
        return self.default_risk_tier

    def set_risk_tier(self, name: str, tier: str, *, reason: str, actor: str) -> dict[str, Any]:
        """Change a model's risk tier (validators and admins; audited ``model.risk_tier``)."""
        check_name(name)
        check_tier(tier)
        if not isinstance(reason, str) or not reason.strip():
            raise ValidationError("changing a risk tier needs a reason", field="reason")
        self.access.require(actor, "model.risk_tier", f"model:{name}")
        with self._transaction():
            old = self.store.set_risk_tier(name, tier)
            change = {"model": name, "from": old, "to": tier, "reason": reason}
            self.recorder.record(actor, "model.risk_tier", f"model:{name}", change)
        return change
