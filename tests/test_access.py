"""Access control: roles, users, API tokens, approvals with separation of duties, all audited."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import text
from typer.testing import CliRunner

import mlwarden as mw
from mlwarden.access import DENIED, PERMISSIONS, ROLES, SINGLE_USER, User, hash_token, require_role
from mlwarden.access.users import parse_duration
from mlwarden.cli.main import app
from mlwarden.errors import AlreadyExists, AuthenticationError, PermissionDenied, ValidationError


@pytest.fixture
def as_actor(store_uri: str, tmp_path: Path):  # type: ignore[no-untyped-def]
    """``as_actor("bob")``: a Warden on the shared store acting as bob (same signing key)."""
    opened: dict[str, mw.Warden] = {}
    settings = mw.Settings(key_file=tmp_path / "keys" / "audit.pem")

    def open_as(actor: str) -> mw.Warden:
        if actor not in opened:
            opened[actor] = mw.Warden(
                store_uri, artifacts=str(tmp_path / "a"), actor=actor, settings=settings
            )
        return opened[actor]

    yield open_as
    for w in opened.values():
        w.close()


def _model():  # type: ignore[no-untyped-def]
    from sklearn.dummy import DummyClassifier

    return DummyClassifier().fit([[0], [1]], [0, 1])


def _denials(wd: mw.Warden) -> list[dict]:  # type: ignore[type-arg]
    return [{**(e.payload or {}), "actor": e.actor} for e in wd.audit.events(action=DENIED)]


# ---- the permission table


def _user(role: str, name: str = "u", disabled: bool = False) -> User:
    return User(1, name, role, datetime.now(UTC), "admin", disabled)


def test_permission_table() -> None:
    assert set(ROLES) == {"viewer", "developer", "validator", "admin", "none"}
    for action, roles in PERMISSIONS.items():
        assert "admin" in roles, action  # admins may do everything
        assert "none" not in roles, action  # and role none nothing (default deny)
    require_role(_user("developer"), "model.register")
    require_role(_user("validator"), "version.approve")
    require_role(_user("viewer"), "read")
    for role, action in [
        ("viewer", "model.register"),
        ("developer", "version.approve"),
        ("validator", "model.register"),
        ("viewer", "version.approve"),
        ("developer", "user.create"),
        ("none", "read"),
    ]:
        with pytest.raises(PermissionDenied, match=f"may not {action}"):
            require_role(_user(role), action)
    with pytest.raises(PermissionDenied, match="disabled"):
        require_role(_user("admin", disabled=True), "read")
    with pytest.raises(ValidationError, match="unknown action"):
        require_role(_user("admin"), "launch.missiles")


def test_parse_duration() -> None:
    assert parse_duration("30d") == timedelta(days=30)
    assert parse_duration("12h") == timedelta(hours=12)
    assert parse_duration(None) is None
    for bad in ("0d", "30", "d", "3y"):
        with pytest.raises(ValidationError, match="duration"):
            parse_duration(bad)


# ---- single-user mode and separation of duties


def test_single_user_mode_still_separates_duties(as_actor):
    alice, bob = as_actor("alice"), as_actor("bob")
    mv = alice.register_model("credit", _model(), risk_tier="high")  # every role: single-user
    assert alice.access.single_user()
    with pytest.raises(PermissionDenied, match="alice registered credit@1 and cannot approve"):
        alice.approve("credit@1", comment="looks fine to me")
    # The refusal is on record although nothing else was written.
    assert alice.approvals("credit@1") == []
    [denial] = _denials(alice)
    assert denial["actor"] == "alice" and denial["action"] == "version.approve"
    assert "separation of duties" in denial["reason"] and denial["registered_by"] == "alice"

    approval = bob.approve(f"credit@{mv.version}", comment="validated on holdout")
    assert approval.approver == "bob" and approval.role == SINGLE_USER
    status = bob.approval_status("credit@1")
    assert (status.required, status.have, status.missing, status.approved) == (2, 1, 1, False)
    assert status.to_dict()["missing"] == 1
    [event] = bob.audit.events(action="version.approve")
    assert event.subject == "model:credit/1" and event.actor == "bob"
    assert event.payload == {
        "comment": "validated on holdout",
        "have": 1,
        "required": 2,
        "role": SINGLE_USER,
    }
    assert bob.audit.verify().ok


def test_risk_tiers_set_the_number_of_distinct_approvals(as_actor):
    dev = as_actor("dev")
    for name, tier in (("low-m", "low"), ("med-m", "medium"), ("high-m", "high")):
        dev.register_model(name, _model(), risk_tier=tier)
    assert dev.approval_status("low-m@1").approved  # low: 0 approvals
    med = dev.approval_status("med-m@1")
    assert (med.required, med.have, med.missing) == (1, 0, 1)
    as_actor("v1").approve("med-m@1")
    assert dev.approval_status("med-m@1").approved
    as_actor("v1").approve("high-m@1")
    with pytest.raises(AlreadyExists, match="v1 has already approved high-m@1"):
        as_actor("v1").approve("high-m")  # the same approver counts once
    assert dev.approval_status("high-m@1").missing == 1
    as_actor("v2").approve("high-m@1", comment="second pair of eyes")
    status = dev.approval_status("high-m@1")
    assert status.approved and status.approvers == ("v1", "v2")
    assert [a.approver for a in dev.approvals("high-m@1")] == ["v1", "v2"]
    # Tiers are configurable.
    dev.approval_service.configure({"low": 1, "high": 3})
    assert dev.approval_status("low-m@1").missing == 1
    assert dev.approval_status("high-m@1").missing == 1
    with pytest.raises(ValidationError, match="risk tier"):
        dev.approval_service.configure({"extreme": 4})


def test_roles_are_enforced_once_users_exist(as_actor):
    root = as_actor("root")
    with pytest.raises(ValidationError, match="first user must have role 'admin'"):
        root.create_user("root", "viewer")
    root.create_user("root", "admin")
    assert not root.access.single_user()
    root.create_user("dana", "developer")
    root.create_user("vera", "validator")
    root.create_user("val2", "validator")
    root.create_user("vic", "viewer")
    with pytest.raises(AlreadyExists, match="user 'vic' already exists"):
        root.create_user("vic", "viewer")
    with pytest.raises(ValidationError, match="role must be one of"):
        root.create_user("zed", "owner")
    assert [u.name for u in root.list_users()] == ["dana", "root", "val2", "vera", "vic"]

    mv = as_actor("dana").register_model("credit", _model(), risk_tier="medium")
    # a developer does not choose the risk tier: the default (high) applies until a
    # validator or admin sets it (audited)
    assert root.get_model("credit").risk_tier == "high"
    with pytest.raises(PermissionDenied, match=r"may not model\.risk_tier"):
        as_actor("dana").set_risk_tier("credit", "low", reason="mine")
    as_actor("vera").set_risk_tier("credit", "medium", reason="reviewed the use")
    with pytest.raises(PermissionDenied, match=r"vic \(viewer\) may not model.register"):
        as_actor("vic").register_model("credit", _model())
    with pytest.raises(PermissionDenied, match="not a registered user"):
        as_actor("mallory").register_model("credit", _model())
    with pytest.raises(PermissionDenied, match=r"vic \(viewer\) may not version.approve"):
        as_actor("vic").approve("credit@1")
    with pytest.raises(PermissionDenied, match=r"dana \(developer\) may not version\.approve"):
        as_actor("dana").approve("credit@1")
    with pytest.raises(PermissionDenied, match=r"may not user\.create"):
        as_actor("vera").create_user("eve", "admin")
    with pytest.raises(PermissionDenied, match=r"may not alias\.set"):
        as_actor("dana").set_alias("credit", "production", 1)
    assert [v.version for v in root.list_versions("credit")] == [mv.version]  # nothing leaked

    approval = as_actor("vera").approve("credit@1", comment="ok")
    assert approval.role == "validator"
    assert root.approval_status("credit@1").approved

    # An admin who registered a version cannot approve it either.
    root.register_model("credit", _model())
    with pytest.raises(PermissionDenied, match="root registered credit@2"):
        root.approve("credit@2")
    as_actor("val2").approve("credit@2")

    denials = _denials(root)
    assert [(d["actor"], d["action"]) for d in denials] == [
        ("dana", "model.risk_tier"),
        ("vic", "model.register"),
        ("mallory", "model.register"),
        ("vic", "version.approve"),
        ("dana", "version.approve"),
        ("vera", "user.create"),
        ("dana", "alias.set"),
        ("root", "version.approve"),
    ]
    created = [e.subject for e in root.audit.events(action="user.create")]
    assert created == ["user:root", "user:dana", "user:vera", "user:val2", "user:vic"]
    assert root.audit.verify().ok


# ---- API tokens


def test_tokens_are_shown_once_stored_hashed_and_expire(as_actor, monkeypatch):
    root = as_actor("root")
    root.create_user("root", "admin")
    root.create_user("svc", "developer")
    root.create_user("vic", "viewer")
    new = root.create_token("svc", expires_in="30d", description="CI pipeline")
    secret = new.token
    assert secret.startswith("mlw_") and len(secret) >= 4 + 43  # 32 random bytes, urlsafe
    assert secret not in repr(new) and new.info.prefix == secret[:12]
    assert new.info.expires_at is not None
    assert timedelta(days=29) < new.info.expires_at - datetime.now(UTC) <= timedelta(days=30)

    # Stored only as a hash; never in the audit log (neither the secret nor its hash).
    with root.db.engine.connect() as conn:
        rows = [tuple(r) for r in conn.execute(text("SELECT * FROM tokens"))]
        payloads = [r[0] for r in conn.execute(text("SELECT payload FROM audit_events"))]
    assert all(secret not in str(v) for r in rows for v in r)
    assert hash_token(secret) in [v for r in rows for v in r]
    assert all(secret not in p and hash_token(secret) not in p for p in payloads)
    [event] = root.audit.events(action="token.create")
    assert event.subject == f"token:{new.info.id}"
    assert event.payload["prefix"] == new.info.prefix and event.payload["user"] == "svc"

    user = root.access.authenticate(secret)
    assert user.name == "svc" and user.role == "developer"
    assert root.list_tokens("svc")[0].last_used_at is not None
    with pytest.raises(AuthenticationError, match="unknown API token"):
        root.access.authenticate(secret[:-2] + "xx")
    with pytest.raises(AuthenticationError, match="not a Warden API token"):
        root.access.authenticate("Bearer nonsense")

    # Expiry: the clock moves past expires_at.
    later = datetime.now(UTC) + timedelta(days=31)
    monkeypatch.setattr(root.access, "_clock", lambda: later)
    with pytest.raises(AuthenticationError, match="expired"):
        root.access.authenticate(secret)
    monkeypatch.undo()

    # Revocation: by the owner or an admin, never by another user.
    vic_token = as_actor("vic").create_token("vic")  # anyone may create their own
    assert vic_token.info.expires_at is None
    with pytest.raises(PermissionDenied, match=r"may not token\.manage"):
        as_actor("vic").create_token("svc")
    with pytest.raises(PermissionDenied, match=r"may not token\.manage"):
        as_actor("vic").revoke_token(new.info.id)
    revoked = root.revoke_token(new.info.id)
    assert revoked.revoked_at is not None and not revoked.active(datetime.now(UTC))
    with pytest.raises(AuthenticationError, match="revoked"):
        root.access.authenticate(secret)
    assert as_actor("vic").revoke_token(vic_token.info.id).revoked_at is not None

    listed = root.list_tokens()
    assert [t.user for t in listed] == ["svc", "vic"]
    assert [e.action for e in root.audit.events(action="token.revoke")] == ["token.revoke"] * 2
    denied = _denials(root)
    assert [d["action"] for d in denied] == [
        "authenticate",
        "authenticate",
        "authenticate",
        "token.manage",
        "token.manage",
        "authenticate",
    ]
    all_text = json.dumps([e.to_dict() for e in root.audit.events()])
    assert secret not in all_text and vic_token.token not in all_text
    assert root.audit.verify().ok


# ---- CLI


def test_cli_users_tokens_and_approvals(tmp_path, monkeypatch):
    runner = CliRunner()
    monkeypatch.setenv("MLWARDEN_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("MLWARDEN_URI", raising=False)

    def cli(actor: str, *args: str):  # type: ignore[no-untyped-def]
        monkeypatch.setenv("MLWARDEN_ACTOR", actor)
        return runner.invoke(app, list(args))

    assert cli("root", "users", "list").stdout.startswith("No users")
    assert cli("root", "users", "add", "root", "--role", "admin").exit_code == 0
    assert cli("root", "users", "add", "vera", "--role", "validator").exit_code == 0
    assert cli("root", "users", "add", "dana", "--role", "developer").exit_code == 0
    users = json.loads(cli("root", "users", "list", "--json").stdout)
    assert {u["name"]: u["role"] for u in users} == {
        "dana": "developer",
        "root": "admin",
        "vera": "validator",
    }
    bad = cli("vera", "users", "add", "eve", "--role", "admin")
    assert bad.exit_code == 1 and "may not user.create" in bad.output

    created = cli("root", "tokens", "create", "dana", "--expires-in", "30d")
    assert created.exit_code == 0
    secret = created.stdout.strip()
    assert secret.startswith("mlw_")
    listed = cli("root", "tokens", "list", "--json")
    assert secret not in listed.stdout and json.loads(listed.stdout)[0]["prefix"] == secret[:12]
    assert cli("root", "tokens", "revoke", "1").exit_code == 0
    assert json.loads(cli("root", "tokens", "list", "--json").stdout)[0]["revoked_at"]

    w = mw.Warden(actor="dana")
    w.register_model("credit", _model(), risk_tier="medium")
    w.close()
    assert cli("dana", "models", "risk-tier", "credit", "medium", "-r", "x").exit_code == 1
    tier = cli("vera", "models", "risk-tier", "credit", "medium", "--reason", "reviewed")
    assert tier.exit_code == 0 and "high → medium" in tier.stdout, tier.output
    own = cli("dana", "approve", "credit@1")
    assert own.exit_code == 1 and "may not version.approve" in own.output
    ok = cli("vera", "approve", "credit@1", "--comment", "fine", "--json")
    assert ok.exit_code == 0, ok.output
    assert json.loads(ok.stdout)["status"]["approved"] is True
    shown = cli("vera", "approvals", "credit@1")
    assert "vera" in shown.stdout and "missing 0" in shown.stdout
    log = json.loads(cli("root", "audit", "log", "--json", "--action", DENIED).stdout)
    assert {e["payload"]["action"] for e in log} == {
        "user.create",
        "version.approve",
        "model.risk_tier",
    }
    assert cli("root", "audit", "verify").exit_code == 0
