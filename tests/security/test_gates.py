"""Finding 5, gate part: the gate is the server's, not whatever the promoter sends.

An inline ``production-gate`` that always passes must not move ``production``; a developer
cannot pick a low risk tier to skip approvals; a promotion records the installed policy's
hash; an installed gate that fails blocks the promotion. Real ``mlwarden serve``, both DBs.
"""

from __future__ import annotations

import hashlib

import pytest
from security_support import open_store

import mlwarden as mw

ALWAYS_PASS = """\
name: production-gate
description: forged by a developer
rules:
  - id: anything-goes
    check: "true"
"""

MIN_AUC = """\
name: server-gate
rules:
  - id: min-auc
    check: version.metrics.roc_auc >= 0.5
"""

JSON = {"content-type": "application/json"}

IMPOSSIBLE = """\
name: server-gate
rules:
  - id: min-auc
    check: version.metrics.roc_auc >= 1.5
"""


def _events(server, action: str) -> list:
    with open_store(server) as wd:
        return wd.audit.events(action=action)


def _register_v2(server, credit_data, lgb_model) -> int:
    """A developer registers the next ``credit`` version over HTTP."""
    X, y, _ = credit_data
    remote = mw.connect(server.url, token=server.tokens["developer"])
    try:
        return remote.register_model("credit", lgb_model, train=mw.Dataset(X, y)).version
    finally:
        remote.close()


def _install_and_bind(server, text: str) -> dict:
    r = server.request("admin", "POST", "/v1/policies", json={"policy_yaml": text})
    assert r.status_code == 201, r.text
    stored = r.json()
    b = server.request(
        "admin", "PUT", "/v1/bindings", json={"policy": stored["name"], "alias": "production"}
    )
    assert b.status_code == 200, b.text
    return stored


def test_inline_always_pass_gate_only_dry_runs(fresh_server, credit_data, lgb_model):
    srv = fresh_server.start()
    v2 = _register_v2(srv, credit_data, lgb_model)
    path = f"/v1/models/credit/versions/{v2}/promote"
    body = {"policy_yaml": ALWAYS_PASS, "alias": "production"}
    r = srv.request("developer", "POST", path, json=body)
    assert r.status_code == 409, r.text
    assert "protected alias" in r.json()["message"]
    # the same under the shipped policy's name: only the bound policy moves production
    r = srv.request(
        "developer", "POST", path, json={"policy": "production-gate", "alias": "production"}
    )
    assert r.status_code == 409, r.text
    dry = srv.request("developer", "POST", path, json={**body, "dry_run": True})
    assert dry.status_code == 200, dry.text
    out = dry.json()
    assert out["moved"] is False and out["dry_run"] is True
    assert out["decision"]["inline"] is True and out["decision"]["dry_run"] is True
    # no policy bound yet: the promotion is refused, not waved through
    r = srv.request("developer", "POST", path, json={"alias": "production"})
    assert r.status_code == 409 and "no gate policy is bound" in r.json()["message"]
    srv.assert_alive()
    with open_store(srv) as wd:
        assert wd.get_model("credit").aliases == {"production": 1}
        assert [c.action for c in wd.alias_history("credit", "production")] == ["set"]
        assert _events(srv, "alias.promote") == []
        decisions = [e.payload for e in _events(srv, "policy.decision")]
        assert decisions and all(d["inline"] and d["purpose"] == "dry-run" for d in decisions)
        assert all(d.inline for d in wd.decisions("credit"))


