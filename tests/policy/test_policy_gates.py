"""Gates on the server (policy/gates.py): installed, versioned, hashed policies; bindings to
protected aliases and risk tiers; governed risk tiers; overrides. Embedded store, both DBs."""

from __future__ import annotations

import hashlib

import pytest

import mlwarden as mw
from mlwarden.errors import Conflict, NotFound, PermissionDenied, PolicyViolation, ValidationError

PASS = "name: g\nrules:\n  - id: ok\n    check: version.number > 0\n"
FAIL = "name: g\nrules:\n  - id: never\n    check: version.number > 1000\n"
TIER = "name: tier-gate\nrules:\n  - id: tier-rule\n    check: version.number > 1000\n"


def test_install_versions_hashes_and_audits(warden, version_maker):
    first = warden.install_policy(PASS)
    assert (first.name, first.version) == ("g", 1)
    assert first.sha256 == hashlib.sha256(PASS.encode()).hexdigest()
    assert warden.install_policy(PASS).version == 1  # the same text is not a new version
    second = warden.install_policy(FAIL)
    assert second.version == 2 and warden.gate_policy("g", 1).source == PASS
    assert [(p.name, p.version) for p in warden.gate_policies()] == [("g", 2)]
    installs = [e.payload for e in warden.audit.events(action="policy.install")]
    assert [(p["version"], p["sha256"]) for p in installs] == [
        (1, first.sha256),
        (2, second.sha256),
    ]
    with pytest.raises(NotFound):
        warden.gate_policy("g", 3)
    with pytest.raises(NotFound):
        warden.bind_policy("nope", alias="production")


def test_bindings_only_on_protected_aliases_and_known_tiers(warden):
    warden.install_policy(PASS)
    with pytest.raises(ValidationError, match="not protected"):
        warden.bind_policy("g", alias="staging")
    with pytest.raises(ValidationError, match="risk_tier"):
        warden.bind_policy("g", risk_tier="extreme")
    with pytest.raises(ValidationError, match="exactly one"):
        warden.bind_policy("g", alias="production", risk_tier="high")
    warden.bind_policy("g", alias="production")
    warden.bind_policy("g", risk_tier="high")
    assert [b.target for b in warden.policy_bindings()] == ["alias:production", "risk_tier:high"]
    assert warden.unbind_policy(risk_tier="high").policy == "g"
    with pytest.raises(NotFound):
        warden.unbind_policy(risk_tier="high")
    actions = [e.action for e in warden.audit.events() if e.action.startswith("policy.")]
    assert actions == ["policy.install", "policy.bind", "policy.bind", "policy.unbind"]


def test_protected_promotion_uses_the_stored_newest_version(warden, version_maker):
    mv = version_maker(warden, risk_tier="low")
    with pytest.raises(PolicyViolation, match="no gate policy is bound"):
        warden.promote(mv.ref, alias="production")
    warden.bind_policy(warden.install_policy(FAIL).name, alias="production")
    with pytest.raises(PolicyViolation, match="'never'"):
        warden.promote(mv.ref, alias="production")
    # the caller's passing policy: dry run only, and its decision says so
    dry = warden.promote(mv.ref, alias="production", policy=mw.policy.loads(PASS), dry_run=True)
    assert dry.allowed and dry.change is None and dry.decision.inline
    with pytest.raises(Conflict, match="can only dry-run"):
        warden.promote(mv.ref, alias="production", policy=mw.policy.loads(PASS))
    stored = warden.install_policy(PASS)  # version 2 of "g": the binding follows the name
    done = warden.promote(mv.ref, alias="production", policy="g")  # naming the bound policy
    assert done.change is not None and done.decision.policy_version == 2
    assert done.decision.policy_sha256 == stored.sha256 and not done.decision.inline
    (promoted,) = warden.audit.events(action="alias.promote")
    assert promoted.payload["gates"][0]["policy_version"] == 2
    assert warden.decisions(mv.ref, limit=1)[0].policy_version == 2
    # unprotected aliases keep taking the caller's policy
    staged = warden.promote(mv.ref, alias="staging", policy=mw.policy.loads(FAIL), dry_run=True)
    assert not staged.allowed and not staged.decision.inline


