"""Users, API tokens and approvals in SQL. Rules (who may do what) live in ``mlwarden.access``."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import Row, delete, exists, func, select, update
from sqlalchemy.exc import IntegrityError as SqlIntegrityError

from mlwarden._time import as_utc, utcnow
from mlwarden.entities.access import Approval, Token, User
from mlwarden.errors import AlreadyExists, NotFound
from mlwarden.store.access_store import AccessStore
from mlwarden.store.sql.database import Database
from mlwarden.store.sql.schema import approvals, dashboard_sessions, models, tokens, users


def _user(row: Row) -> User:
    return User(
        id=row.id,
        name=row.name,
        role=row.role,
        created_at=as_utc(row.created_at),  # type: ignore[arg-type]
        created_by=row.created_by,
        disabled=bool(row.disabled),
    )


def _token(row: Row) -> Token:
    return Token(
        id=row.id,
        user=row.user_name,
        prefix=row.prefix,
        created_at=as_utc(row.created_at),  # type: ignore[arg-type]
        expires_at=as_utc(row.expires_at),
        revoked_at=as_utc(row.revoked_at),
        last_used_at=as_utc(row.last_used_at),
        description=row.description,
        scope=row.scope,
    )


#: How long an expired dashboard session's row is kept before it is purged.
_SESSION_KEPT = timedelta(days=1)

_token_query = select(tokens, users.c.name.label("user_name")).join(
    users, users.c.id == tokens.c.user_id
)


class SqlAccessStore(AccessStore):
    def __init__(self, db: Database) -> None:
        self.db = db

    # ---- users

    def any_users(self) -> bool:
        with self.db.reading() as conn:
            return bool(conn.execute(select(exists().where(users.c.id.isnot(None)))).scalar())

    def create_user(self, name: str, role: str, created_by: str) -> User:
        with self.db.transaction() as conn:
            try:
                with conn.begin_nested():
                    conn.execute(
                        users.insert().values(
                            name=name,
                            role=role,
                            created_at=utcnow(),
                            created_by=created_by,
                            disabled=False,
                        )
                    )
            except SqlIntegrityError as exc:
                raise AlreadyExists(f"user {name!r} already exists", field="name") from exc
            return self._get_user(conn, name)  # type: ignore[return-value]

    def get_user(self, name: str) -> User | None:
        with self.db.reading() as conn:
            return self._get_user(conn, name)

    def _get_user(self, conn, name: str) -> User | None:  # type: ignore[no-untyped-def]
        row = conn.execute(select(users).where(users.c.name == name)).first()
        return None if row is None else _user(row)

    def list_users(self) -> list[User]:
        with self.db.reading() as conn:
            return [_user(r) for r in conn.execute(select(users).order_by(users.c.name))]

    def set_role(self, name: str, role: str) -> User:
        with self.db.transaction() as conn:
            done = conn.execute(update(users).where(users.c.name == name).values(role=role))
            if done.rowcount == 0:
                raise NotFound(f"no user {name!r}", field="name")
            return self._get_user(conn, name)  # type: ignore[return-value]

    # ---- tokens

    def create_token(
        self,
        user_id: int,
        prefix: str,
        sha256: str,
        expires_at: datetime | None,
        description: str | None,
        scope: str | None = None,
    ) -> Token:
        with self.db.transaction() as conn:
            token_id = conn.execute(
                tokens.insert()
                .values(
                    user_id=user_id,
                    prefix=prefix,
                    sha256=sha256,
                    created_at=utcnow(),
                    expires_at=expires_at,
                    description=description,
                    scope=scope,
                )
                .returning(tokens.c.id)
            ).scalar_one()
            return _token(conn.execute(_token_query.where(tokens.c.id == token_id)).one())

    def get_token(self, token_id: int) -> Token:
        with self.db.reading() as conn:
            row = conn.execute(_token_query.where(tokens.c.id == token_id)).first()
        if row is None:
            raise NotFound(f"no API token with id {token_id}", field="id", id=token_id)
        return _token(row)

    def find_token(self, sha256: str) -> tuple[Token, User] | None:
        with self.db.reading() as conn:
            row = conn.execute(_token_query.where(tokens.c.sha256 == sha256)).first()
            if row is None:
                return None
            user = conn.execute(select(users).where(users.c.id == row.user_id)).one()
        return _token(row), _user(user)

    def list_tokens(self, user: str | None = None) -> list[Token]:
        q = _token_query.order_by(tokens.c.id)
        if user is not None:
            q = q.where(users.c.name == user)
        with self.db.reading() as conn:
            return [_token(r) for r in conn.execute(q)]

    def revoke_token(self, token_id: int) -> Token:
        with self.db.transaction() as conn:
            conn.execute(
                update(tokens)
                .where(tokens.c.id == token_id, tokens.c.revoked_at.is_(None))
                .values(revoked_at=utcnow())
            )
            row = conn.execute(_token_query.where(tokens.c.id == token_id)).first()
        if row is None:
            raise NotFound(f"no API token with id {token_id}", field="id", id=token_id)
        return _token(row)

    def touch_token(self, token_id: int) -> None:
        with self.db.transaction() as conn:
            conn.execute(
                update(tokens).where(tokens.c.id == token_id).values(last_used_at=utcnow())
            )

    # ---- dashboard sessions (the rules are in mlwarden.server.dashboard.session)

    def create_session(
        self, sha256: str, user_id: int, token_id: int, expires_at: datetime
    ) -> None:
        now = utcnow()
        with self.db.transaction() as conn:
            # sessions long over are of no use, even to an auditor (sign-ins are not audited)
            conn.execute(
                delete(dashboard_sessions).where(
                    dashboard_sessions.c.expires_at < now - _SESSION_KEPT
                )
            )
            conn.execute(
                dashboard_sessions.insert().values(
                    id=sha256,
                    user_id=user_id,
                    token_id=token_id,
                    created_at=now,
                    expires_at=expires_at,
                )
            )

    def find_session(self, sha256: str) -> tuple[datetime, datetime | None, Token, User] | None:
        """``(expires_at, revoked_at, token, user)`` of a session, or ``None``."""
        s = dashboard_sessions
        q = (
            select(
                s.c.expires_at.label("session_expires_at"),
                s.c.revoked_at.label("session_revoked_at"),
                tokens,
                users.c.name.label("user_name"),
            )
            .join(tokens, tokens.c.id == s.c.token_id)
            .join(users, users.c.id == s.c.user_id)
            .where(s.c.id == sha256)
        )
        with self.db.reading() as conn:
            row = conn.execute(q).first()
            if row is None:
                return None
            user = conn.execute(select(users).where(users.c.id == row.user_id)).one()
        expires = as_utc(row.session_expires_at)
        return expires, as_utc(row.session_revoked_at), _token(row), _user(user)  # type: ignore[return-value]

    def revoke_session(self, sha256: str) -> None:
        with self.db.transaction() as conn:
            conn.execute(
                update(dashboard_sessions)
                .where(dashboard_sessions.c.id == sha256, dashboard_sessions.c.revoked_at.is_(None))
                .values(revoked_at=utcnow())
            )

    # ---- approvals

    def add_approval(
        self, name: str, version: int, approver: str, role: str, comment: str | None
    ) -> Approval:
        with self.db.transaction() as conn:
            model_id = conn.execute(select(models.c.id).where(models.c.name == name)).scalar_one()
            try:
                with conn.begin_nested():
                    conn.execute(
                        approvals.insert().values(
                            model_id=model_id,
                            version=version,
                            approver=approver,
                            role=role,
                            comment=comment,
                            created_at=utcnow(),
                        )
                    )
            except SqlIntegrityError as exc:
                raise AlreadyExists(
                    f"{approver} has already approved {name}@{version}",
                    field="approver",
                    model=name,
                    version=version,
                ) from exc
        return next(a for a in self.list_approvals(name, version) if a.approver == approver)

    def list_approvals(self, name: str, version: int) -> list[Approval]:
        q = (
            select(approvals, models.c.name)
            .join(models, models.c.id == approvals.c.model_id)
            .where(models.c.name == name, approvals.c.version == version)
            .order_by(approvals.c.id)
        )
        with self.db.reading() as conn:
            return [
                Approval(
                    model=r.name,
                    version=r.version,
                    approver=r.approver,
                    role=r.role,
                    comment=r.comment,
                    created_at=as_utc(r.created_at),  # type: ignore[arg-type]
                )
                for r in conn.execute(q)
            ]

    def count_users(self) -> int:
        with self.db.reading() as conn:
            return int(conn.execute(select(func.count()).select_from(users)).scalar() or 0)
