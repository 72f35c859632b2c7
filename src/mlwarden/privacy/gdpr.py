"""Data-subject rights over the prediction log: erasure (crypto-shredding), access, retention."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from mlwarden._json import jsonable
from mlwarden.errors import ValidationError
from mlwarden.store.prediction_store import PredictionStore
from mlwarden.store.sql.vault import SubjectVault
from mlwarden.store.tool_call_store import ToolCallStore

Recorder = Callable[[str, str, str, dict[str, Any]], None]


class SubjectRights:
    def __init__(
        self,
        store: PredictionStore,
        vault: SubjectVault,
        *,
        model_id: Callable[[str], int],
        record: Recorder,
        tool_calls: ToolCallStore | None = None,
    ) -> None:
        self.store, self.vault = store, vault
        self.tool_calls = tool_calls  # agents' calls sealed for subjects shred with the key
        self._model_id, self._record = model_id, record

    def erase(
        self, subject: str, *, actor: str, reason: str | None = None, vacuum: bool = False
    ) -> dict[str, Any]:
        """Art. 17: the subject's payloads become unreadable; the erasure itself is audited
        under the pseudonym (the raw identifier is never written). Afterwards no copy of the
        destroyed key stays in SQLite's write-ahead log; on PostgreSQL ``vacuum`` runs VACUUM
        on the affected tables (dead row versions keep the wrapped key until then)."""
        pseudonym = self.vault.pseudonym(subject)
        calls = len(self.tool_calls.subject_calls(pseudonym)) if self.tool_calls else 0
        with self.store.transaction():
            # the subject's key seals its predictions and its tool calls alike
            rows = self.store.erase_subject(pseudonym)
            self._record(
                actor,
                "subject.erase",
                f"subject:{pseudonym}",
                {"predictions": rows, "tool_calls": calls, "reason": reason},
            )
        residue = self.store.scrub(vacuum=vacuum)
        return {"subject": pseudonym, "predictions": rows, "tool_calls": calls, **residue}

    def export(self, subject: str, *, actor: str) -> dict[str, Any]:
        """Art. 15: every logged prediction about the subject, decrypted, across models."""
        pseudonym = self.vault.pseudonym(subject)
        frame = self.store.read(None, subject=pseudonym)
        records = (
            []
            if frame.empty
            else jsonable(
                frame.drop(
                    columns=[c for c in ("model_id", "day", "subject") if c in frame.columns]
                ).to_dict(orient="records")
            )
        )
        self._record(actor, "subject.export", f"subject:{pseudonym}", {"predictions": len(records)})
        return {"subject": pseudonym, "predictions": records}

    def set_retention(self, model: str, days: int, *, actor: str) -> None:
        if not isinstance(days, int) or days < 1:
            raise ValidationError(
                f"retention must be a positive number of days, got {days!r}", field="days"
            )
        self._model_id(model)  # NotFound for unknown models
        with self.store.transaction():
            self.store.set_retention(model, days, actor)
            self._record(actor, "retention.set", f"model:{model}", {"days": days})

    def apply_retention(self, *, actor: str, at: datetime | None = None) -> dict[str, int]:
        """Delete predictions (and their labels) older than each model's retention."""
        at = at or now()
        purged = {}
        for model, days in self.store.retention_rules():
            cutoff = at - timedelta(days=days)
            before = cutoff.year * 10000 + cutoff.month * 100 + cutoff.day
            with self.store.transaction():
                purged[model] = self.store.purge(self._model_id(model), before)
                self._record(
                    actor,
                    "retention.purge",
                    f"model:{model}",
                    {"days": days, "before_day": before, "deleted": purged[model]},
                )
        return purged


def now() -> datetime:
    return datetime.now(UTC)
