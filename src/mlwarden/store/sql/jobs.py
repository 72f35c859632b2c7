"""Server jobs in SQL: rows only; running them is ``mlwarden.server.jobs``."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import delete, select, update

from mlwarden._time import as_utc
from mlwarden.store.job_store import FINISHED, Job, JobStore
from mlwarden.store.sql.database import Database
from mlwarden.store.sql.schema import jobs

_JSON = ("result", "error")


class SqlJobStore(JobStore):
    def __init__(self, db: Database) -> None:
        self.db = db

    def create(self, job: Job) -> None:
        values = {c.name: getattr(job, c.name) for c in jobs.c}
        with self.db.transaction() as conn:
            conn.execute(jobs.insert().values(**_encoded(values)))

    def update(self, job_id: str, **changes: Any) -> None:
        values = _encoded(dict(changes, updated_at=datetime.now(UTC)))
        with self.db.transaction() as conn:
            conn.execute(update(jobs).where(jobs.c.id == job_id).values(**values))

    def get(self, job_id: str) -> Job | None:
        with self.db.reading() as conn:
            row = conn.execute(select(jobs).where(jobs.c.id == job_id)).first()
        if row is None:
            return None
        values = dict(row._mapping)
        for key in _JSON:
            values[key] = None if values[key] is None else json.loads(values[key])
        values["created_at"] = as_utc(values["created_at"])
        values["updated_at"] = as_utc(values["updated_at"])
        return Job(**values)

    def touch(self, runner: str) -> int:
        mine = (jobs.c.runner == runner, jobs.c.state.not_in(FINISHED))
        with self.db.transaction() as conn:
            done = conn.execute(update(jobs).where(*mine).values(updated_at=datetime.now(UTC)))
        return int(done.rowcount or 0)

    def forget_finished(self, keep: int) -> int:
        finished = jobs.c.state.in_(FINISHED)
        kept = select(jobs.c.id).where(finished).order_by(jobs.c.updated_at.desc()).limit(keep)
        with self.db.transaction() as conn:
            gone = conn.execute(delete(jobs).where(finished, jobs.c.id.not_in(kept)))
        return int(gone.rowcount or 0)


def _encoded(values: dict[str, Any]) -> dict[str, Any]:
    return {k: json.dumps(v) if k in _JSON and v is not None else v for k, v in values.items()}
