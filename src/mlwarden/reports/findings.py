"""The findings register of model validation: what a validator found, its owner, severity and
status. Each addition and change is an audit event (``finding.add``, ``finding.update``)
carrying the fields before and after, so the register's history is proven by the log."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from mlwarden._json import jsonable
from mlwarden.errors import ValidationError
from mlwarden.store.finding_store import EDITABLE, SEVERITIES, STATUSES, Finding, FindingStore

MAX_TITLE = 512
MAX_TEXT = 20_000

Recorder = Callable[[str, str, str, dict[str, Any]], None]


def _checked(fields: dict[str, Any]) -> dict[str, Any]:
    out = {k: v for k, v in fields.items() if v is not None}
    unknown = sorted(set(out) - set(EDITABLE))
    if unknown:
        raise ValidationError(f"findings have no field(s) {unknown}", field=unknown[0])
    for key, allowed in (("severity", SEVERITIES), ("status", STATUSES)):
        if key in out and out[key] not in allowed:
            raise ValidationError(
                f"{key} must be one of {list(allowed)}, got {out[key]!r}", field=key
            )
    for key, limit in (("title", MAX_TITLE), ("owner", 256), ("description", MAX_TEXT)):
        if key in out and (not isinstance(out[key], str) or len(out[key]) > limit):
            raise ValidationError(f"{key} must be text of at most {limit} characters", field=key)
        if key in ("title", "owner") and key in out and not out[key].strip():
            raise ValidationError(f"{key} must not be empty", field=key)
    return out


class FindingService:
    def __init__(
        self,
        store: FindingStore,
        *,
        version_of: Callable[[str], tuple[str, int | None]],
        require: Callable[[str, str, str], Any],
        record: Recorder,
        transaction: Callable[[], Any],
    ) -> None:
        self.store = store
        self._version_of = version_of  # "name" or "name@v" -> (name, version or None)
        self._require = require
        self._record = record
        self._transaction = transaction

    def add(
        self,
        ref: str,
        *,
        title: str,
        severity: str,
        owner: str,
        actor: str,
        description: str | None = None,
        status: str = "open",
    ) -> Finding:
        name, version = self._version_of(ref)
        fields = _checked(
            {"title": title, "severity": severity, "owner": owner, "description": description,
             "status": status}
        )  # fmt: skip
        for key in ("title", "severity", "owner"):
            if key not in fields:
                raise ValidationError(f"a finding needs a {key}", field=key)
        subject = name if version is None else f"{name}@{version}"
        self._require(actor, "finding.write", f"model:{name}")
        with self._transaction():
            finding = self.store.add(name, version, fields, actor, datetime.now(UTC))
            self._record(actor, "finding.add", subject, jsonable(finding.to_dict()))
        return finding

    def update(self, finding_id: int, *, actor: str, **changes: Any) -> Finding:
        fields = _checked(changes)
        if not fields:
            raise ValidationError("nothing to change: give a field to update", field="changes")
        before = self.store.get(finding_id)
        self._require(actor, "finding.write", f"model:{before.model}")
        with self._transaction():
            after = self.store.update(finding_id, fields, actor, datetime.now(UTC))
            self._record(
                actor,
                "finding.update",
                before.ref,
                {
                    "id": finding_id,
                    "from": {k: getattr(before, k) for k in fields},
                    "to": {k: getattr(after, k) for k in fields},
                },
            )
        return after

    def list(self, ref: str) -> list[Finding]:
        name, version = self._version_of(ref)
        return self.store.list(name, version)
