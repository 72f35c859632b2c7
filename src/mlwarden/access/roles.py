"""Roles and the permission table: which role may perform which action.

One table, read by the embedded client and (later) by the server, so a rule is written once.
Actions are the audit actions they produce, so a denial and a success read alike in the log.
"""

from __future__ import annotations

from mlwarden.entities.access import User
from mlwarden.errors import PermissionDenied, ValidationError

VIEWER, DEVELOPER, VALIDATOR, ADMIN = "viewer", "developer", "validator", "admin"
#: A known user with no permission at all: where a first OIDC sign-in lands unless the
#: provider's groups map to a role (default deny), and how an admin suspends a role.
NO_ROLE = "none"
ROLES = (VIEWER, DEVELOPER, VALIDATOR, ADMIN, NO_ROLE)
#: Ordered by reach, for picking the highest role a user's groups map to.
RANK = {NO_ROLE: 0, VIEWER: 1, DEVELOPER: 2, VALIDATOR: 2, ADMIN: 3}

_ALL = frozenset({VIEWER, DEVELOPER, VALIDATOR, ADMIN})

#: action -> roles allowed to perform it. Separation of duties (a registrant never approves
#: their own version) is checked on top of this, by identity, in ``approvals.py``.
PERMISSIONS: dict[str, frozenset[str]] = {
    "read": _ALL,
    # a prediction through the server (a service token's scope may allow it without "read")
    "predict": _ALL,
    "audit.read": _ALL,
    "model.register": frozenset({DEVELOPER, ADMIN}),
    # owner, description, intended use, tags; the risk tier is governed apart
    "model.update": frozenset({DEVELOPER, VALIDATOR, ADMIN}),
    # an unconditional alias move bypasses the gates; gated promotion is separate
    "alias.set": frozenset({ADMIN}),
    "alias.delete": frozenset({ADMIN}),
    "model.promote": frozenset({DEVELOPER, VALIDATOR, ADMIN}),
    "model.rollback": frozenset({DEVELOPER, VALIDATOR, ADMIN}),
    "checks.run": frozenset({VALIDATOR, ADMIN}),
    "version.approve": frozenset({VALIDATOR, ADMIN}),
    # the model-validation findings register (reports/findings.py)
    "finding.write": frozenset({VALIDATOR, ADMIN}),
    # approving or denying an agent's tool call held by a policy (mlwarden.gateway)
    "tool.approve": frozenset({VALIDATOR, ADMIN}),
    "config.set": frozenset({ADMIN}),
    # server-side gates (policy/gates.py): installing and binding them, overriding them
    "policy.install": frozenset({ADMIN}),
    "policy.bind": frozenset({ADMIN}),
    "alias.override": frozenset({ADMIN}),
    "model.risk_tier": frozenset({VALIDATOR, ADMIN}),
    "user.create": frozenset({ADMIN}),
    # teams, the models they own, roles granted and actions denied on them (permissions.py)
    "team.manage": frozenset({ADMIN}),
    "grant.manage": frozenset({ADMIN}),
    # loading an outside pickle runs its code (mlflow import --trust-pickle)
    "mlflow.trust_pickle": frozenset({ADMIN}),
    "token.create": _ALL,  # for oneself; for another user it is "token.manage"
    "token.revoke": _ALL,  # likewise
    "token.manage": frozenset({ADMIN}),
    "audit.checkpoint": _ALL,
    "audit.erase": frozenset({ADMIN}),
    # data-subject requests act on personal data across models
    "subject.erase": frozenset({ADMIN}),
    "subject.export": frozenset({ADMIN}),
    # a subject-linked prediction's decrypted inputs and output; others see it sealed
    "subject.read": frozenset({ADMIN}),
}


def check_role(role: str) -> str:
    if role not in ROLES:
        raise ValidationError(f"role must be one of {list(ROLES)}, got {role!r}", field="role")
    return role


def allowed(role: str, action: str) -> bool:
    try:
        return role in PERMISSIONS[action]
    except KeyError:
        raise ValidationError(f"unknown action {action!r}", field="action") from None


def require_role(user: User, action: str) -> None:
    """Raise :class:`PermissionDenied` unless ``user`` may perform ``action``.

    Pure: it does not audit. Services (and the server) call ``AccessService.require``, which
    audits the denial, or call this and audit themselves.
    """
    if user.disabled:
        raise PermissionDenied(f"user {user.name!r} is disabled", user=user.name, action=action)
    if not allowed(user.role, action):
        roles = sorted(PERMISSIONS[action])
        raise PermissionDenied(
            f"{user.name} ({user.role}) may not {action}: it needs one of {roles}",
            user=user.name,
            role=user.role,
            action=action,
        )
