"""Finding 5, evidence part: metrics and evidence a client sends are stored as asserted, and a
gate on measured metrics does not pass on them (issue 14, requirement 4)."""

from __future__ import annotations

import base64

import pytest
from security_support import open_store

MIN_AUC = """
name: min-auc-only
rules:
  - id: min-auc
    check: version.metrics.roc_auc >= 0.80
"""
VERIFIED = """
name: verified-auc
verified: [metrics.roc_auc, fairness]
rules:
  - id: asserted-visible
    check: "!has(version.asserted.metrics.roc_auc) || version.asserted.metrics.roc_auc <= 1.0"
"""
FORGED_EVIDENCE = {
    "fairness": {"status": "ok", "summary": {"sex": {"disparate_impact": 1.0}}},
}


def _forged_body(artifact: bytes, flavor: str, flavor_info: dict | None = None) -> dict:
    return {
        "artifact_b64": base64.b64encode(artifact).decode(),
        "flavor": flavor,
        "flavor_info": flavor_info or {},
        "metrics": {"roc_auc": 0.999, "accuracy": 0.99},
        "evidence": FORGED_EVIDENCE,
        "risk_tier": "medium",
    }


def _attack(server, name: str, body: dict) -> None:
    r = server.request("developer", "POST", f"/v1/models/{name}/versions", json=body)
    server.assert_alive()
    if r.status_code >= 400:  # refused outright (e.g. an unloadable artifact): nothing stored
        assert r.status_code < 500, r.text
        with open_store(server) as wd:
            assert name not in [m.name for m in wd.list_models()]
        return
    assert r.status_code in (200, 201), r.text
    version = r.json()
    # stored, shown and audited as asserted, never as measured
    assert version["provenance"]["metrics.roc_auc"] == "asserted"
    assert version["provenance"]["fairness"] == "asserted"
    shown = server.request("viewer", "GET", f"/v1/models/{name}/versions/1").json()
    assert shown["provenance"]["metrics.roc_auc"] == "asserted"

    # the rule on measured metrics does not see the asserted value
    r = server.request(
        "validator", "POST", f"/v1/models/{name}/versions/1/checks", json={"policy_yaml": MIN_AUC}
    )
    assert r.status_code == 200, r.text
    decision = r.json()
    assert decision["passed"] is False
    [rule] = [x for x in decision["results"] if x["id"] == "min-auc"]
    assert rule["verdict"] != "pass"

    # a policy requiring verified evidence fails on it; the asserted value stays visible
    r = server.request(
        "validator", "POST", f"/v1/models/{name}/versions/1/checks", json={"policy_yaml": VERIFIED}
    )
    assert r.status_code == 200, r.text
    verdicts = {x["id"]: x["verdict"] for x in r.json()["results"]}
    assert verdicts["verified:metrics.roc_auc"] == "fail"
    assert verdicts["verified:fairness"] == "fail"
    assert verdicts["asserted-visible"] == "pass"
    ctx = server.request("viewer", "GET", f"/v1/models/{name}/versions/1/policy-context").json()
    assert "roc_auc" not in ctx["version"]["metrics"]
    assert ctx["version"]["asserted"]["metrics"]["roc_auc"] == 0.999
    assert ctx["fairness"] == {}

    # promotion on the forged numbers does not move production, whoever asks
    r = server.request(
        "admin",
        "POST",
        f"/v1/models/{name}/versions/1/promote",
        json={"alias": "production", "policy_yaml": MIN_AUC},
    )
    assert r.status_code != 500, r.text
    server.assert_alive()
    with open_store(server) as wd:
        assert "production" not in wd.get_model(name).aliases
        assert wd.get_model("credit").aliases == {"production": 1}
        mv = wd.get_model_version(f"{name}@1")
        assert mv.provenance_of("metrics.roc_auc") == "asserted"
        assert mv.measured_metrics == {}
        events = wd.audit.events(name, action="version.register")
        assert events and events[-1].payload["provenance"]["metrics.roc_auc"] == "asserted"


def test_one_byte_artifact_with_forged_auc_does_not_pass_min_auc(server):
    _attack(server, "forged-tiny", _forged_body(b"x", "lightgbm"))


def test_real_artifact_with_forged_metrics_is_asserted(server, lgb_model):
    from mlwarden.registry.flavors import flavor_for

    data, info = flavor_for(lgb_model, None, None, None).save(lgb_model)
    _attack(server, "forged-real", _forged_body(data, "lightgbm", info))


@pytest.mark.parametrize("role", ["viewer"])
def test_roles_without_register_cannot_forge(server, role):
    r = server.request(
        role, "POST", "/v1/models/forged-viewer/versions", json=_forged_body(b"x", "lightgbm")
    )
    assert r.status_code == 403, r.text
    server.assert_alive()
