"""Backend conformance suite: every store contract (the abstract bases in ``mlwarden.store``)
checked against its SQL implementation, on SQLite and on PostgreSQL (``store_uri``).

Each test states one documented behaviour of an abstract method: round trips, not-found
errors, ordering, atomicity, races. A new backend passes when this file passes against it;
a new primitive must get a test here (``test_every_primitive_has_a_contract_test``).
"""

from __future__ import annotations

import ast
import inspect
import os
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from mlwarden.entities.agents import ToolCall, Verdict
from mlwarden.entities.policy import Decision, RuleResult
from mlwarden.errors import AlreadyExists, Conflict, NotFound
from mlwarden.store.access_store import AccessStore
from mlwarden.store.alert_store import AlertStore
from mlwarden.store.decision_store import DecisionStore
from mlwarden.store.finding_store import FindingStore
from mlwarden.store.gate_store import GateStore
from mlwarden.store.ingest_store import IngestStore
from mlwarden.store.job_store import Job, JobStore
from mlwarden.store.overview_store import OverviewStore
from mlwarden.store.permission_store import PermissionStore
from mlwarden.store.prediction_store import MonitorStore, PredictionStore
from mlwarden.store.registry_store import NewModel, NewVersion, RegistryStore
from mlwarden.store.review_store import ReviewStore
from mlwarden.store.sql.access import SqlAccessStore
from mlwarden.store.sql.alerts import SqlAlertStore
from mlwarden.store.sql.database import Database
from mlwarden.store.sql.findings import SqlFindingStore
from mlwarden.store.sql.gates import SqlGateStore
from mlwarden.store.sql.ingest import SqlIngestStore
from mlwarden.store.sql.jobs import SqlJobStore
from mlwarden.store.sql.overview import SqlOverviewStore
from mlwarden.store.sql.permissions import SqlPermissionStore
from mlwarden.store.sql.policy import SqlDecisionStore
from mlwarden.store.sql.predictions import SqlMonitorStore, SqlPredictionStore, new_ids
from mlwarden.store.sql.registry import SqlRegistryStore
from mlwarden.store.sql.reviews import SqlReviewStore
from mlwarden.store.sql.tool_calls import SqlToolCallStore
from mlwarden.store.sql.vault import SubjectVault
from mlwarden.store.tool_call_store import ToolCallStore

SRC = Path(__file__).resolve().parents[2] / "src" / "mlwarden"
CONTRACTS = (
    AccessStore,
    AlertStore,
    DecisionStore,
    FindingStore,
    GateStore,
    IngestStore,
    JobStore,
    MonitorStore,
    OverviewStore,
    PermissionStore,
    PredictionStore,
    RegistryStore,
    ToolCallStore,
    ReviewStore,
)
T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


@pytest.fixture
def db(store_uri: str) -> Iterator[Database]:
    database = Database(store_uri)
    yield database
    database.dispose()


@pytest.fixture
def registry(db: Database) -> RegistryStore:
    return SqlRegistryStore(db)


def _model(registry: RegistryStore, name: str = "credit") -> int:
    spec = NewModel(name, "ops", "medium", None, None, {})
    registry.get_or_create_model(spec, "alice")
    return registry.model_id(name)


@pytest.fixture
def model_id(registry: RegistryStore) -> int:
    return _model(registry)


# ------------------------------------------------------------------------------ structure


def test_every_table_is_defined_in_the_schema_module() -> None:
    """One schema module: no other module builds a SQLAlchemy ``Table``."""
    offenders = []
    for path in SRC.rglob("*.py"):
        if path == SRC / "store" / "sql" / "schema.py":
            continue
        tree = ast.parse(path.read_text())
        imported = {
            alias.asname or alias.name
            for node in ast.walk(tree)
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("sqlalchemy")
            for alias in node.names
        }
        if "Table" in imported or "MetaData" in imported:
            offenders.append(str(path.relative_to(SRC)))
    assert offenders == []


def test_every_sql_store_implements_a_contract() -> None:
    stores = {
        SqlAccessStore: AccessStore,
        SqlAlertStore: AlertStore,
        SqlDecisionStore: DecisionStore,
        SqlFindingStore: FindingStore,
        SqlGateStore: GateStore,
        SqlIngestStore: IngestStore,
        SqlJobStore: JobStore,
        SqlMonitorStore: MonitorStore,
        SqlOverviewStore: OverviewStore,
        SqlPermissionStore: PermissionStore,
        SqlPredictionStore: PredictionStore,
        SqlRegistryStore: RegistryStore,
        SqlToolCallStore: ToolCallStore,
        SqlReviewStore: ReviewStore,
    }
    for impl, base in stores.items():
        assert issubclass(impl, base)
        assert not impl.__abstractmethods__, impl  # type: ignore[attr-defined]
        assert inspect.getmodule(base).__name__.startswith("mlwarden.store.")  # type: ignore[union-attr]
        assert ".sql." not in inspect.getmodule(base).__name__  # type: ignore[union-attr]
    # and every Sql*Store class in store/sql is one of them
    found = {
        node.name
        for path in (SRC / "store" / "sql").glob("*.py")
        for node in ast.walk(ast.parse(path.read_text()))
        if isinstance(node, ast.ClassDef) and node.name.endswith("Store")
    }
    assert found == {cls.__name__ for cls in stores}


def test_every_primitive_has_a_contract_test() -> None:
    """Each abstract method is called somewhere in this suite."""
    source = Path(__file__).read_text()
    missing = [
        f"{base.__name__}.{name}"
        for base in CONTRACTS
        for name in sorted(base.__abstractmethods__)  # type: ignore[attr-defined]
        if f".{name}(" not in source
    ]
    assert missing == []


# ------------------------------------------------------------------------------ registry


def _version(sha: str = "a", **kw: Any) -> NewVersion:
    fields: dict[str, Any] = dict(
        artifact_sha256=sha * 64,
        artifact_size=10,
        flavor="sklearn",
        flavor_info={"library": "1.5"},
        signature={"inputs": [{"name": "x", "type": "double"}]},
        lineage={"commit": "abc"},
        metrics={"auc": 0.9},
        params={"C": 1.0},
    )
    return NewVersion(**{**fields, **kw})


def test_registry_models_round_trip_update_and_not_found(registry: RegistryStore) -> None:
    spec = NewModel("credit", "ops", "high", "scoring", "a model", {"team": "risk"})
    model, created = registry.get_or_create_model(spec, "alice")
    assert created and (model.name, model.risk_tier, model.tags) == ("credit", "high", spec.tags)
    assert model.latest_version is None and model.created_by == "alice"
    again, created = registry.get_or_create_model(spec, "bob")
    assert not created and again.created_by == "alice"
    registry.get_or_create_model(NewModel("churn", None, "low", None, None, {}), "alice")
    assert [m.name for m in registry.list_models()] == ["churn", "credit"]
    changed = registry.update_model("credit", {"owner": "risk-team", "tags": {"a": "b"}})
    assert (changed.owner, changed.tags, changed.description) == (
        "risk-team",
        {"a": "b"},
        "a model",
    )
    assert registry.get_model("credit") == changed
    assert registry.model_id("credit") != registry.model_id("churn")
    for call in (registry.get_model, registry.model_id, registry.latest_version):
        with pytest.raises(NotFound):
            call("nope")


