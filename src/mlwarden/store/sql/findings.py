"""Validation findings in SQL: rows only; the rules live in ``mlwarden.reports.findings``."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Row, or_, select, update

from mlwarden._time import as_utc
from mlwarden.errors import NotFound
from mlwarden.store.finding_store import Finding, FindingStore
from mlwarden.store.sql.database import Database
from mlwarden.store.sql.schema import findings


def _finding(row: Row) -> Finding:
    values = dict(row._mapping)
    values["created_at"] = as_utc(values["created_at"])
    values["updated_at"] = as_utc(values["updated_at"])
    return Finding(**values)


class SqlFindingStore(FindingStore):
    def __init__(self, db: Database) -> None:
        self.db = db

    def add(
        self,
        model: str,
        version: int | None,
        fields: dict[str, Any],
        actor: str,
        now: datetime,
    ) -> Finding:
        with self.db.transaction() as conn:
            new_id = conn.execute(
                findings.insert()
                .values(
                    model=model,
                    version=version,
                    created_by=actor,
                    created_at=now,
                    updated_by=actor,
                    updated_at=now,
                    **fields,
                )
                .returning(findings.c.id)
            ).scalar_one()
        return self.get(int(new_id))

    def get(self, finding_id: int) -> Finding:
        with self.db.reading() as conn:
            row = conn.execute(select(findings).where(findings.c.id == finding_id)).first()
        if row is None:
            raise NotFound(f"no finding #{finding_id}", finding=finding_id)
        return _finding(row)

    def update(
        self, finding_id: int, changes: dict[str, Any], actor: str, now: datetime
    ) -> Finding:
        with self.db.transaction() as conn:
            done = conn.execute(
                update(findings)
                .where(findings.c.id == finding_id)
                .values(updated_by=actor, updated_at=now, **changes)
            ).rowcount
        if not done:
            raise NotFound(f"no finding #{finding_id}", finding=finding_id)
        return self.get(finding_id)

    def list(self, model: str, version: int | None = None) -> list[Finding]:
        query = select(findings).where(findings.c.model == model).order_by(findings.c.id)
        if version is not None:
            query = query.where(or_(findings.c.version == version, findings.c.version.is_(None)))
        with self.db.reading() as conn:
            return [_finding(r) for r in conn.execute(query)]
