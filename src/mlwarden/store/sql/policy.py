"""Policy decisions in SQL. What a decision means lives in ``mlwarden.policy``."""

from __future__ import annotations

from dataclasses import replace

from sqlalchemy import Row, select

from mlwarden._time import as_utc
from mlwarden.entities.policy import Decision, RuleResult
from mlwarden.errors import NotFound
from mlwarden.store.decision_store import DecisionStore
from mlwarden.store.sql.database import Database
from mlwarden.store.sql.schema import decisions, models


def _decision(row: Row) -> Decision:
    return Decision(
        policy=row.policy,
        policy_sha256=row.policy_sha256,
        ref=f"{row.name}@{row.version}",
        passed=bool(row.passed),
        applies=bool(row.applies),
        results=tuple(RuleResult.from_dict(r) for r in row.results),
        time=as_utc(row.created_at),  # type: ignore[arg-type]
        actor=row.actor,
        purpose=row.purpose,
        id=row.id,
        policy_version=row.policy_version,
        inline=bool(row.inline),
    )


_query = select(decisions, models.c.name).join(models, models.c.id == decisions.c.model_id)


class SqlDecisionStore(DecisionStore):
    def __init__(self, db: Database) -> None:
        self.db = db

    def add(self, name: str, version: int, decision: Decision) -> Decision:
        """Store ``decision`` (joins the caller's transaction); returns it with its id."""
        with self.db.transaction() as conn:
            model_id = conn.execute(
                select(models.c.id).where(models.c.name == name)
            ).scalar_one_or_none()
            if model_id is None:
                raise NotFound(f"model {name!r} does not exist", model=name)
            new_id = conn.execute(
                decisions.insert()
                .values(
                    model_id=model_id,
                    version=version,
                    policy=decision.policy,
                    policy_sha256=decision.policy_sha256,
                    purpose=decision.purpose,
                    passed=decision.passed,
                    applies=decision.applies,
                    actor=decision.actor,
                    created_at=decision.time,
                    results=[r.to_dict() for r in decision.results],
                    policy_version=decision.policy_version,
                    inline=decision.inline,
                )
                .returning(decisions.c.id)
            ).scalar_one()
        return replace(decision, id=new_id)

    def get(self, decision_id: int) -> Decision:
        with self.db.reading() as conn:
            row = conn.execute(_query.where(decisions.c.id == decision_id)).first()
        if row is None:
            raise NotFound(f"no decision {decision_id}", decision=decision_id)
        return _decision(row)

    def list(
        self, name: str, version: int | None = None, *, limit: int | None = None
    ) -> list[Decision]:
        """Decisions for a model (or one version), newest first."""
        query = _query.where(models.c.name == name)
        if version is not None:
            query = query.where(decisions.c.version == version)
        query = query.order_by(decisions.c.id.desc())
        if limit is not None:
            query = query.limit(limit)
        with self.db.reading() as conn:
            return [_decision(r) for r in conn.execute(query)]
