"""Permissions per team and model, on top of the global roles.

Teams own models. A user may hold, besides their global role, a role on a team (all the
models it owns) or on one model, and may be denied an action (or ``*``) there. For an action
on a model: an explicit deny wins over everything, the global role included; otherwise the
global role or any role granted on the model or its team allows it. ``explain`` says which
rule decided, for ``mlwarden access explain USER MODEL ACTION``. Every change is audited.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from mlwarden.access.decisions import Decision, decide
from mlwarden.access.recorder import Recorder
from mlwarden.access.roles import allowed, check_role
from mlwarden.entities.access import Grant
from mlwarden.errors import ValidationError

if TYPE_CHECKING:
    from mlwarden.access.users import AccessService
    from mlwarden.store.permission_store import PermissionStore

SCOPES = ("team", "model")


class PermissionService:
    """Teams, model ownership and grants (admins only), and ``explain``."""

    def __init__(
        self,
        store: PermissionStore,
        access: AccessService,
        recorder: Recorder,
        *,
        transaction: Callable[[], Any],
    ) -> None:
        self.store = store
        self.access = access
        self.recorder = recorder
        self._transaction = transaction

    def create_team(self, name: str, *, actor: str) -> str:
        if not name or len(name) > 256 or ":" in name:
            raise ValidationError(f"invalid team name {name!r}", field="name")
        self.access.require(actor, "team.manage", f"team:{name}")
        with self._transaction():
            self.store.create_team(name, actor)
            self.recorder.record(actor, "team.create", f"team:{name}", {})
        return name

    def assign(self, model: str, team: str, *, actor: str) -> None:
        """Make ``team`` the owner of ``model``."""
        self.access.require(actor, "team.manage", f"model:{model}")
        with self._transaction():
            self.store.set_model_team(model, team)
            self.recorder.record(actor, "model.team", f"model:{model}", {"team": team})
        self.access.forget_grants()

    def grant(self, user: str, role: str, *, actor: str, team: str | None = None,
              model: str | None = None) -> Grant:  # fmt: skip
        check_role(role)
        return self._add(Grant(user, *scope_of(team, model), "allow", role, created_by=actor))

    def deny(self, user: str, action: str, *, actor: str, team: str | None = None,
             model: str | None = None) -> Grant:  # fmt: skip
        if action != "*":
            allowed("viewer", action)  # unknown actions are refused
        return self._add(Grant(user, *scope_of(team, model), "deny", action, created_by=actor))

    def revoke(self, grant: Grant, *, actor: str) -> bool:
        self.access.require(actor, "grant.manage", grant.where)
        with self._transaction():
            removed = self.store.remove_grant(grant)
            if removed:
                self.recorder.record(actor, "grant.remove", grant.where, _payload(grant))
        self.access.forget_grants()
        return removed

    def _add(self, grant: Grant) -> Grant:
        actor = grant.created_by or ""
        self.access.get_user(grant.user)
        self.access.require(actor, "grant.manage", grant.where)
        with self._transaction():
            stored = self.store.add_grant(grant)
            self.recorder.record(actor, "grant.add", grant.where, _payload(grant))
        self.access.forget_grants()
        return stored

    def list_grants(self, user: str | None = None) -> list[Grant]:
        return self.store.list_grants(user)

    def explain(self, user: str, model: str, action: str) -> Decision:
        """The effective permission of ``user`` for ``action`` on ``model``, and why."""
        if self.access.single_user():
            return Decision(True, "single-user", "no users exist: single-user mode", "global")
        found = self.access.get_user(user)
        return decide(found, action, self.store.grants_on(user, model), model)


def scope_of(team: str | None, model: str | None) -> tuple[str, str]:
    if (team is None) == (model is None):
        raise ValidationError("name exactly one of team or model", field="scope")
    return ("team", team) if team is not None else ("model", model)  # type: ignore[return-value]


def _payload(grant: Grant) -> dict[str, Any]:
    return {"user": grant.user, "effect": grant.effect, "what": grant.what}
