"""SQL implementation of ``RegistryStore`` (SQLite and PostgreSQL share every line)."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from typing import Any

from sqlalchemy import Connection, Row, bindparam, delete, func, select, update

from mlwarden._time import as_utc, utcnow
from mlwarden.entities import MEASURED, AliasChange, Model, ModelVersion
from mlwarden.errors import Conflict, NotFound
from mlwarden.store.registry_store import NewModel, NewVersion, RegistryStore
from mlwarden.store.sql.database import Database
from mlwarden.store.sql.schema import alias_history, aliases, evidence, model_versions, models

# Single-version look-ups are the hot path (every prediction resolves an alias): their
# statements are built once with bind parameters, so SQLAlchemy only looks up its cache.
_VERSIONS = select(model_versions, models.c.name).join(
    models, models.c.id == model_versions.c.model_id
)
_BY_NUMBER = _VERSIONS.where(
    models.c.name == bindparam("name"), model_versions.c.version == bindparam("version")
)
_BY_ALIAS = _VERSIONS.where(
    models.c.name == bindparam("name"),
    model_versions.c.version
    == select(aliases.c.version)
    .where(aliases.c.model_id == models.c.id, aliases.c.alias == bindparam("alias"))
    .scalar_subquery(),
)
_LATEST = _VERSIONS.where(
    models.c.name == bindparam("name"), model_versions.c.version == models.c.last_version
)
# what serves: the version behind ``production``, else the latest (Warden.serving_version)
_SERVING = _VERSIONS.where(
    model_versions.c.version
    == func.coalesce(
        select(aliases.c.version)
        .where(aliases.c.model_id == models.c.id, aliases.c.alias == "production")
        .scalar_subquery(),
        models.c.last_version,
    )
)
IN_CHUNK = 1000  # names per IN list (bounded parameter count)
_ALIASES_OF = select(aliases.c.alias).where(
    aliases.c.model_id == bindparam("model_id"), aliases.c.version == bindparam("version")
)
_EVIDENCE_OF = select(evidence.c.kind, evidence.c.sha256, evidence.c.provenance).where(
    evidence.c.version_id == bindparam("version_id")
)


def content_sha256(content: dict[str, Any]) -> str:
    canonical = json.dumps(content, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


class SqlRegistryStore(RegistryStore):
    def __init__(self, db: Database) -> None:
        self.db = db

    # -- models ---------------------------------------------------------------------------

    def _model_row(self, conn: Connection, name: str, *, lock: bool = False) -> Row:
        query = select(models).where(models.c.name == name)
        if lock and not self.db.is_sqlite:
            query = query.with_for_update()
        row = conn.execute(query).first()
        if row is None:
            raise NotFound(f"model {name!r} does not exist", model=name)
        return row

    def _to_model(self, conn: Connection, row: Row) -> Model:
        alias_rows = conn.execute(
            select(aliases.c.alias, aliases.c.version).where(aliases.c.model_id == row.id)
        )
        return Model(
            name=row.name,
            owner=row.owner,
            risk_tier=row.risk_tier,
            intended_use=row.intended_use,
            description=row.description,
            tags=row.tags or {},
            created_at=as_utc(row.created_at),
            created_by=row.created_by,
            latest_version=row.last_version or None,
            aliases={a: v for a, v in sorted(alias_rows)},
        )

    def get_or_create_model(self, spec: NewModel, actor: str) -> tuple[Model, bool]:
        values = {
            "name": spec.name,
            "owner": spec.owner,
            "risk_tier": spec.risk_tier,
            "intended_use": spec.intended_use,
            "description": spec.description,
            "tags": dict(spec.tags),
            "created_at": utcnow(),
            "created_by": actor,
            "last_version": 0,
        }
        insert = self.db.insert(models)
        with self.db.transaction() as conn:
            # ON CONFLICT DO NOTHING: two first registrations race safely on both databases
            # RETURNING says whether this insert made the row (psycopg's rowcount does not)
            stmt = insert.values(**values).on_conflict_do_nothing().returning(models.c.id)
            created = conn.execute(stmt).first() is not None
            return self._to_model(conn, self._model_row(conn, spec.name)), created

    def update_model(self, name: str, changes: dict[str, Any]) -> Model:
        with self.db.transaction() as conn:
            row = self._model_row(conn, name)
            conn.execute(models.update().where(models.c.id == row.id).values(**changes))
            return self._to_model(conn, self._model_row(conn, name))

    def model_id(self, name: str) -> int:
        with self.db.reading() as conn:
            return self._model_row(conn, name).id

    def get_model(self, name: str) -> Model:
        with self.db.reading() as conn:
            return self._to_model(conn, self._model_row(conn, name))

    def list_models(self) -> list[Model]:
        with self.db.reading() as conn:
            rows = conn.execute(select(models).order_by(models.c.name)).all()
            all_aliases: dict[int, dict[str, int]] = {}
            for model_id, alias, version in conn.execute(
                select(aliases.c.model_id, aliases.c.alias, aliases.c.version)
            ):
                all_aliases.setdefault(model_id, {})[alias] = version
            return [
                Model(
                    name=r.name,
                    owner=r.owner,
                    risk_tier=r.risk_tier,
                    intended_use=r.intended_use,
                    description=r.description,
                    tags=r.tags or {},
                    created_at=as_utc(r.created_at),
                    created_by=r.created_by,
                    latest_version=r.last_version or None,
                    aliases=dict(sorted(all_aliases.get(r.id, {}).items())),
                )
                for r in rows
            ]

    def model_ids(self, names: list[str]) -> dict[str, int]:
        wanted = sorted(set(names))
        found: dict[str, int] = {}
        with self.db.reading() as conn:
            for i in range(0, len(wanted), IN_CHUNK):
                query = select(models.c.name, models.c.id).where(
                    models.c.name.in_(wanted[i : i + IN_CHUNK])
                )
                found.update({name: model_id for name, model_id in conn.execute(query)})
        return found

    def serving_versions(self, names: list[str] | None = None) -> list[ModelVersion]:
        wanted = sorted(set(names)) if names is not None else None
        parts = (
            [None]
            if wanted is None
            else [wanted[i : i + IN_CHUNK] for i in range(0, len(wanted), IN_CHUNK)]
        )
        found: list[ModelVersion] = []
        with self.db.reading() as conn:
            for part in parts:
                query = _SERVING if part is None else _SERVING.where(models.c.name.in_(part))
                rows = conn.execute(query).all()
                for i in range(0, len(rows), IN_CHUNK):  # their aliases and evidence, bounded
                    found.extend(self._to_versions(conn, rows[i : i + IN_CHUNK]))
        return sorted(found, key=lambda mv: mv.name)

    # -- versions -------------------------------------------------------------------------

    def create_version(
        self, name: str, spec: NewVersion, evidence_items: dict[str, dict[str, Any]], actor: str
    ) -> ModelVersion:
        with self.db.transaction() as conn:
            model = self._model_row(conn, name)
            # UPDATE … RETURNING takes the row lock: concurrent registrations get
            # consecutive, distinct numbers on PostgreSQL and SQLite alike.
            number = conn.execute(
                update(models)
                .where(models.c.id == model.id)
                .values(last_version=models.c.last_version + 1)
                .returning(models.c.last_version)
            ).scalar_one()
            now = utcnow()
            version_id = conn.execute(
                model_versions.insert()
                .values(
                    model_id=model.id,
                    version=number,
                    artifact_sha256=spec.artifact_sha256,
                    artifact_size=spec.artifact_size,
                    flavor=spec.flavor,
                    flavor_info=spec.flavor_info,
                    signature=spec.signature,
                    lineage=spec.lineage,
                    metrics=spec.metrics,
                    params=spec.params,
                    status=spec.status,
                    description=spec.description,
                    created_at=now,
                    created_by=actor,
                    metrics_provenance={
                        k: spec.provenance.get(f"metrics.{k}", MEASURED) for k in spec.metrics
                    },
                )
                .returning(model_versions.c.id)
            ).scalar_one()
            if evidence_items:  # a new version has no evidence yet: one multi-row insert
                conn.execute(
                    evidence.insert(),
                    [
                        {
                            "version_id": version_id,
                            "kind": kind,
                            "sha256": content_sha256(content),
                            "content": content,
                            "created_at": now,
                            "provenance": spec.provenance.get(kind, MEASURED),
                        }
                        for kind, content in evidence_items.items()
                    ],
                )
            return self.get_version(name, number)

    def _to_version(
        self, row: Row, alias_names: list[str], kinds: dict[str, tuple[str, str]]
    ) -> ModelVersion:
        """``kinds``: evidence kind -> (sha256, provenance)."""
        metric_prov = row.metrics_provenance or {}
        provenance = {f"metrics.{k}": metric_prov.get(k, MEASURED) for k in row.metrics}
        provenance.update({kind: prov for kind, (_, prov) in kinds.items()})
        return ModelVersion(
            name=row.name,
            version=row.version,
            artifact_sha256=row.artifact_sha256,
            artifact_size=row.artifact_size,
            flavor=row.flavor,
            flavor_info=row.flavor_info,
            signature=row.signature,
            lineage=row.lineage,
            metrics=row.metrics,
            params=row.params,
            status=row.status,
            created_at=as_utc(row.created_at),
            created_by=row.created_by,
            description=row.description,
            aliases=tuple(sorted(alias_names)),
            evidence={kind: digest for kind, (digest, _) in sorted(kinds.items())},
            provenance=dict(sorted(provenance.items())),
        )

    def _to_versions(self, conn: Connection, rows: Sequence[Row]) -> list[ModelVersion]:
        if not rows:
            return []
        alias_map: dict[tuple[int, int], list[str]] = {}
        for model_id, alias, version in conn.execute(
            select(aliases.c.model_id, aliases.c.alias, aliases.c.version).where(
                aliases.c.model_id.in_({r.model_id for r in rows})
            )
        ):
            alias_map.setdefault((model_id, version), []).append(alias)
        evidence_map: dict[int, dict[str, tuple[str, str]]] = {}
        for version_id, kind, digest, prov in conn.execute(
            select(
                evidence.c.version_id, evidence.c.kind, evidence.c.sha256, evidence.c.provenance
            ).where(evidence.c.version_id.in_([r.id for r in rows]))
        ):
            evidence_map.setdefault(version_id, {})[kind] = (digest, prov)
        return [
            self._to_version(
                r, alias_map.get((r.model_id, r.version), []), evidence_map.get(r.id, {})
            )
            for r in rows
        ]

    def _one_version(
        self, name: str, statement: Any, params: dict[str, Any], missing: str
    ) -> ModelVersion:
        with self.db.reading() as conn:
            row = conn.execute(statement, {"name": name, **params}).first()
            if row is None:
                self._model_row(conn, name)  # NotFound for the model itself comes first
                raise NotFound(missing, model=name)
            alias_names = list(
                conn.execute(
                    _ALIASES_OF, {"model_id": row.model_id, "version": row.version}
                ).scalars()
            )
            kinds = {
                k: (digest, prov)
                for k, digest, prov in conn.execute(_EVIDENCE_OF, {"version_id": row.id})
            }
            return self._to_version(row, alias_names, kinds)

    def get_version(self, name: str, version: int) -> ModelVersion:
        return self._one_version(
            name, _BY_NUMBER, {"version": version}, f"model {name!r} has no version {version}"
        )

    def latest_version(self, name: str) -> ModelVersion:
        return self._one_version(name, _LATEST, {}, f"model {name!r} has no versions yet")

    def resolve_alias(self, name: str, alias: str) -> ModelVersion:
        return self._one_version(
            name, _BY_ALIAS, {"alias": alias}, f"model {name!r} has no alias {alias!r}"
        )

    def list_versions(self, name: str) -> list[ModelVersion]:
        with self.db.reading() as conn:
            model = self._model_row(conn, name)
            rows = conn.execute(
                _VERSIONS.where(model_versions.c.model_id == model.id).order_by(
                    model_versions.c.version
                )
            ).all()
            return self._to_versions(conn, rows)

    def set_status(self, name: str, version: int, status: str) -> None:
        with self.db.transaction() as conn:
            model = self._model_row(conn, name)
            done = conn.execute(
                update(model_versions)
                .where(model_versions.c.model_id == model.id, model_versions.c.version == version)
                .values(status=status)
            ).rowcount
            if not done:
                raise NotFound(f"model {name!r} has no version {version}", model=name)

    # -- aliases --------------------------------------------------------------------------

    def move_alias(
        self,
        name: str,
        alias: str,
        version: int | None,
        *,
        actor: str,
        action: str,
        reason: str | None = None,
        expect_version: Any = ...,
    ) -> AliasChange:
        with self.db.transaction() as conn:
            model = self._model_row(conn, name, lock=True)
            if version is not None:
                exists = conn.execute(
                    select(model_versions.c.id).where(
                        model_versions.c.model_id == model.id, model_versions.c.version == version
                    )
                ).first()
                if exists is None:
                    raise NotFound(f"model {name!r} has no version {version}", model=name)
            current = conn.execute(
                select(aliases.c.version).where(
                    aliases.c.model_id == model.id, aliases.c.alias == alias
                )
            ).scalar_one_or_none()
            if expect_version is not ... and current != expect_version:
                raise Conflict(
                    f"alias {name}@{alias} moved concurrently (now {current}, "
                    f"expected {expect_version})",
                    model=name,
                    alias=alias,
                )
            if version is None and current is None:
                raise NotFound(f"model {name!r} has no alias {alias!r}", model=name)
            now = utcnow()
            conn.execute(
                delete(aliases).where(aliases.c.model_id == model.id, aliases.c.alias == alias)
            )
            if version is not None:
                conn.execute(
                    aliases.insert().values(
                        model_id=model.id,
                        alias=alias,
                        version=version,
                        updated_at=now,
                        updated_by=actor,
                    )
                )
            conn.execute(
                alias_history.insert().values(
                    model_id=model.id,
                    alias=alias,
                    from_version=current,
                    to_version=version,
                    action=action,
                    actor=actor,
                    reason=reason,
                    at=now,
                )
            )
            return AliasChange(name, alias, current, version, action, actor, reason, now)

    def alias_history(self, name: str, alias: str | None = None) -> list[AliasChange]:
        with self.db.reading() as conn:
            model = self._model_row(conn, name)
            query = select(alias_history).where(alias_history.c.model_id == model.id)
            if alias is not None:
                query = query.where(alias_history.c.alias == alias)
            rows = conn.execute(query.order_by(alias_history.c.id)).all()
            return [
                AliasChange(
                    name,
                    r.alias,
                    r.from_version,
                    r.to_version,
                    r.action,
                    r.actor,
                    r.reason,
                    as_utc(r.at),
                )
                for r in rows
            ]

    # -- evidence -------------------------------------------------------------------------

    def _version_id(self, conn: Connection, name: str, version: int) -> int:
        model = self._model_row(conn, name)
        version_id = conn.execute(
            select(model_versions.c.id).where(
                model_versions.c.model_id == model.id, model_versions.c.version == version
            )
        ).scalar_one_or_none()
        if version_id is None:
            raise NotFound(f"model {name!r} has no version {version}", model=name)
        return version_id

    def _upsert_evidence(
        self, conn: Connection, version_id: int, kind: str, content: dict[str, Any]
    ) -> str:
        digest = content_sha256(content)
        conn.execute(
            delete(evidence).where(evidence.c.version_id == version_id, evidence.c.kind == kind)
        )
        conn.execute(
            evidence.insert().values(
                version_id=version_id,
                kind=kind,
                sha256=digest,
                content=content,
                created_at=utcnow(),
            )
        )
        return digest

    def evidence_of(
        self, versions: list[tuple[str, int]], kinds: list[str]
    ) -> dict[tuple[str, int, str], dict[str, Any]]:
        wanted = set(versions)
        names = sorted({name for name, _ in wanted})
        found: dict[tuple[str, int, str], dict[str, Any]] = {}
        with self.db.reading() as conn:
            for start in range(0, len(names), 1000):  # bounded IN lists
                rows = conn.execute(
                    select(
                        models.c.name, model_versions.c.version, evidence.c.kind, evidence.c.content
                    )
                    .join(model_versions, model_versions.c.model_id == models.c.id)
                    .join(evidence, evidence.c.version_id == model_versions.c.id)
                    .where(
                        models.c.name.in_(names[start : start + 1000]), evidence.c.kind.in_(kinds)
                    )
                )
                for name, version, kind, content in rows:
                    if (name, version) in wanted:
                        found[(name, version, kind)] = content
        return found

    def put_evidence(self, name: str, version: int, kind: str, content: dict[str, Any]) -> str:
        with self.db.transaction() as conn:
            return self._upsert_evidence(conn, self._version_id(conn, name, version), kind, content)

    def get_evidence(self, name: str, version: int, kind: str) -> dict[str, Any]:
        with self.db.reading() as conn:
            version_id = self._version_id(conn, name, version)
            content = conn.execute(
                select(evidence.c.content).where(
                    evidence.c.version_id == version_id, evidence.c.kind == kind
                )
            ).scalar_one_or_none()
            if content is None:
                raise NotFound(f"{name}@{version} has no {kind!r} evidence", model=name, kind=kind)
            return content