def test_registry_versions_number_evidence_and_status(registry: RegistryStore) -> None:
    _model(registry)
    one = registry.create_version("credit", _version("a"), {"profile": {"rows": 3}}, "dave")
    two = registry.create_version(
        "credit", _version("b", provenance={"metrics.auc": "asserted"}), {}, "dave"
    )
    assert (one.version, two.version) == (1, 2)
    assert one.metrics == {"auc": 0.9} and one.status == "registered"
    assert set(one.evidence) == {"profile"} and two.provenance["metrics.auc"] == "asserted"
    assert registry.get_version("credit", 1) == one
    assert registry.latest_version("credit").version == 2
    assert [v.version for v in registry.list_versions("credit")] == [1, 2]
    assert registry.get_evidence("credit", 1, "profile") == {"rows": 3}
    digest = registry.put_evidence("credit", 1, "profile", {"rows": 4})
    assert registry.get_evidence("credit", 1, "profile") == {"rows": 4}
    assert registry.get_version("credit", 1).evidence["profile"] == digest
    registry.set_status("credit", 1, "archived")
    assert registry.get_version("credit", 1).status == "archived"
    with pytest.raises(NotFound):
        registry.get_version("credit", 3)
    with pytest.raises(NotFound):
        registry.get_evidence("credit", 2, "profile")
    with pytest.raises(NotFound):
        registry.create_version("nope", _version(), {}, "dave")


def test_registry_evidence_of_many_versions_in_one_read(registry: RegistryStore) -> None:
    """What each version holds, by (name, version, kind); what it lacks is absent, and
    versions or kinds not asked for are not read."""
    _model(registry)
    _model(registry, "churn")
    registry.create_version("credit", _version("a"), {"profile": {"rows": 3}}, "dave")
    registry.create_version(
        "credit", _version("b"), {"profile": {"rows": 5}, "calibration": {"ok": 1}}, "dave"
    )
    registry.create_version("churn", _version("c"), {"calibration": {"ok": 2}}, "dave")
    found = registry.evidence_of(
        [("credit", 2), ("churn", 1), ("nope", 1)], ["profile", "calibration"]
    )
    assert found == {
        ("credit", 2, "profile"): {"rows": 5},
        ("credit", 2, "calibration"): {"ok": 1},
        ("churn", 1, "calibration"): {"ok": 2},
    }
    assert registry.evidence_of([("credit", 1)], ["calibration"]) == {}
    assert registry.evidence_of([], ["profile"]) == {}


def test_registry_serving_versions_and_model_ids_of_many_models(registry: RegistryStore) -> None:
    """What serves each model, in one read: ``production``'s version, else the latest; a
    model without versions is left out; ``names`` filters; equal to the one-model reads."""
    for name in ("credit", "churn", "empty"):
        _model(registry, name)
    for sha in "ab":
        registry.create_version("credit", _version(sha), {"profile": {"rows": 1}}, "dave")
    registry.create_version("churn", _version("c"), {}, "dave")
    registry.move_alias("credit", "production", 1, actor="vera", action="promote")
    found = registry.serving_versions()
    assert [(mv.name, mv.version) for mv in found] == [("churn", 1), ("credit", 1)]
    assert found == [
        registry.get_version("churn", 1),
        registry.resolve_alias("credit", "production"),
    ]
    assert [mv.ref for mv in registry.serving_versions(["credit", "empty", "nope"])] == ["credit@1"]
    assert registry.serving_versions([]) == []
    assert registry.model_ids(["credit", "churn", "nope"]) == {
        "credit": registry.model_id("credit"),
        "churn": registry.model_id("churn"),
    }


