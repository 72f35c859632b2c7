"""Permissions per team and model on SQLAlchemy (SQLite and PostgreSQL)."""

from __future__ import annotations

from sqlalchemy import Row, and_, delete, or_, select
from sqlalchemy.exc import IntegrityError as SqlIntegrityError

from mlwarden._time import as_utc, utcnow
from mlwarden.entities.access import Grant
from mlwarden.errors import AlreadyExists, NotFound
from mlwarden.store.permission_store import PermissionStore
from mlwarden.store.sql.database import Database
from mlwarden.store.sql.schema import grants, models, team_models, teams


def _grant(row: Row) -> Grant:  # type: ignore[type-arg]
    return Grant(
        user=row.user_name,
        scope=row.scope,
        target=row.target,
        effect=row.effect,
        what=row.what,
        created_at=as_utc(row.created_at),
        created_by=row.created_by,
    )


def _same(grant: Grant):  # type: ignore[no-untyped-def]
    return and_(
        grants.c.user_name == grant.user,
        grants.c.scope == grant.scope,
        grants.c.target == grant.target,
        grants.c.effect == grant.effect,
        grants.c.what == grant.what,
    )


class SqlPermissionStore(PermissionStore):
    def __init__(self, db: Database) -> None:
        self.db = db

    def create_team(self, name: str, created_by: str) -> None:
        with self.db.transaction() as conn:
            try:
                with conn.begin_nested():
                    conn.execute(
                        teams.insert().values(name=name, created_at=utcnow(), created_by=created_by)
                    )
            except SqlIntegrityError as exc:
                raise AlreadyExists(f"team {name!r} already exists", field="name") from exc

    def list_teams(self) -> list[str]:
        with self.db.reading() as conn:
            return list(conn.execute(select(teams.c.name).order_by(teams.c.name)).scalars())

    def set_model_team(self, model: str, team: str) -> None:
        with self.db.transaction() as conn:
            model_id = conn.execute(select(models.c.id).where(models.c.name == model)).scalar()
            if model_id is None:
                raise NotFound(f"no model {model!r}", field="model")
            team_id = conn.execute(select(teams.c.id).where(teams.c.name == team)).scalar()
            if team_id is None:
                raise NotFound(f"no team {team!r}", field="team")
            conn.execute(delete(team_models).where(team_models.c.model_id == model_id))
            conn.execute(team_models.insert().values(model_id=model_id, team_id=team_id))

    def model_team(self, model: str) -> str | None:
        with self.db.reading() as conn:
            return self._model_team(conn, model)

    def model_teams(self) -> dict[str, str]:
        query = select(models.c.name, teams.c.name).select_from(
            team_models.join(teams).join(models)
        )
        with self.db.reading() as conn:
            return {m: t for m, t in conn.execute(query)}

    def _model_team(self, conn, model: str) -> str | None:  # type: ignore[no-untyped-def]
        query = (
            select(teams.c.name)
            .select_from(team_models.join(teams).join(models))
            .where(models.c.name == model)
        )
        return conn.execute(query).scalar()  # type: ignore[no-any-return]

    def add_grant(self, grant: Grant) -> Grant:
        with self.db.transaction() as conn:
            try:
                with conn.begin_nested():
                    conn.execute(
                        grants.insert().values(
                            user_name=grant.user,
                            scope=grant.scope,
                            target=grant.target,
                            effect=grant.effect,
                            what=grant.what,
                            created_at=utcnow(),
                            created_by=grant.created_by or "",
                        )
                    )
            except SqlIntegrityError as exc:
                raise AlreadyExists(f"{grant.where}: already granted", field="grant") from exc
            return _grant(conn.execute(select(grants).where(_same(grant))).one())

    def remove_grant(self, grant: Grant) -> bool:
        with self.db.transaction() as conn:
            return bool(conn.execute(delete(grants).where(_same(grant))).rowcount)

    def grants_on(self, user: str, model: str) -> list[Grant]:
        with self.db.reading() as conn:
            team = self._model_team(conn, model)
            where = and_(grants.c.scope == "model", grants.c.target == model)
            if team is not None:
                where = or_(where, and_(grants.c.scope == "team", grants.c.target == team))
            rows = conn.execute(
                select(grants).where(grants.c.user_name == user, where).order_by(grants.c.id)
            )
            return [_grant(r) for r in rows]

    def list_grants(self, user: str | None = None) -> list[Grant]:
        query = select(grants).order_by(grants.c.user_name, grants.c.scope, grants.c.target)
        if user is not None:
            query = query.where(grants.c.user_name == user)
        with self.db.reading() as conn:
            return [_grant(r) for r in conn.execute(query)]
