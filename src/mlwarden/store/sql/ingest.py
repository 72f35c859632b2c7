"""Inference-logger halves in SQL: rows only; parsing and pairing are
``mlwarden.monitor.kserve``."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Connection, delete, func, select, tuple_

from mlwarden.store.ingest_store import IngestStore, Kind
from mlwarden.store.sql.database import Database
from mlwarden.store.sql.schema import ingest_halves as halves


class SqlIngestStore(IngestStore):
    def __init__(self, db: Database) -> None:
        self.db = db

    def file_half(
        self,
        model: str,
        event_id: str,
        kind: Kind,
        event: str,
        *,
        now: datetime,
        expire_before: datetime,
        max_pending: int,
    ) -> tuple[str | None, str | None] | None:
        with self.db.transaction() as conn:
            conn.execute(delete(halves).where(halves.c.received_at < expire_before))
            # The first half makes the row; a concurrent second one waits on the key (or on
            # SQLite's write lock) and finds it.
            first = conn.execute(
                self.db.insert(halves)
                .values(model=model, event_id=event_id, received_at=now, **{kind: event})
                .on_conflict_do_nothing()
                .returning(halves.c.model)
            ).first()
            if first is not None:
                self._cap(conn, max_pending)
                return (event, None) if kind == "request" else (None, event)
            other = conn.execute(
                delete(halves)
                .where(
                    halves.c.model == model,
                    halves.c.event_id == event_id,
                    halves.c[kind].is_(None),
                )
                .returning(halves.c.request, halves.c.response)
            ).first()
        if other is None:
            return None
        request, response = other
        return (event, response) if kind == "request" else (request, event)

    @staticmethod
    def _cap(conn: Connection, max_pending: int) -> None:
        excess = conn.execute(select(func.count()).select_from(halves)).scalar_one() - max_pending
        if excess > 0:
            oldest = (
                select(halves.c.model, halves.c.event_id)
                .order_by(halves.c.received_at)
                .limit(excess)
            )
            conn.execute(
                delete(halves).where(tuple_(halves.c.model, halves.c.event_id).in_(oldest))
            )