def test_registry_concurrent_versions_are_consecutive(registry: RegistryStore) -> None:
    _model(registry)
    numbers: list[int] = []
    threads = [
        threading.Thread(
            target=lambda: numbers.append(
                registry.create_version("credit", _version(), {}, "dave").version
            )
        )
        for _ in range(6)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(numbers) == [1, 2, 3, 4, 5, 6]


def test_registry_aliases_move_compare_and_set_history(registry: RegistryStore) -> None:
    _model(registry)
    for sha in "ab":
        registry.create_version("credit", _version(sha), {}, "dave")
    first = registry.move_alias("credit", "production", 1, actor="vera", action="promote")
    assert (first.from_version, first.to_version) == (None, 1)
    assert registry.resolve_alias("credit", "production").version == 1
    with pytest.raises(Conflict):  # compare-and-set: someone else moved it
        registry.move_alias(
            "credit", "production", 2, actor="vera", action="promote", expect_version=None
        )
    registry.move_alias("credit", "production", 2, actor="vera", action="promote", expect_version=1)
    registry.move_alias("credit", "staging", 1, actor="dave", action="set")
    registry.move_alias("credit", "production", None, actor="alice", action="remove", reason="x")
    with pytest.raises(NotFound):
        registry.resolve_alias("credit", "production")
    with pytest.raises(NotFound):
        registry.move_alias("credit", "production", 7, actor="vera", action="promote")
    moves = registry.alias_history("credit", "production")
    assert [(m.from_version, m.to_version) for m in moves] == [(None, 1), (1, 2), (2, None)]
    assert moves[-1].reason == "x" and len(registry.alias_history("credit")) == 4
    assert registry.get_model("credit").aliases == {"staging": 1}


# ------------------------------------------------------------------------------ access


@pytest.fixture
def access(db: Database) -> AccessStore:
    return SqlAccessStore(db)


def test_access_users_round_trip_and_order(access: AccessStore) -> None:
    assert not access.any_users() and access.count_users() == 0
    vera = access.create_user("vera", "validator", "root")
    access.create_user("alice", "admin", "root")
    assert (vera.name, vera.role, vera.created_by, vera.disabled) == (
        "vera",
        "validator",
        "root",
        False,
    )
    assert access.get_user("vera") == vera
    assert access.get_user("nobody") is None
    assert [u.name for u in access.list_users()] == ["alice", "vera"]
    assert access.any_users() and access.count_users() == 2


def test_access_set_role_changes_only_that_user(access: AccessStore) -> None:
    access.create_user("vera", "validator", "root")
    access.create_user("alice", "admin", "root")
    changed = access.set_role("vera", "none")
    assert (changed.name, changed.role) == ("vera", "none")
    assert access.get_user("vera") == changed and access.get_user("alice").role == "admin"  # type: ignore[union-attr]
    with pytest.raises(NotFound):
        access.set_role("nobody", "viewer")


def test_permissions_teams_ownership_and_grants(db: Database, registry: RegistryStore) -> None:
    from mlwarden.entities.access import Grant

    perms = SqlPermissionStore(db)
    _model(registry, "credit")
    _model(registry, "churn")
    perms.create_team("risk", "root")
    perms.create_team("growth", "root")
    with pytest.raises(AlreadyExists):
        perms.create_team("risk", "root")
    assert perms.list_teams() == ["growth", "risk"]
    assert perms.model_team("credit") is None
    perms.set_model_team("credit", "growth")
    perms.set_model_team("credit", "risk")  # one owner: moved, not added
    assert perms.model_team("credit") == "risk"
    assert perms.model_teams() == {"credit": "risk"}  # churn has no owner
    perms.set_model_team("churn", "growth")
    assert perms.model_teams() == {"credit": "risk", "churn": "growth"}
    with pytest.raises(NotFound):
        perms.set_model_team("nope", "risk")
    with pytest.raises(NotFound):
        perms.set_model_team("credit", "nope")
    on_team = perms.add_grant(Grant("vic", "team", "risk", "allow", "developer", created_by="root"))
    assert (on_team.where, on_team.created_by) == ("team:risk", "root")
    perms.add_grant(Grant("vic", "model", "credit", "deny", "alias.set", created_by="root"))
    perms.add_grant(Grant("vic", "model", "churn", "allow", "admin", created_by="root"))
    perms.add_grant(Grant("eve", "model", "credit", "allow", "viewer", created_by="root"))
    with pytest.raises(AlreadyExists):
        perms.add_grant(Grant("vic", "team", "risk", "allow", "developer", created_by="root"))
    assert [(g.where, g.what) for g in perms.grants_on("vic", "credit")] == [
        ("team:risk", "developer"),
        ("model:credit", "alias.set"),
    ]
    assert [g.what for g in perms.grants_on("vic", "churn")] == ["admin"]
    assert [g.user for g in perms.list_grants()] == ["eve", "vic", "vic", "vic"]
    assert len(perms.list_grants("vic")) == 3
    assert perms.remove_grant(Grant("vic", "team", "risk", "allow", "developer"))
    assert not perms.remove_grant(Grant("vic", "team", "risk", "allow", "developer"))
    assert [g.what for g in perms.grants_on("vic", "credit")] == ["alias.set"]


def test_access_duplicate_user_is_refused_and_changes_nothing(access: AccessStore) -> None:
    access.create_user("vera", "validator", "root")
    with pytest.raises(AlreadyExists) as err:
        access.create_user("vera", "admin", "root")
    assert err.value.details["field"] == "name"
    assert access.get_user("vera").role == "validator"  # type: ignore[union-attr]
    assert access.count_users() == 1


def test_access_tokens_round_trip_revoke_and_not_found(access: AccessStore) -> None:
    dave = access.create_user("dave", "developer", "root")
    expires = T0 + timedelta(days=30)
    token = access.create_token(dave.id, "mlw_ab", "a" * 64, expires, "ci")
    second = access.create_token(dave.id, "mlw_cd", "b" * 64, None, None, "model:x:read")
    assert (token.user, token.prefix, token.description) == ("dave", "mlw_ab", "ci")
    assert (token.scope, second.scope) == (None, "model:x:read")
    assert token.expires_at == expires and token.revoked_at is None
    assert token.last_used_at is None
    assert access.get_token(token.id) == token
    found = access.find_token("a" * 64)
    assert found is not None and found[0] == token and found[1] == dave
    assert access.find_token("c" * 64) is None
    assert [t.id for t in access.list_tokens()] == [token.id, second.id]
    assert [t.id for t in access.list_tokens("dave")] == [token.id, second.id]
    assert access.list_tokens("nobody") == []

    access.touch_token(token.id)
    assert access.get_token(token.id).last_used_at is not None
    revoked = access.revoke_token(token.id)
    assert revoked.revoked_at is not None
    assert access.revoke_token(token.id).revoked_at == revoked.revoked_at  # the first time stays
    for call in (access.get_token, access.revoke_token):
        with pytest.raises(NotFound) as err:
            call(999_999)
        assert err.value.details["field"] == "id"


def test_access_sessions_round_trip_and_revoke(access: AccessStore) -> None:
    vic = access.create_user("vic", "viewer", "root")
    token = access.create_token(vic.id, "mlw_vi", "d" * 64, None, None)
    expires = datetime.now(UTC) + timedelta(hours=8)
    access.create_session("s" * 64, vic.id, token.id, expires)
    found = access.find_session("s" * 64)
    assert found is not None
    assert found[0] == expires and found[1] is None
    assert found[2].id == token.id and found[3].name == "vic"
    assert access.find_session("x" * 64) is None
    access.revoke_session("s" * 64)
    first = access.find_session("s" * 64)[1]  # type: ignore[index]
    assert first is not None
    access.revoke_session("s" * 64)
    assert access.find_session("s" * 64)[1] == first  # type: ignore[index]
    access.revoke_session("x" * 64)  # unknown: ignored


def test_access_approvals_round_trip_order_and_duplicates(
    access: AccessStore, model_id: int
) -> None:
    first = access.add_approval("credit", 1, "vera", "validator", "looks fine")
    access.add_approval("credit", 1, "alice", "admin", None)
    access.add_approval("credit", 2, "vera", "validator", None)
    assert (first.model, first.version, first.approver, first.comment) == (
        "credit",
        1,
        "vera",
        "looks fine",
    )
    assert [a.approver for a in access.list_approvals("credit", 1)] == ["vera", "alice"]
    with pytest.raises(AlreadyExists) as err:
        access.add_approval("credit", 1, "vera", "validator", "again")
    assert err.value.details["field"] == "approver"
    assert [a.comment for a in access.list_approvals("credit", 1)] == ["looks fine", None]
    assert access.list_approvals("credit", 3) == []


# ------------------------------------------------------------------------------ decisions


def _decision(passed: bool = True, **kw: Any) -> Decision:
    rule = RuleResult("auc", "block", "pass" if passed else "fail", "auc ok", {"auc": 0.9})
    fields: dict[str, Any] = dict(
        policy="default",
        policy_sha256="f" * 64,
        ref="credit@1",
        passed=passed,
        applies=True,
        results=(rule,),
        time=T0,
        actor="vera",
        purpose="check",
    )
    return Decision(**{**fields, **kw})


def test_decisions_round_trip_order_and_not_found(db: Database, model_id: int) -> None:
    store: DecisionStore = SqlDecisionStore(db)
    first = store.add("credit", 1, _decision())
    second = store.add("credit", 1, _decision(False, purpose="promote", policy_version=3))
    other = store.add("credit", 2, _decision(inline=True, purpose="dry-run"))
    assert first.id is not None and first.id < second.id < other.id  # type: ignore[operator]
    got = store.get(second.id)  # type: ignore[arg-type]
    assert (got.passed, got.purpose, got.policy_version, got.inline) == (
        False,
        "promote",
        3,
        False,
    )
    assert got.results[0].values == {"auc": 0.9} and got.time == T0
    assert [d.id for d in store.list("credit")] == [other.id, second.id, first.id]
    assert [d.id for d in store.list("credit", 1)] == [second.id, first.id]
    assert [d.id for d in store.list("credit", limit=1)] == [other.id]
    assert store.list("credit", 9) == []
    with pytest.raises(NotFound):
        store.get(999_999)
    with pytest.raises(NotFound):
        store.add("nope", 1, _decision())


# ------------------------------------------------------------------------------ gates


def test_gates_install_versions_dedup_and_newest(db: Database) -> None:
    store: GateStore = SqlGateStore(db)
    one, created = store.install("strict", "rules: []", "1" * 64, "alice", T0)
    assert created and one.version == 1
    again, created = store.install("strict", "rules: []", "1" * 64, "alice", T0)
    assert not created and again.version == 1  # same text: not stored twice
    two, created = store.install("strict", "rules: [x]", "2" * 64, "alice", T0)
    assert created and two.version == 2
    store.install("basic", "rules: []", "3" * 64, "alice", T0)
    assert store.get("strict") == two
    assert store.get("strict", 1) == one and one.source == "rules: []"
    assert store.get("strict", 7) is None and store.get("nope") is None
    assert [(p.name, p.version) for p in store.newest()] == [("basic", 1), ("strict", 2)]


def test_gates_concurrent_installs_never_share_a_version(db: Database) -> None:
    store: GateStore = SqlGateStore(db)
    outcomes: list[Any] = []

    def install(i: int) -> None:
        try:
            outcomes.append(store.install("race", f"v{i}", f"{i:064d}", "alice", T0)[0].version)
        except Conflict:
            outcomes.append("conflict")

    threads = [threading.Thread(target=install, args=(i,)) for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    versions = [o for o in outcomes if o != "conflict"]
    assert len(versions) == len(set(versions)) and versions
    assert sorted(versions) == list(range(1, len(versions) + 1))  # no gaps


def test_gates_bindings_replace_unbind_and_not_found(db: Database, model_id: int) -> None:
    store: GateStore = SqlGateStore(db)
    store.bind("alias:production", "strict", "alice", T0)
    store.bind("risk_tier:high", "strict", "alice", T0)
    replaced = store.bind("alias:production", "basic", "alice", T0)
    assert store.binding("alias:production") == replaced and replaced.policy == "basic"
    assert [b.target for b in store.bindings()] == ["alias:production", "risk_tier:high"]
    assert store.unbind("risk_tier:high").policy == "strict"
    assert store.binding("risk_tier:high") is None
    with pytest.raises(NotFound):
        store.unbind("risk_tier:high")
    assert store.set_risk_tier("credit", "high") == "medium"
    assert store.set_risk_tier("credit", "low") == "high"
    with pytest.raises(NotFound):
        store.set_risk_tier("nope", "high")


# ------------------------------------------------------------------------------ alerts


def _open(store: AlertStore, model_id: int, fingerprint: str = "fp", **kw: Any) -> Any:
    fields: dict[str, Any] = dict(
        fingerprint=fingerprint,
        policy="drift",
        policy_sha256="e" * 64,
        rule="psi",
        version=1,
        severity="warning",
        message="drifted",
        actions=[],
        values={"psi": 0.4},
        window_start=T0,
        window_end=T0 + timedelta(hours=1),
        now=T0,
    )
    return store.open(model_id, **{**fields, **kw})


def test_alerts_open_once_per_fingerprint_resolve_once(db: Database, model_id: int) -> None:
    store: AlertStore = SqlAlertStore(db)
    alert = _open(store, model_id)
    assert alert is not None and alert.status == "firing" and alert.model == "credit"
    assert alert.values == {"psi": 0.4} and alert.started_at == T0
    assert _open(store, model_id) is None  # one firing alert per fingerprint
    assert store.firing("fp") == alert and store.firing("other") is None
    assert store.last_ended("fp") is None
    store.update(alert.id, message="still drifted", updated_at=T0 + timedelta(minutes=5))
    assert store.get(alert.id).message == "still drifted"
    end = T0 + timedelta(hours=2)
    assert store.resolve(alert.id, "cleared", end) is True
    assert store.resolve(alert.id, "again", end + timedelta(hours=1)) is False
    done = store.get(alert.id)
    assert (done.status, done.resolution, done.ended_at) == ("resolved", "cleared", end)
    assert store.firing("fp") is None and store.last_ended("fp") == end
    assert _open(store, model_id) is not None  # a new episode may fire
    with pytest.raises(NotFound):
        store.get(999_999)


def test_alerts_racing_evaluators_fire_one_alert(db: Database, model_id: int) -> None:
    store: AlertStore = SqlAlertStore(db)
    opened: list[Any] = []
    threads = [
        threading.Thread(target=lambda: opened.append(_open(store, model_id))) for _ in range(6)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len([a for a in opened if a is not None]) == 1
    assert len(store.find(status="firing")) == 1


def test_alerts_find_filters_newest_first(db: Database, registry: RegistryStore) -> None:
    store: AlertStore = SqlAlertStore(db)
    credit, churn = _model(registry, "credit"), _model(registry, "churn")
    a = _open(store, credit, "a")
    b = _open(store, churn, "b", policy="quality")
    c = _open(store, credit, "c")
    store.resolve(c.id, "ok", T0)
    assert [x.id for x in store.find()] == [c.id, b.id, a.id]
    assert [x.id for x in store.find(model_id=credit)] == [c.id, a.id]
    assert [x.id for x in store.find(status="firing")] == [b.id, a.id]
    assert [x.id for x in store.find(policy="quality")] == [b.id]
    assert [x.id for x in store.find(limit=1)] == [c.id]
    assert [x.id for x in store.firing_for(credit, "drift")] == [a.id]
    counts = {(r["policy"], r["status"]): r["n"] for r in store.alert_counts()}
    assert counts == {("drift", "firing"): 1, ("drift", "resolved"): 1, ("quality", "firing"): 1}


def test_alerts_deliveries_round_trip_filters_and_counts(db: Database, model_id: int) -> None:
    store: AlertStore = SqlAlertStore(db)
    alert = _open(store, model_id)
    common: dict[str, Any] = dict(
        event="firing", channel="ops", format="json", url="https://hooks.example/x"
    )
    bad = store.add_delivery(
        alert.id, **common, attempt=1, ok=False, http_status=500, error="boom", duration_ms=12
    )
    good = store.add_delivery(
        alert.id,
        **common,
        attempt=2,
        ok=True,
        http_status=200,
        error=None,
        duration_ms=8,
        delivery_id="d-1",
    )
    assert [d.id for d in store.deliveries()] == [good.id, bad.id]
    assert store.deliveries(alert_id=alert.id, failed=True) == [bad]
    assert [d.delivery_id for d in store.deliveries(failed=False)] == ["d-1"]
    assert store.deliveries(alert_id=999_999) == []
    assert [d.id for d in store.deliveries(limit=1)] == [good.id]
    counts = {(r["channel"], bool(r["ok"])): r["n"] for r in store.delivery_counts()}
    assert counts == {("ops", False): 1, ("ops", True): 1}


def test_alerts_channels_and_policies_replace_and_delete(db: Database) -> None:
    store: AlertStore = SqlAlertStore(db)
    store.put_channel("ops", "json", "https://a.example", None, "alice")
    store.put_channel("chat", "slack", "https://b.example", "SLACK_SECRET", "alice")
    store.put_channel("ops", "json", "https://c.example", None, "alice")
    assert [(c.name, c.url) for c in store.channels()] == [
        ("chat", "https://b.example"),
        ("ops", "https://c.example"),
    ]
    assert store.channels("chat")[0].secret_env == "SLACK_SECRET"
    assert store.delete_channel("chat") is True and store.delete_channel("chat") is False
    assert store.channels("chat") == []

    store.put_policy("b", "rules: []", "1" * 64, "alice")
    store.put_policy("a", "rules: []", "2" * 64, "alice")
    store.put_policy("b", "rules: [x]", "3" * 64, "alice")
    assert [(p["name"], p["sha256"]) for p in store.policies()] == [
        ("a", "2" * 64),
        ("b", "3" * 64),
    ]
    assert store.delete_policy("a") is True and store.delete_policy("a") is False
    assert [p["name"] for p in store.policies()] == ["b"]


def test_alerts_read_windows_and_statuses(db: Database, registry: RegistryStore) -> None:
    alerts: AlertStore = SqlAlertStore(db)
    monitor: MonitorStore = SqlMonitorStore(db)
    model_id = _model(registry)
    hours = [
        _window(T0 + timedelta(hours=h), segment) for h in range(3) for segment in ("all", "x")
    ]
    monitor.save(model_id, 1, "1h", hours)
    recent = alerts.recent_windows(model_id, 1, "1h", 2)
    assert [w["key"] for w in recent] == ["k1", "k2"]  # the two newest, oldest first
    assert [w["key"] for w in alerts.recent_windows(model_id, 1, None, 5)] == ["k0", "k1", "k2"]
    assert alerts.recent_windows(model_id, 2, None, 5) == []
    latest = alerts.latest_windows()
    assert [(w["name"], w["version"], w["key"]) for w in latest] == [("credit", 1, "k2")]
    assert latest[0]["result"] == {"drift": 0.2}
    assert alerts.version_statuses() == [] and alerts.version_statuses(["credit"]) == []


# ------------------------------------------------------------------------------ monitor


def _window(start: datetime, segment: str = "all", drift: float = 0.2) -> dict[str, Any]:
    key = f"k{(start - T0) // timedelta(hours=1)}"
    return {
        "key": key,
        "start": start,
        "end": start + timedelta(hours=1),
        "segment": segment,
        "rows": 10,
        "result": {"drift": drift},
    }


def test_monitor_save_replaces_by_key_history_ordered(db: Database, model_id: int) -> None:
    store: MonitorStore = SqlMonitorStore(db)
    store.save(model_id, 1, "1h", [_window(T0 + timedelta(hours=1)), _window(T0)])
    store.save(model_id, 1, "1h", [_window(T0, drift=0.9), _window(T0, "x")])
    store.save(model_id, 2, "1d", [_window(T0)])
    rows = store.history(model_id, window="1h", segment="all")
    assert [(r["key"], r["result"]) for r in rows] == [
        ("k0", {"drift": 0.9}),
        ("k1", {"drift": 0.2}),
    ]
    assert len(store.history(model_id)) == 4
    assert [r["segment"] for r in store.history(model_id, version=1, window="1h")].count("x") == 1
    assert [r["window"] for r in store.history(model_id, version=2)] == ["1d"]
    assert store.history(model_id, version=3) == []


def test_monitor_stored_windows_are_overall_windows_with_their_read_time(
    db: Database, model_id: int
) -> None:
    store: MonitorStore = SqlMonitorStore(db)
    read = T0 + timedelta(hours=5)
    store.save(model_id, 1, "1h", [_window(T0) | {"read_at": read}, _window(T0, "x")])
    store.save(model_id, 1, "1h", [_window(T0 + timedelta(hours=1))])
    store.save(model_id, 1, "1d", [_window(T0)])
    found = sorted(store.stored_windows(model_id, 1, "1h"))
    assert [end for end, _ in found] == [T0 + timedelta(hours=1), T0 + timedelta(hours=2)]
    assert found[0][1] == read  # when the rows were read: a window that had ended is final
    assert all(end.tzinfo is not None and at.tzinfo is not None for end, at in found)
    assert store.stored_windows(model_id, 2, "1h") == []


def test_monitor_many_models_saved_and_read_at_once(db: Database, registry: RegistryStore) -> None:
    """``save_many`` is ``save`` for several models in one transaction (a broken item stores
    nothing of any); ``stored_windows_of`` is ``stored_windows`` of several keys."""
    store: MonitorStore = SqlMonitorStore(db)
    a, b = _model(registry, "a"), _model(registry, "b")
    store.save(a, 1, "1h", [_window(T0, drift=0.1)])
    store.save_many(
        [
            (a, 1, "1h", [_window(T0, drift=0.5), _window(T0 + timedelta(hours=1))]),
            (b, 2, "1h", [_window(T0), _window(T0, "x")]),
            (b, 2, "1d", []),
        ]
    )
    assert [r["result"]["drift"] for r in store.history(a)] == [0.5, 0.2]  # replaced by key
    assert len(store.history(b, version=2)) == 2
    keys = [(a, 1, "1h"), (b, 2, "1h"), (b, 1, "1h")]
    found = store.stored_windows_of(keys)
    assert set(found) == {(a, 1, "1h"), (b, 2, "1h")}
    for key, windows in found.items():
        assert sorted(windows) == sorted(store.stored_windows(*key))
    broken = {k: v for k, v in _window(T0 + timedelta(hours=2)).items() if k != "rows"}
    with pytest.raises(KeyError):
        store.save_many([(b, 2, "1h", [_window(T0, drift=0.9)]), (a, 1, "1h", [broken])])
    assert [r["result"]["drift"] for r in store.history(b, segment="all")] == [0.2]
    assert store.stored_windows_of([]) == {}


def test_monitor_save_is_atomic(db: Database, model_id: int) -> None:
    store: MonitorStore = SqlMonitorStore(db)
    store.save(model_id, 1, "1h", [_window(T0)])
    broken = {k: v for k, v in _window(T0 + timedelta(hours=1)).items() if k != "rows"}
    with pytest.raises(KeyError):
        store.save(model_id, 1, "1h", [_window(T0, drift=0.7), broken])
    assert [r["result"] for r in store.history(model_id)] == [{"drift": 0.2}]


# ------------------------------------------------------------------------------ predictions


@pytest.fixture
def predictions(db: Database) -> PredictionStore:
    return SqlPredictionStore(db, SubjectVault(db, os.urandom(32)))


def _rows(
    store: PredictionStore,
    model_id: int,
    n: int,
    *,
    version: int = 1,
    at: datetime = T0,
    subjects: list[str | None] | None = None,
) -> dict[str, list[Any]]:
    ids = new_ids(n, at)
    ts = pd.Series(pd.date_range(at, periods=n, freq="s"))
    return {
        "id": ids,
        "model_id": [model_id] * n,
        "version": [version] * n,
        "ts": store.timestamps(ts),
        "day": [int(at.strftime("%Y%m%d"))] * n,
        "inputs": [f'{{"x": {i}}}' for i in range(n)],
        "output": [str(i % 2) for i in range(n)],
        "score": [i / 10 for i in range(n)],
        "latency_ms": [1.5] * n,
        "reasons": [None] * n,
        "subject": subjects or [None] * n,
    }


def test_predictions_round_trip_order_and_filters(
    predictions: PredictionStore, model_id: int
) -> None:
    early = _rows(predictions, model_id, 3, at=T0)
    late = _rows(predictions, model_id, 2, version=2, at=T0 + timedelta(days=1))
    predictions.insert(late)
    predictions.insert(early)
    frame = predictions.read(model_id)
    assert list(frame["id"]) == early["id"] + late["id"]  # by time, whatever the insert order
    assert list(frame["x"]) == [0, 1, 2, 0, 1]
    assert list(frame["version"]) == [1, 1, 1, 2, 2]
    assert frame["ts"].iloc[0] == pd.Timestamp(T0)
    assert list(predictions.read(model_id, version=2)["id"]) == late["id"]
    day2 = T0 + timedelta(days=1)
    assert list(predictions.read(model_id, since=day2)["id"]) == late["id"]
    assert list(predictions.read(model_id, until=day2)["id"]) == early["id"]
    assert list(predictions.read(model_id, ids=late["id"][:1])["id"]) == late["id"][:1]
    assert list(predictions.read(model_id, limit=2, offset=1)["id"]) == early["id"][1:]
    assert predictions.read(model_id + 1).empty
    one = predictions.get(early["id"][1])
    assert one is not None and one["model"] == "credit" and one["inputs"] == '{"x": 1}'
    assert one["score"] == pytest.approx(0.1) and one["label"] is None
    assert predictions.get("no-such-id") is None
    assert predictions.version_counts(model_id) == {1: 3, 2: 2}
    assert list(predictions.version_counts(model_id)) == [1, 2]
    assert predictions.version_counts(model_id, since=day2) == {2: 2}
    assert predictions.version_counts(model_id, until=day2) == {1: 3}
    assert predictions.version_counts(model_id + 1) == {}
    assert predictions.id_versions(model_id, [early["id"][0], late["id"][0], "nope"]) == {
        early["id"][0]: 1,
        late["id"][0]: 2,
    }


def test_predictions_insert_is_all_or_nothing(predictions: PredictionStore, model_id: int) -> None:
    first = _rows(predictions, model_id, 2)
    predictions.insert(first)
    again = _rows(predictions, model_id, 3)
    again["id"][2] = first["id"][0]  # one id already logged
    with pytest.raises(AlreadyExists) as err:
        predictions.insert(again)
    assert err.value.details["field"] == "ids"
    assert list(predictions.read(model_id)["id"]) == first["id"]


def test_predictions_write_joins_the_callers_transaction(
    predictions: PredictionStore, model_id: int
) -> None:
    rows = _rows(predictions, model_id, 2)
    with pytest.raises(RuntimeError), predictions.transaction():
        predictions.insert(rows)
        raise RuntimeError("the audit append failed")
    assert predictions.read(model_id).empty


def test_predictions_labels_upsert(predictions: PredictionStore, model_id: int) -> None:
    rows = _rows(predictions, model_id, 3)
    predictions.insert(rows)
    predictions.upsert_labels(model_id, rows["id"][:2], ["1", "0"])
    predictions.upsert_labels(model_id, rows["id"][1:2], ["1"])
    assert list(predictions.read(model_id)["label"].fillna("-")) == ["1", "1", "-"]
    assert predictions.get(rows["id"][0])["label"] == "1"  # type: ignore[index]


def test_predictions_positions_follow_insertion(
    predictions: PredictionStore, model_id: int
) -> None:
    batches = [_rows(predictions, model_id, 4, at=T0 + timedelta(hours=h)) for h in range(3)]
    for batch in batches:
        predictions.insert(batch)
    predictions.insert(_rows(predictions, model_id, 2, version=2))
    middle = batches[1]["id"]
    pos = predictions.positions(model_id, 1, [middle[0], middle[-1], "nope"])
    assert set(pos) == {middle[0], middle[-1]} and pos[middle[0]] < pos[middle[-1]]
    assert predictions.ids_between(model_id, 1, pos[middle[0]], pos[middle[-1]]) == middle
    assert predictions.positions(model_id, 2, middle) == {}  # another version's rows
    assert predictions.positions(model_id, 1, []) == {}


def test_predictions_batches_and_their_links(predictions: PredictionStore, model_id: int) -> None:
    one = _rows(predictions, model_id, 3, subjects=["ann", "bob", None])
    predictions.insert(one)  # no batch column: the rows are one batch, named by its first id
    # two batches in one insert (the server's writer), their rows interleaved
    a, b = (_rows(predictions, model_id, 2, at=T0 + timedelta(hours=h)) for h in (1, 2))
    mixed = {k: [a[k][0], b[k][0], a[k][1], b[k][1]] for k in a}
    first_a, first_b = a["id"][0], b["id"][0]
    predictions.insert({**mixed, "batch": [first_a, first_b] * 2})
    assert [predictions.get(i)["batch"] for i in one["id"]] == [one["id"][0]] * 3  # type: ignore[index]
    assert predictions.get(b["id"][1])["batch"] == first_b  # type: ignore[index]
    with predictions.transaction():
        predictions.link_batches([(first_a, 7, "\n".join(a["id"])), (first_b, 8, None)])
        predictions.link_batches([])
    assert predictions.batch_link(first_a) == (7, a["id"])
    assert predictions.batch_link(first_b) == (8, None)  # a batch too large to keep its ids
    assert predictions.batch_link(one["id"][0]) is None  # never linked


def test_predictions_subjects_sealed_and_erased(
    predictions: PredictionStore, model_id: int
) -> None:
    rows = _rows(predictions, model_id, 3, subjects=["ann", None, "bob"])
    predictions.insert(rows)
    predictions.upsert_labels(model_id, rows["id"], ["1", "1", "1"])
    sealed = predictions.read(model_id, unseal=False)
    assert list(sealed["sealed"]) == [True, False, True]
    assert sealed["subject"].iloc[0] not in (None, "ann")  # stored as a pseudonym
    assert predictions.get(rows["id"][0], unseal=False)["inputs"] is None  # type: ignore[index]
    assert predictions.get(rows["id"][0])["inputs"] == '{"x": 0}'  # type: ignore[index]
    ann = sealed["subject"].iloc[0]

    with predictions.transaction():
        assert predictions.erase_subject(ann) == 1
    predictions.scrub()
    after = predictions.read(model_id)
    assert list(after["erased"]) == [True, False, False]
    assert after["score"].isna().tolist() == [True, False, False]
    assert after["label"].isna().tolist() == [True, False, False]
    assert predictions.get(rows["id"][2])["inputs"] == '{"x": 2}'  # type: ignore[index]
    assert list(predictions.read(None, subject=ann)["id"]) == rows["id"][:1]  # row kept


def test_predictions_retention_and_purge(
    predictions: PredictionStore, registry: RegistryStore
) -> None:
    credit, churn = _model(registry, "credit"), _model(registry, "churn")
    old = _rows(predictions, credit, 2, at=T0 - timedelta(days=40))
    new = _rows(predictions, credit, 2, at=T0)
    other = _rows(predictions, churn, 1, at=T0 - timedelta(days=40))
    for rows in (old, new, other):
        predictions.insert(rows)
    with predictions.transaction():
        predictions.link_batches(
            [(old["id"][0], 1, None), (new["id"][0], 2, None), (other["id"][0], 3, None)]
        )
    predictions.upsert_labels(credit, old["id"], ["1", "0"])
    predictions.set_retention("credit", 90, "alice")
    predictions.set_retention("churn", 7, "alice")
    predictions.set_retention("credit", 30, "alice")  # replaces
    assert predictions.retention_rules() == [("churn", 7), ("credit", 30)]
    assert predictions.purge(credit, int(T0.strftime("%Y%m%d"))) == 2
    assert list(predictions.read(credit)["id"]) == new["id"]
    assert list(predictions.read(churn)["id"]) == other["id"]  # another model's rows stay
    linked = [predictions.batch_link(rows["id"][0]) for rows in (old, new, other)]
    assert linked == [None, (2, None), (3, None)]  # the purged batch's link went with it
    assert predictions.purge(credit, int(T0.strftime("%Y%m%d"))) == 0


# ------------------------------------------------------------------------------ findings


def test_findings_round_trip_update_list_and_not_found(db: Database) -> None:
    store = SqlFindingStore(db)
    fields = {"title": "thin data", "severity": "high", "status": "open", "owner": "ops"}
    first = store.add("credit", 2, fields, "bob", T0)
    wide = store.add("credit", None, {**fields, "title": "no stress test"}, "bob", T0)
    other = store.add("fraud", 2, fields, "bob", T0)
    assert wide.id > first.id and first.ref == "credit@2" and wide.ref == "credit"
    assert store.get(first.id) == first and first.created_at == T0
    later = T0 + timedelta(days=1)
    changed = store.update(first.id, {"status": "closed", "owner": "ml"}, "carol", later)
    assert (changed.status, changed.owner, changed.updated_by) == ("closed", "ml", "carol")
    assert changed.updated_at == later and changed.created_by == "bob"
    assert [f.id for f in store.list("credit")] == [first.id, wide.id]
    assert [f.id for f in store.list("credit", 2)] == [first.id, wide.id]
    assert [f.id for f in store.list("credit", 3)] == [wide.id]
    assert [f.id for f in store.list("fraud")] == [other.id]
    with pytest.raises(NotFound):
        store.get(10_000)
    with pytest.raises(NotFound):
        store.update(10_000, {"status": "open"}, "bob", later)


# ------------------------------------------------------------------------------ overview


def test_overview_reads_every_model_with_its_latest_state(
    db: Database, registry: RegistryStore
) -> None:
    overview: OverviewStore = SqlOverviewStore(db)
    credit = _model(registry, "credit")
    _model(registry, "churn")
    for sha in "ab":
        registry.create_version("credit", _version(sha), {}, "dave")
    registry.move_alias("credit", "production", 1, actor="vera", action="promote")
    decisions = SqlDecisionStore(db)
    decisions.add("credit", 2, _decision(passed=True, ref="credit@2", policy="strict"))
    decisions.add("credit", 1, _decision(passed=False))  # the newest decision counts
    monitor = SqlMonitorStore(db)
    drifted = {**_window(T0), "result": {"drift": {"dataset_drifted": True, "share_drifted": 0.5}}}
    calm = {"drift": {"dataset_drifted": False, "share_drifted": 0.0}}
    monitor.save(credit, 1, "1h", [drifted, {**_window(T0, "x"), "result": calm}])
    alerts = SqlAlertStore(db)
    _open(alerts, credit, "one")
    _open(alerts, credit, "two")
    alerts.resolve(alerts.find(model_id=credit)[0].id, "fixed", now=T0)

    churn, credit_row = overview.model_overviews()  # ordered by name
    assert (churn.name, churn.latest_version, churn.production, churn.gate) == (
        "churn",
        None,
        None,
        None,
    )
    assert churn.window is None and churn.window_drift == {} and churn.firing_alerts == 0
    assert credit_row.latest_version == 2 and credit_row.production == 1
    assert credit_row.gate == (1, False, "default")
    assert credit_row.window == "1h" and credit_row.window_start == T0
    assert credit_row.window_drift == {"dataset_drifted": True, "share_drifted": 0.5}
    assert credit_row.firing_alerts == 1
    assert credit_row.last_activity is not None and credit_row.created_at is not None
    assert credit_row.last_activity >= credit_row.created_at


def test_overview_versions_newest_first_with_gates_and_approvals(
    db: Database, registry: RegistryStore
) -> None:
    overview: OverviewStore = SqlOverviewStore(db)
    _model(registry)
    for sha in "abc":
        registry.create_version("credit", _version(sha), {}, "dave")
    SqlDecisionStore(db).add("credit", 2, _decision(passed=False, ref="credit@2"))
    SqlDecisionStore(db).add("credit", 2, _decision(passed=True, ref="credit@2"))
    access = SqlAccessStore(db)
    access.add_approval("credit", 2, "rita", "approver", None)
    access.add_approval("credit", 2, "sam", "admin", "ok")
    rows = overview.version_overviews("credit")
    assert [r.version for r in rows] == [3, 2, 1]
    assert [(r.gate_passed, r.approvals) for r in rows] == [(None, 0), (True, 2), (None, 0)]
    assert rows[0].created_by == "dave" and rows[0].created_at.tzinfo is not None
    with pytest.raises(NotFound):
        overview.version_overviews("nope")


# ------------------------------------------------------------------------------ tool calls


def _tool_call(call_id: str, ts: datetime, **kw: Any) -> ToolCall:
    fields: dict[str, Any] = dict(
        agent="bot", tool="query", decision="allow", status="done", approvals_needed=0,
        rules=({"rule": "r", "action": "allow"},), arguments='{"sql": "x"}',
    )  # fmt: skip
    return ToolCall(id=call_id, ts=ts, **{**fields, **kw})


def test_tool_calls_round_trip_find_recent_and_not_found(db: Database) -> None:
    store = SqlToolCallStore(db)
    store.insert(_tool_call("c1", T0))
    store.insert(_tool_call("c2", T0 + timedelta(seconds=1), tool="http", decision="deny"))
    store.insert(_tool_call("c3", T0 + timedelta(seconds=2), agent="other", subject="s" * 64))
    with pytest.raises(AlreadyExists):
        store.insert(_tool_call("c1", T0))
    got = store.get("c1")
    assert (got.agent, got.tool, got.ts, got.arguments) == ("bot", "query", T0, '{"sql": "x"}')
    assert got.rules == ({"rule": "r", "action": "allow"},)
    assert [c.id for c in store.find()] == ["c3", "c2", "c1"]
    assert [c.id for c in store.find(agent="bot", limit=1)] == ["c2"]
    assert store.recent("bot", T0 + timedelta(milliseconds=500)) == [("http", "deny")]
    assert [r["id"] for r in store.subject_calls("s" * 64)] == ["c3"]
    store.finish("c1", status="error", result="r", error="boom", latency_ms=1.5, audit_seq=7)
    got = store.get("c1")
    assert (got.status, got.result, got.error, got.latency_ms, got.audit_seq) == (
        "error", "r", "boom", 1.5, 7,
    )  # fmt: skip
    assert [c.id for c in store.find(status="error")] == ["c1"]
    with pytest.raises(NotFound):
        store.get("nope")
    with pytest.raises(NotFound):
        store.finish("nope", status="done")


def test_tool_calls_insert_many_is_one_atomic_step(db: Database) -> None:
    store = SqlToolCallStore(db)
    store.insert_many([_tool_call("m1", T0), _tool_call("m2", T0 + timedelta(seconds=1))])
    assert [c.id for c in store.find()] == ["m2", "m1"]
    with pytest.raises(AlreadyExists):  # m3 is new, m1 is not: neither is written
        store.insert_many([_tool_call("m3", T0), _tool_call("m1", T0)])
    assert [c.id for c in store.find()] == ["m2", "m1"]
    store.insert_many([])


def test_tool_call_status_moves_once_and_verdicts_are_one_per_person(db: Database) -> None:
    store = SqlToolCallStore(db)
    store.insert(_tool_call("p1", T0, status="pending", decision="approve", approvals_needed=2))
    store.add_verdict(Verdict("p1", "vera", "approve", T0))
    with pytest.raises(AlreadyExists):
        store.add_verdict(Verdict("p1", "vera", "deny", T0))
    store.add_verdict(Verdict("p1", "val2", "approve", T0 + timedelta(seconds=1), "ok"))
    assert [(v.actor, v.comment) for v in store.verdicts("p1")] == [("vera", None), ("val2", "ok")]
    assert store.set_status("p1", "approved", expected="pending")
    assert not store.set_status("p1", "expired", expected="pending")  # decided already
    assert store.get("p1").status == "approved"


# ------------------------------------------------------------------------------ reviews


def test_review_rules_round_trip_and_replace(db: Database, model_id: int) -> None:
    store: ReviewStore = SqlReviewStore(db)
    assert store.rule(model_id) is None
    store.set_rule(model_id, "score < 0.6", "alice", T0)
    store.set_rule(model_id, "output == '<=50K'", "bob", T0 + timedelta(hours=1))
    got = store.rule(model_id)
    assert got == {"rule": "output == '<=50K'", "set_by": "bob", "set_at": T0 + timedelta(hours=1)}


def test_review_queue_enqueue_decide_and_count(db: Database, model_id: int) -> None:
    store: ReviewStore = SqlReviewStore(db)
    items = [("p1", 1, "no"), ("p2", 1, "yes"), ("p1", 1, "no")]
    assert store.enqueue(model_id, items, T0) == 2
    assert store.enqueue(model_id, [("p2", 1, "yes"), ("p3", 2, None)], T0) == 1  # p2 kept
    assert [i["prediction_id"] for i in store.items(model_id)] == ["p1", "p2", "p3"]
    done = store.decide("p1", "overridden", "yes", "val", "income verified", T0)
    assert (done["status"], done["decided_output"], done["reviewer"]) == (
        "overridden",
        "yes",
        "val",
    )
    store.decide("p2", "confirmed", None, "val", None, T0)
    with pytest.raises(Conflict):
        store.decide("p1", "confirmed", None, "other", None, T0)  # decided once only
    with pytest.raises(NotFound):
        store.decide("nope", "confirmed", None, "val", None, T0)
    assert [i["prediction_id"] for i in store.items(model_id, "pending")] == ["p3"]
    assert store.counts(model_id) == {"pending": 1, "confirmed": 1, "overridden": 1}


# ------------------------------------------------------------------------------ jobs


def test_jobs_round_trip_update_and_forget_the_oldest_finished(db: Database) -> None:
    store: JobStore = SqlJobStore(db)
    job = Job(id="j" * 32, kind="registration", owner="ünal", subject="model:crédit")
    job.runner = "host:42:abc"
    store.create(job)
    assert store.get(job.id) == job
    assert store.get("nope") is None
    result = {"version": 1, "metrics": {"auc": 0.9}, "name": "crédit"}
    store.update(job.id, state="succeeded", progress="done", result=result)
    done = store.get(job.id)
    assert done is not None and done.state == "succeeded" and done.result == result
    assert done.updated_at > job.updated_at and done.created_at == job.created_at
    assert done.runner == "host:42:abc" and "runner" not in done.to_dict()
    for i in range(3):  # two more finished, one still running
        other = Job(id=f"{i}" * 32, kind="registration", owner="a", subject="model:m")
        store.create(other)
        if i < 2:
            store.update(other.id, state="failed", error={"error": "x", "http_status": 500})
    before = store.get("2" * 32).updated_at  # type: ignore[union-attr]
    assert store.touch("") == 1  # the runner's unfinished jobs only: "2…" is still queued
    assert store.get("2" * 32).updated_at > before  # type: ignore[union-attr]
    assert store.touch("nobody") == 0
    assert store.forget_finished(2) == 1  # the oldest finished one
    assert store.get(job.id) is None and store.get("2" * 32) is not None
    assert store.get("0" * 32).error == {"error": "x", "http_status": 500}  # type: ignore[union-attr]


# ------------------------------------------------------------------------------ ingest halves


def test_ingest_halves_pair_once_refuse_duplicates_and_expire(db: Database) -> None:
    store: IngestStore = SqlIngestStore(db)

    def file(model: str, eid: str, kind: Any, text: str, at: datetime, **kw: Any) -> Any:
        kw.setdefault("max_pending", 100)
        expire = kw.pop("expire_before", at - timedelta(minutes=5))
        return store.file_half(model, eid, kind, text, now=at, expire_before=expire, **kw)

    assert file("crédit", "id-1", "response", '{"r": 1}', T0) == (None, '{"r": 1}')
    assert file("crédit", "id-1", "response", '{"r": 2}', T0) is None  # a duplicate half
    assert file("other", "id-1", "request", '{"q": 0}', T0) == ('{"q": 0}', None)  # own key
    assert file("crédit", "id-1", "request", '{"q": 1}', T0) == ('{"q": 1}', '{"r": 1}')
    # paired halves are forgotten: the same id starts over
    assert file("crédit", "id-1", "request", '{"q": 2}', T0) == ('{"q": 2}', None)
    # expired: a response ten minutes later finds no request
    later = T0 + timedelta(minutes=10)
    assert file("crédit", "id-1", "response", '{"r": 3}', later) == (None, '{"r": 3}')
    # over the cap, the oldest waiting halves go first
    for i in range(3):
        file("m", f"c{i}", "request", "{}", later + timedelta(seconds=i), max_pending=2)
    assert file("m", "c0", "response", "{}", later + timedelta(seconds=5)) == (None, "{}")
    assert file("m", "c2", "response", "{}", later + timedelta(seconds=5)) == ("{}", "{}")


def test_ingest_halves_racing_pair_exactly_once(db: Database) -> None:
    """Both halves of many inferences filed at once from two threads (two connections):
    each inference pairs exactly once."""
    store = SqlIngestStore(db)
    ids = [f"race-{i}" for i in range(40)]
    paired: list[str] = []
    lock = threading.Lock()
    barrier = threading.Barrier(2)

    def run(kind: Any) -> None:
        barrier.wait()
        for eid in ids:
            now = datetime.now(UTC)
            got = store.file_half(
                "m", eid, kind, kind, now=now, expire_before=now - timedelta(minutes=5),
                max_pending=1000,
            )  # fmt: skip
            if got is not None and None not in got:
                with lock:
                    paired.append(eid)

    threads = [threading.Thread(target=run, args=(k,)) for k in ("request", "response")]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(paired) == sorted(ids)
