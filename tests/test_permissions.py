"""Issue 18 item 4: permissions per team and model. Teams own models; a role granted on a team
or a model allows its actions there; an explicit deny wins over every role, the global admin
included; ``explain`` says which rule decided; every change is audited; the server enforces
the same decision on the routes that name a model. SQLite and PostgreSQL."""

from __future__ import annotations

import re

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

import mlwarden as mw
from mlwarden.cli.main import app as cli
from mlwarden.entities.access import Grant
from mlwarden.errors import PermissionDenied
from mlwarden.server import ServerSettings, create_app

MODEL = "credit-risk"


@pytest.fixture
def team_store(warden, registered, tmp_path):
    warden.create_user("alice", "admin")
    warden.create_user("vic", "viewer")
    warden.permissions.create_team("risk", actor="alice")
    warden.permissions.assign(MODEL, "risk", actor="alice")
    vic = mw.Warden(warden.uri, artifacts=str(tmp_path / "artifacts"), actor="vic")
    yield warden, vic
    vic.close()


def test_a_role_on_the_team_allows_and_an_explicit_deny_wins(team_store):
    wd, vic = team_store
    perms = wd.permissions
    with pytest.raises(PermissionDenied, match="on model credit-risk or its team"):
        vic.update_model(MODEL, description="by vic")
    assert perms.explain("vic", MODEL, "model.update").rule == "none"

    perms.grant("vic", "developer", team="risk", actor="alice")
    assert vic.update_model(MODEL, description="by vic").description == "by vic"
    decision = perms.explain("vic", MODEL, "model.update")
    assert (decision.allowed, decision.rule, decision.role) == (True, "grant", "developer")
    assert "team:risk" in decision.reason

    perms.deny("vic", "model.update", model=MODEL, actor="alice")
    with pytest.raises(
        PermissionDenied, match=re.escape("denied model.update on model:credit-risk")
    ):
        vic.update_model(MODEL, description="again")
    assert perms.explain("vic", MODEL, "read").allowed  # only that action is denied

    perms.deny("alice", "*", team="risk", actor="alice")  # deny wins over the global admin
    with pytest.raises(PermissionDenied, match="alice is denied"):
        wd.update_model(MODEL, description="by alice")
    assert perms.explain("alice", MODEL, "model.update").rule == "deny"
    # not on a model (grants are managed globally): the admin can lift it
    perms.revoke(Grant("alice", "team", "risk", "deny", "*"), actor="alice")
    assert wd.update_model(MODEL, description="by alice").description == "by alice"

    changes = [
        (e.action, e.subject)
        for e in wd.audit.events()
        if e.action.startswith(("grant.", "team.", "model.team"))
    ]
    assert changes == [
        ("team.create", "team:risk"),
        ("model.team", f"model:{MODEL}"),
        ("grant.add", "team:risk"),
        ("grant.add", f"model:{MODEL}"),
        ("grant.add", "team:risk"),
        ("grant.remove", "team:risk"),
    ]
    refused = wd.audit.events(action="access.denied", actor="vic")
    assert "denied model.update" in refused[-1].payload["reason"]


def test_only_admins_change_grants(team_store):
    _, vic = team_store
    with pytest.raises(PermissionDenied):
        vic.permissions.grant("vic", "admin", model=MODEL, actor="vic")


def test_the_server_enforces_a_deny_on_a_model_route(team_store):
    wd, _ = team_store
    token = wd.create_token("vic").token
    app = create_app(ServerSettings(access_log=False), wd)
    with TestClient(app, headers={"Authorization": f"Bearer {token}"}) as c:
        assert c.get(f"/v1/models/{MODEL}").status_code == 200
        wd.permissions.deny("vic", "read", team="risk", actor="alice")
        r = c.get(f"/v1/models/{MODEL}")
        assert r.status_code == 403 and "denied read on team:risk" in r.json()["message"]
        listed = c.get("/v1/models")
        assert listed.status_code == 200 and listed.json() == []  # left out of the list


def test_cli_explain(team_store):
    wd, _ = team_store
    runner = CliRunner()
    env = {"MLWARDEN_ACTOR": "alice"}
    out = runner.invoke(
        cli, ["access", "explain", "vic", MODEL, "model.promote", "--uri", wd.uri], env=env
    )
    assert out.exit_code == 1 and "denied (none)" in out.output
    out = runner.invoke(
        cli, ["access", "grant", "vic", "validator", "--model", MODEL, "--uri", wd.uri], env=env
    )
    assert out.exit_code == 0, out.output
    out = runner.invoke(
        cli, ["access", "explain", "vic", MODEL, "model.promote", "--uri", wd.uri], env=env
    )
    assert out.exit_code == 0 and "role validator on model:credit-risk" in out.output
    out = runner.invoke(
        cli, ["access", "explain", "vic", MODEL, "no.such", "--uri", wd.uri], env=env
    )
    assert out.exit_code != 0 and "unknown action" in out.output and "Traceback" not in out.output
