"""Installed gate policies and their bindings in SQL. What a gate means lives in
``mlwarden.policy.gates``; this module only stores rows."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Row, delete, func, select, update
from sqlalchemy.exc import IntegrityError as SqlIntegrityError

from mlwarden._time import as_utc
from mlwarden.entities.policy import Binding, GatePolicy
from mlwarden.errors import Conflict, NotFound
from mlwarden.store.gate_store import GateStore
from mlwarden.store.sql.database import Database
from mlwarden.store.sql.schema import gate_policies, models, policy_bindings


def _policy(row: Row) -> GatePolicy:
    return GatePolicy(
        name=row.name,
        version=row.version,
        sha256=row.sha256,
        source=row.source,
        created_by=row.created_by,
        created_at=as_utc(row.created_at),  # type: ignore[arg-type]
    )


def _binding(row: Row) -> Binding:
    return Binding(
        target=row.target,
        policy=row.policy,
        created_by=row.created_by,
        created_at=as_utc(row.created_at),  # type: ignore[arg-type]
    )


class SqlGateStore(GateStore):
    def __init__(self, db: Database) -> None:
        self.db = db

    def install(
        self, name: str, source: str, sha256: str, actor: str, now: datetime
    ) -> tuple[GatePolicy, bool]:
        """Store ``source`` as the next version of ``name`` (joins the caller's transaction);
        the same text as the newest version is not stored again. Returns (policy, created)."""
        with self.db.transaction() as conn:
            newest = conn.execute(
                select(gate_policies)
                .where(gate_policies.c.name == name)
                .order_by(gate_policies.c.version.desc())
                .limit(1)
            ).first()
            if newest is not None and newest.sha256 == sha256:
                return _policy(newest), False
            stored = GatePolicy(
                name=name,
                version=1 if newest is None else newest.version + 1,
                sha256=sha256,
                source=source,
                created_by=actor,
                created_at=now,
            )
            try:
                with conn.begin_nested():
                    conn.execute(gate_policies.insert().values(**vars(stored)))
            except SqlIntegrityError:
                raise Conflict(
                    f"policy {name!r} was installed concurrently; install it again",
                    policy=name,
                ) from None
        return stored, True

    def get(self, name: str, version: int | None = None) -> GatePolicy | None:
        query = select(gate_policies).where(gate_policies.c.name == name)
        if version is None:
            query = query.order_by(gate_policies.c.version.desc()).limit(1)
        else:
            query = query.where(gate_policies.c.version == version)
        with self.db.reading() as conn:
            row = conn.execute(query).first()
        return None if row is None else _policy(row)

    def newest(self) -> list[GatePolicy]:
        """The newest version of each installed policy, by name."""
        newest = (
            select(gate_policies.c.name, func.max(gate_policies.c.version).label("v"))
            .group_by(gate_policies.c.name)
            .subquery()
        )
        query = (
            select(gate_policies)
            .join(
                newest,
                (newest.c.name == gate_policies.c.name) & (newest.c.v == gate_policies.c.version),
            )
            .order_by(gate_policies.c.name)
        )
        with self.db.reading() as conn:
            return [_policy(r) for r in conn.execute(query)]

    def bind(self, target: str, policy: str, actor: str, now: datetime) -> Binding:
        with self.db.transaction() as conn:
            conn.execute(delete(policy_bindings).where(policy_bindings.c.target == target))
            conn.execute(
                policy_bindings.insert().values(
                    target=target, policy=policy, created_by=actor, created_at=now
                )
            )
        return Binding(target, policy, actor, now)

    def unbind(self, target: str) -> Binding:
        with self.db.transaction() as conn:
            row = conn.execute(
                select(policy_bindings).where(policy_bindings.c.target == target)
            ).first()
            if row is None:
                raise NotFound(f"nothing is bound to {target}", target=target)
            conn.execute(delete(policy_bindings).where(policy_bindings.c.target == target))
        return _binding(row)

    def bindings(self) -> list[Binding]:
        with self.db.reading() as conn:
            rows = conn.execute(select(policy_bindings).order_by(policy_bindings.c.target))
            return [_binding(r) for r in rows]

    def binding(self, target: str) -> Binding | None:
        with self.db.reading() as conn:
            row = conn.execute(
                select(policy_bindings).where(policy_bindings.c.target == target)
            ).first()
        return None if row is None else _binding(row)

    def set_risk_tier(self, name: str, tier: str) -> str:
        """Set a model's risk tier (joins the caller's transaction); returns the old one."""
        with self.db.transaction() as conn:
            old = conn.execute(
                select(models.c.risk_tier).where(models.c.name == name).with_for_update()
            ).scalar_one_or_none()
            if old is None:
                raise NotFound(f"model {name!r} does not exist", model=name)
            conn.execute(update(models).where(models.c.name == name).values(risk_tier=tier))
        return str(old)