def test_developer_cannot_choose_the_risk_tier(server, credit_data, lgb_model):
    X, y, _ = credit_data
    remote = mw.connect(server.url, token=server.tokens["developer"])
    try:
        remote.register_model("lowball", lgb_model, train=mw.Dataset(X, y), risk_tier="low")
    finally:
        remote.close()
    assert server.request("viewer", "GET", "/v1/models/lowball").json()["risk_tier"] == "high"
    created = [e for e in _events(server, "model.create") if e.subject == "model:lowball"]
    assert created[0].payload["risk_tier"] == "high"
    tier = {"risk_tier": "low", "reason": "I say so"}
    for role in ("developer", "viewer"):
        r = server.request(role, "PUT", "/v1/models/lowball/risk-tier", json=tier)
        assert r.status_code == 403, r.text
    # the role is checked before the body is read: garbage from a developer is still a 403
    r = server.request(
        "developer", "PUT", "/v1/models/lowball/risk-tier", content=b"\x00{", headers=JSON
    )
    assert r.status_code == 403
    assert server.request("viewer", "GET", "/v1/models/lowball").json()["risk_tier"] == "high"
    assert _events(server, "model.risk_tier") == []
    r = server.request("validator", "PUT", "/v1/models/lowball/risk-tier", json=tier)
    assert r.status_code == 200, r.text
    assert r.json() == {"model": "lowball", "from": "high", "to": "low", "reason": "I say so"}
    (event,) = _events(server, "model.risk_tier")
    assert (event.actor, event.payload["to"]) == ("vera", "low")
    bad = server.request("validator", "PUT", "/v1/models/lowball/risk-tier", json={"x": 1})
    assert bad.status_code == 422 and "risk_tier" in bad.json()["message"]
    server.assert_alive()


def test_install_never_reads_a_path_the_client_names(server):
    """The text is the policy: a path or a shipped name sent as policy_yaml is not opened."""
    for text in ("/etc/passwd", ".", "production-gate", "../keys/audit-signing.pem"):
        r = server.request("admin", "POST", "/v1/policies", json={"policy_yaml": text})
        assert r.status_code == 422, (text, r.text)
        assert "passwd" not in r.text.replace(text, "") and "root:" not in r.text
    server.assert_alive()


def test_only_admins_install_bind_or_override(server):
    for role in ("developer", "validator", "viewer"):
        r = server.request(role, "POST", "/v1/policies", json={"policy_yaml": ALWAYS_PASS})
        assert r.status_code == 403, r.text
        r = server.request(role, "POST", "/v1/policies", content=b"&a [*a, *a]", headers=JSON)
        assert r.status_code == 403, r.text
        bind = {"policy": "production-gate", "alias": "production"}
        assert server.request(role, "PUT", "/v1/bindings", json=bind).status_code == 403
    assert server.request("viewer", "GET", "/v1/policies").json() == []
    assert server.request("viewer", "GET", "/v1/protected-aliases").json() == ["production"]
    r = server.request(
        "developer", "PUT", "/v1/models/credit/aliases/production", json={"version": 1}
    )
    assert r.status_code == 403
    r = server.request("admin", "PUT", "/v1/models/credit/aliases/production", json={"version": 1})
    assert r.status_code == 409 and "protected" in r.json()["message"]
    r = server.request(
        "admin", "DELETE", "/v1/models/credit/aliases/production", params={"override": "true"}
    )
    assert r.status_code == 422 and r.json()["details"]["field"] == "reason"
    r = server.request(
        "admin",
        "PUT",
        "/v1/models/credit/aliases/production",
        json={"version": 1, "override": True, "reason": "incident 42"},
    )
    assert r.status_code == 200, r.text
    overrides = [e for e in _events(server, "alias.override") if e.actor == "alice"]
    assert overrides[-1].payload["reason"] == "incident 42"
    assert _events(server, "policy.install") == []
    server.assert_alive()
    with open_store(server) as wd:
        assert wd.get_model("credit").aliases == {"production": 1}


