"""Data-subject rights over the prediction log: erasure (crypto-shredding), access, retention."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select

from mlwarden._json import jsonable
from mlwarden.errors import ValidationError
from mlwarden.store.sql.predictions import SqlPredictionStore
from mlwarden.store.sql.schema import retention
from mlwarden.store.sql.vault import SubjectVault

Recorder = Callable[[str, str, str, dict[str, Any]], None]


class SubjectRights:
    def __init__(
        self,
        store: SqlPredictionStore,
        vault: SubjectVault,
        *,
        model_id: Callable[[str], int],
        record: Recorder,
    ) -> None:
        self.store, self.vault = store, vault
        self._model_id, self._record = model_id, record

    def erase(
        self, subject: str, *, actor: str, reason: str | None = None, vacuum: bool = False
    ) -> dict[str, Any]:
        """Art. 17: the subject's payloads become unreadable; the erasure itself is audited
        under the pseudonym (the raw identifier is never written). Afterwards no copy of the
        destroyed key stays in SQLite's write-ahead log; on PostgreSQL ``vacuum`` runs VACUUM
        on the affected tables (dead row versions keep the wrapped key until then)."""
        pseudonym = self.vault.pseudonym(subject)
        with self.store.db.transaction():
            rows = self.store.erase_subject(pseudonym)
            self._record(
                actor,
                "subject.erase",
                f"subject:{pseudonym}",
                {"predictions": rows, "reason": reason},
            )
        residue = self.store.db.scrub(["subject_keys", "predictions", "labels"], vacuum=vacuum)
        return {"subject": pseudonym, "predictions": rows, **residue}

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
        with self.store.db.transaction() as conn:
            conn.execute(retention.delete().where(retention.c.model == model))
            conn.execute(
                retention.insert().values(
                    model=model, days=days, updated_at=now(), updated_by=actor
                )
            )
            self._record(actor, "retention.set", f"model:{model}", {"days": days})

    def apply_retention(self, *, actor: str, at: datetime | None = None) -> dict[str, int]:
        """Delete predictions (and their labels) older than each model's retention."""
        at = at or now()
        with self.store.db.reading() as conn:
            rules = conn.execute(select(retention.c.model, retention.c.days)).all()
        purged = {}
        for model, days in rules:
            cutoff = at - timedelta(days=days)
            before = cutoff.year * 10000 + cutoff.month * 100 + cutoff.day
            with self.store.db.transaction():
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
