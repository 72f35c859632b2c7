"""The scope of a Warden-issued service token: which models it may act on, and how.

Grammar (docs/identity.md, "Service tokens")::

    scope  := clause (";" clause)*
    clause := "model:" NAME ":" ACTION ("," ACTION)*
    NAME   := a model name, or "*" for every model
    ACTION := an action of the permission table (read, predict, model.register, …), or "*"

``model:credit-risk:read,predict`` may read the model ``credit-risk`` and predict with it,
nothing else. A scope only narrows: the token acts as its user, whose role and grants
still apply; the scope is checked on top (``permissions.decide``). Anything that is not a
model (users, tokens, policies, the audit log) is out of every scope, so a scoped token
cannot mint an unscoped one.
"""

from __future__ import annotations

from dataclasses import dataclass

from mlwarden.access.roles import PERMISSIONS
from mlwarden.errors import ValidationError
from mlwarden.registry.refs import check_name

MAX_SCOPE_CHARS = 4096


@dataclass(frozen=True)
class Clause:
    model: str  # a name or "*"
    actions: frozenset[str]  # action names, or {"*"}

    def allows(self, action: str, model: str | None) -> bool:
        # model None: a list of models ("model:*"), filtered afterwards model by model
        on = model is None or self.model in ("*", model)
        return on and ("*" in self.actions or action in self.actions)


def parse_scope(text: str) -> tuple[Clause, ...]:
    """The clauses of ``text``; ``ValidationError`` (field ``scope``) naming the bad part."""
    if not isinstance(text, str) or not text.strip():
        raise ValidationError("a scope must not be empty", field="scope")
    if len(text) > MAX_SCOPE_CHARS:
        raise ValidationError(f"a scope is at most {MAX_SCOPE_CHARS} characters", field="scope")
    clauses = []
    for part in text.split(";"):
        kind, _, rest = part.strip().partition(":")
        name, _, actions = rest.partition(":")
        if kind != "model" or not name or not actions:
            raise ValidationError(
                f"invalid scope clause {part.strip()!r}: use model:NAME:ACTION[,ACTION…] "
                "(NAME may be *), clauses separated by ;",
                field="scope",
            )
        if name != "*":
            check_name(name, "scope")
        wanted = frozenset(a.strip() for a in actions.split(","))
        unknown = sorted(a for a in wanted if a != "*" and a not in PERMISSIONS)
        if unknown:
            raise ValidationError(
                f"unknown action(s) {unknown} in scope clause {part.strip()!r}", field="scope"
            )
        clauses.append(Clause(name, wanted))
    return tuple(clauses)


def normalize_scope(text: str | None) -> str | None:
    """``text`` checked and written canonically (sorted actions), or ``None``."""
    if text is None:
        return None
    return ";".join(f"model:{c.model}:{','.join(sorted(c.actions))}" for c in parse_scope(text))


def scope_allows(scope: str, action: str, subject: str) -> bool:
    """Whether a token of ``scope`` may perform ``action`` on ``subject``."""
    if not subject.startswith("model:"):
        return False
    name = subject[6:].split("/", 1)[0]
    model = None if name in ("", "*") else name
    return any(c.allows(action, model) for c in parse_scope(scope))
