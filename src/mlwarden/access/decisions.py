"""One access decision: may a user perform an action, given their global role and the grants
on a model and its team (an explicit deny wins; see ``permissions`` for who manages grants).
Pure functions of the user and the grants, shared by the access service and the permission
service without either importing the other."""

from __future__ import annotations

from mlwarden.access.roles import PERMISSIONS, allowed
from mlwarden.entities.access import AccessDecision, Grant, User
from mlwarden.registry.refs import NAME_RE

#: the access entity (one definition, in ``entities``), under its short name here
Decision = AccessDecision

#: denying the key denies these too: predicting with a model reveals what reading it does
IMPLIED_DENIES = {"predict": "read"}


def model_of(subject: str) -> str | None:
    """``model:credit/3`` → ``credit``; ``None`` for ``model:*``, other subjects and names
    that are not model names."""
    if not subject.startswith("model:"):
        return None
    name = subject[6:].split("/", 1)[0]
    # a name no model can have names none: no grants to look up (the route refuses it, 422)
    return name if NAME_RE.fullmatch(name) else None


def decide(user: User, action: str, grants: list[Grant], model: str | None) -> Decision:
    allowed(user.role, action)  # an unknown action is a ValidationError
    if user.disabled:
        return Decision(False, user.role, f"user {user.name!r} is disabled", "disabled")
    for g in grants:
        if g.effect == "deny" and g.what in (action, "*", IMPLIED_DENIES.get(action)):
            by = f" by {g.created_by}" if g.created_by else ""
            return Decision(
                False, user.role, f"{user.name} is denied {g.what} on {g.where}{by}", "deny"
            )
    if allowed(user.role, action):
        return Decision(True, user.role, f"global role {user.role} allows {action}", "global")
    for g in grants:
        if g.effect == "allow" and allowed(g.what, action):
            return Decision(True, g.what, f"role {g.what} on {g.where} allows {action}", "grant")
    roles = sorted(PERMISSIONS[action])
    return Decision(
        False,
        user.role,
        f"{user.name} ({user.role}) may not {action}: it needs one of {roles}"
        + (f" (globally, or on model {model} or its team)" if model else ""),
        "none",
    )