def test_promotion_records_the_installed_policy_hash(fresh_server, credit_data, lgb_model):
    srv = fresh_server.start()
    v2 = _register_v2(srv, credit_data, lgb_model)
    stored = _install_and_bind(srv, MIN_AUC)
    assert stored["sha256"] == hashlib.sha256(MIN_AUC.encode()).hexdigest()
    assert stored["version"] == 1
    r = srv.request(
        "developer",
        "POST",
        f"/v1/models/credit/versions/{v2}/promote",
        json={"alias": "production"},
    )
    assert r.status_code == 200, r.text
    decision = r.json()["decision"]
    assert (decision["policy"], decision["policy_sha256"]) == ("server-gate", stored["sha256"])
    assert (decision["policy_version"], decision["inline"]) == (1, False)
    srv.assert_alive()
    with open_store(srv) as wd:
        assert wd.get_model("credit").aliases == {"production": v2}
        (promoted,) = _events(srv, "alias.promote")
        assert promoted.payload["policy_sha256"] == stored["sha256"]
        assert promoted.payload["policy_version"] == 1
        (installed,) = _events(srv, "policy.install")
        assert installed.payload["sha256"] == stored["sha256"] and installed.actor == "alice"
        (bound,) = _events(srv, "policy.bind")
        assert bound.payload["target"] == "alias:production"


def test_an_installed_gate_that_fails_blocks_promotion(fresh_server, credit_data, lgb_model):
    srv = fresh_server.start()
    v2 = _register_v2(srv, credit_data, lgb_model)
    _install_and_bind(srv, MIN_AUC)
    stored = _install_and_bind(srv, IMPOSSIBLE)  # a new version of the same name
    assert stored["version"] == 2
    path = f"/v1/models/credit/versions/{v2}/promote"
    r = srv.request("developer", "POST", path, json={"alias": "production"})
    assert r.status_code == 409, r.text
    assert r.json()["error"] == "policy_violation"
    assert [f["id"] for f in r.json()["details"]["failed_rules"]] == ["min-auc"]
    # nor does naming the bound policy, or sending a passing one, get around it
    r = srv.request(
        "developer", "POST", path, json={"alias": "production", "policy": "server-gate"}
    )
    assert r.status_code == 409
    r = srv.request("developer", "POST", path, json={"alias": "production", "policy_yaml": MIN_AUC})
    assert r.status_code == 409 and "protected alias" in r.json()["message"]
    srv.assert_alive()
    with open_store(srv) as wd:
        assert wd.get_model("credit").aliases == {"production": 1}
        assert _events(srv, "alias.promote") == []
        denied = [
            e.payload
            for e in _events(srv, "access.denied")
            if e.payload and e.payload.get("action") == "model.promote"
        ]
        assert denied[0]["policy_sha256"] == stored["sha256"]
        assert denied[0]["policy_version"] == 2


@pytest.mark.parametrize("tier", ["high"])
def test_risk_tier_binding_adds_its_gate(fresh_server, credit_data, lgb_model, tier):
    """A tier's bound policy applies on top of the alias's at promotion."""
    srv = fresh_server.start()
    v2 = _register_v2(srv, credit_data, lgb_model)
    _install_and_bind(srv, MIN_AUC)
    strict = IMPOSSIBLE.replace("server-gate", "high-risk-gate")
    assert srv.request("admin", "POST", "/v1/policies", json={"policy_yaml": strict}).is_success
    body = {"policy": "high-risk-gate", "risk_tier": tier}
    assert srv.request("admin", "PUT", "/v1/bindings", json=body).status_code == 200
    change = {"risk_tier": tier, "reason": "credit decisions are high risk"}
    assert srv.request("validator", "PUT", "/v1/models/credit/risk-tier", json=change).is_success
    path = f"/v1/models/credit/versions/{v2}/promote"
    r = srv.request("developer", "POST", path, json={"alias": "production"})
    assert r.status_code == 409, r.text
    reasons = r.json()["message"]
    assert "min-auc" in reasons and "approval" in reasons  # high risk: approvals too
    srv.assert_alive()
    with open_store(srv) as wd:
        assert wd.get_model("credit").aliases == {"production": 1}
