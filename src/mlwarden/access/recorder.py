"""Turns state changes and refusals into audit events (the registry's ``EventSink``)."""

from __future__ import annotations

from typing import Any

from mlwarden.audit.log import AuditLog
from mlwarden.entities.audit import DENIED, AuditEvent

__all__ = ["DENIED", "Recorder", "registry_subject", "version_subject"]


def registry_subject(subject: str) -> str:
    """Registry subjects in the audit log's tree form, so ``events(model=NAME)`` finds them:
    ``credit`` → ``model:credit``; ``credit@3`` → ``model:credit/3``; ``credit@production``
    → ``model:credit/production`` (aliases never look like numbers)."""
    name, sep, rest = subject.partition("@")
    return f"model:{name}/{rest}" if sep else f"model:{name}"


def version_subject(name: str, version: int) -> str:
    return f"model:{name}/{version}"


class Recorder:
    """Appends to the audit log.

    Called inside the caller's open transaction, the event commits (or rolls back) with the
    change it records. :meth:`denied` is the exception: a refusal must stay on record although
    the refused action is rolled back, so it is called only where no transaction is open, and
    its append is a transaction of its own.
    """

    def __init__(self, audit: AuditLog) -> None:
        self.audit = audit

    def __call__(self, actor: str, action: str, subject: str, payload: dict[str, Any]) -> None:
        """The registry's event sink (its subjects are mapped, see :func:`registry_subject`)."""
        self.event(actor, action, subject, payload)

    def event(self, actor: str, action: str, subject: str, payload: dict[str, Any]) -> AuditEvent:
        """As calling it, returning the stored event (with its seq)."""
        return self.audit.append(actor, action, registry_subject(subject), payload)

    def record(
        self, actor: str, action: str, subject: str, payload: dict[str, Any] | None = None
    ) -> None:
        self.audit.append(actor, action, subject, payload)

    def denied(self, actor: str, action: str, subject: str, reason: str, **details: Any) -> None:
        self.audit.append(actor, DENIED, subject, {"action": action, "reason": reason, **details})
