"""SQL implementation of :class:`mlwarden.store.review_store.ReviewStore`."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import func, select

from mlwarden._time import as_utc
from mlwarden.errors import Conflict, NotFound
from mlwarden.store.review_store import Flagged, ReviewStore
from mlwarden.store.sql.database import Database, driver
from mlwarden.store.sql.schema import review_rules, reviews

STATUSES = ("pending", "confirmed", "overridden")


def _item(row: Any) -> dict[str, Any]:
    return {
        "prediction_id": row.prediction_id,
        "version": row.version,
        "output": row.output,
        "status": row.status,
        "decided_output": row.decided_output,
        "reviewer": row.reviewer,
        "comment": row.comment,
        "flagged_at": as_utc(row.flagged_at),
        "decided_at": None if row.decided_at is None else as_utc(row.decided_at),
    }


class SqlReviewStore(ReviewStore):
    def __init__(self, db: Database) -> None:
        self.db = db
        p = "?" if db.is_sqlite else "%s"  # the driver's paramstyle
        self._rule_sql = f"SELECT rule FROM review_rules WHERE model_id = {p}"

    def rule_text(self, model_id: int) -> str | None:
        # On the driver's cursor: the prediction writer asks once per batch, and building and
        # compiling the statement cost SQLAlchemy about ten times the read itself.
        with self.db.reading() as conn:
            cur = driver(conn).cursor()
            try:
                cur.execute(self._rule_sql, (model_id,))
                row = cur.fetchone()
            finally:
                cur.close()
        return None if row is None else str(row[0])

    def set_rule(self, model_id: int, rule: str, actor: str, now: datetime) -> None:
        with self.db.transaction() as conn:
            conn.execute(review_rules.delete().where(review_rules.c.model_id == model_id))
            conn.execute(
                review_rules.insert().values(model_id=model_id, rule=rule, set_by=actor, set_at=now)
            )

    def rule(self, model_id: int) -> dict[str, Any] | None:
        with self.db.transaction() as conn:
            row = conn.execute(
                select(review_rules).where(review_rules.c.model_id == model_id)
            ).first()
        if row is None:
            return None
        return {"rule": row.rule, "set_by": row.set_by, "set_at": as_utc(row.set_at)}

    def enqueue(self, model_id: int, items: Sequence[Flagged], now: datetime) -> int:
        if not items:
            return 0
        with self.db.transaction() as conn:
            ids = [i[0] for i in items]
            have = set(
                conn.execute(
                    select(reviews.c.prediction_id).where(reviews.c.prediction_id.in_(ids))
                ).scalars()
            )
            new = [
                {
                    "prediction_id": pid,
                    "model_id": model_id,
                    "version": version,
                    "output": None if output is None else str(output),
                    "status": "pending",
                    "flagged_at": now,
                }
                for pid, version, output in dict.fromkeys(items)
                if pid not in have
            ]
            if new:
                conn.execute(reviews.insert(), new)
        return len(new)

    def items(
        self, model_id: int, status: str | None = None, limit: int = 100
    ) -> list[dict[str, Any]]:
        query = select(reviews).where(reviews.c.model_id == model_id)
        if status is not None:
            query = query.where(reviews.c.status == status)
        query = query.order_by(reviews.c.flagged_at, reviews.c.prediction_id).limit(limit)
        with self.db.transaction() as conn:
            return [_item(r) for r in conn.execute(query)]

    def decide(
        self,
        prediction_id: str,
        status: str,
        decided_output: Any,
        reviewer: str,
        comment: str | None,
        now: datetime,
    ) -> dict[str, Any]:
        with self.db.transaction() as conn:
            done = conn.execute(
                reviews.update()
                .where(reviews.c.prediction_id == prediction_id, reviews.c.status == "pending")
                .values(
                    status=status,
                    decided_output=None if decided_output is None else str(decided_output),
                    reviewer=reviewer,
                    comment=comment,
                    decided_at=now,
                )
            ).rowcount
            row = conn.execute(
                select(reviews).where(reviews.c.prediction_id == prediction_id)
            ).first()
        if row is None:
            raise NotFound(
                f"prediction {prediction_id!r} is not in the review queue", id=prediction_id
            )
        if not done:
            raise Conflict(
                f"prediction {prediction_id!r} was already reviewed "
                f"({row.status} by {row.reviewer})",
                id=prediction_id,
            )
        return _item(row)

    def counts(self, model_id: int) -> dict[str, int]:
        with self.db.transaction() as conn:
            rows = conn.execute(
                select(reviews.c.status, func.count())
                .where(reviews.c.model_id == model_id)
                .group_by(reviews.c.status)
            ).all()
        return {s: 0 for s in STATUSES} | {s: int(n) for s, n in rows}