def test_the_risk_tier_binding_adds_its_gate(warden, version_maker):
    mv = version_maker(warden, risk_tier="low")
    warden.bind_policy(warden.install_policy(PASS).name, alias="production")
    warden.bind_policy(warden.install_policy(TIER).name, risk_tier="medium")
    assert warden.promote(mv.ref, alias="production", dry_run=True).allowed  # low: no tier gate
    warden.set_risk_tier("credit-risk", "medium", reason="reviewed")
    with pytest.raises(PolicyViolation, match="tier-rule") as info:
        warden.promote(mv.ref, alias="production")
    assert info.value.details["missing_approvals"] == 1
    assert len(warden.decisions(mv.ref)) == 3  # the dry run's, then one per gate


def test_risk_tier_is_governed(store_uri, tmp_path):
    settings = mw.Settings(key_file=tmp_path / "k" / "audit.pem")

    def as_(actor: str) -> mw.Warden:
        return mw.Warden(store_uri, artifacts=str(tmp_path / "a"), actor=actor, settings=settings)

    root = as_("root")
    root.create_user("root", "admin")
    root.create_user("dev", "developer")
    root.create_user("val", "validator")
    from sklearn.dummy import DummyClassifier

    dev, val = as_("dev"), as_("val")
    dev.register_model("m", DummyClassifier().fit([[0], [1]], [0, 1]), risk_tier="low")
    assert root.get_model("m").risk_tier == "high"  # the default, not the developer's choice
    with pytest.raises(PermissionDenied, match=r"model\.risk_tier"):
        dev.set_risk_tier("m", "low", reason="please")
    with pytest.raises(ValidationError, match="reason"):
        val.set_risk_tier("m", "low", reason=" ")
    with pytest.raises(ValidationError, match="risk_tier"):
        val.set_risk_tier("m", "tiny", reason="x")
    assert val.set_risk_tier("m", "low", reason="internal tool") == {
        "model": "m",
        "from": "high",
        "to": "low",
        "reason": "internal tool",
    }
    (event,) = root.audit.events(action="model.risk_tier")
    assert event.actor == "val" and event.payload["reason"] == "internal tool"
    for w in (root, dev, val):
        w.close()


def test_protected_aliases_are_configurable_and_overrides_audited(store_uri, tmp_path):
    settings = mw.Settings(protected_aliases="production, champion", default_risk_tier="medium")
    wd = mw.Warden(store_uri, artifacts=str(tmp_path / "a"), actor="alice", settings=settings)
    from sklearn.dummy import DummyClassifier

    wd.register_model("m", DummyClassifier().fit([[0], [1]], [0, 1]))
    assert wd.protected_aliases() == ["production", "champion"]
    with pytest.raises(Conflict, match="protected"):
        wd.set_alias("m", "champion", 1)
    with pytest.raises(ValidationError, match="reason"):
        wd.set_alias("m", "champion", 1, override=True)
    wd.set_alias("m", "champion", 1, override=True, reason="bootstrap")
    wd.set_alias("m", "staging", 1)  # not protected
    with pytest.raises(Conflict, match="protected"):
        wd.delete_alias("m", "champion")
    wd.delete_alias("m", "champion", override=True, reason="retired")
    reasons = [e.payload["reason"] for e in wd.audit.events(action="alias.override")]
    assert reasons == ["bootstrap", "retired"]
    with pytest.raises(ValidationError, match="default_risk_tier"):
        mw.Warden(
            store_uri,
            artifacts=str(tmp_path / "a"),
            settings=mw.Settings(default_risk_tier="extreme"),
        )
    wd.close()
