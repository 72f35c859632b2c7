"""The SDK suite on both backends: ``Warden(store)`` and ``connect("http://…", token=…)``
must answer alike and raise the same exception classes."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pytest
from serve_support import LiveServer

import mlwarden as mw
from mlwarden.access import User
from mlwarden.remote import RemoteWarden


@dataclass
class Backend:
    wd: Any  # alice, admin
    kind: str
    as_user: Callable[[str, str], Any]  # (user, token) -> a Warden acting as that user


#: the remote backend over a real socket (a uvicorn thread): a smaller set of tests
ALL_THREE = pytest.mark.parametrize("backend", ["local", "remote", "socket"], indirect=True)


@pytest.fixture(params=["local", "remote"])
def backend(request, store, app):
    """``local``: the store in this process; ``remote``: a ``RemoteWarden`` through an ASGI
    transport into the app in this process; ``socket``: the same over a loopback port."""
    if request.param == "local":
        settings = mw.Settings(key_file=store.key_file)

        def local(user: str, token: str) -> Any:
            return mw.Warden(store.uri, artifacts=store.artifacts, actor=user, settings=settings)

        yield Backend(store.warden, "local", local)
        return
    if request.param == "socket":
        with LiveServer(app) as live:
            wd = mw.connect(live.url, token=store.token)
            assert isinstance(wd, RemoteWarden)
            yield Backend(wd, "remote", lambda user, token: mw.connect(live.url, token=token))
            wd.close()
        return
    inproc = request.getfixturevalue("inproc")
    wd = inproc.warden(store.token)
    assert isinstance(wd, RemoteWarden)
    yield Backend(wd, "remote", lambda user, token: inproc.warden(token))
    wd.close()


@ALL_THREE
def test_registry_look_ups_and_errors(backend):
    wd = backend.wd
    assert [m.name for m in wd.list_models()] == ["credit"]
    model = wd.get_model("credit")
    assert model.aliases == {"production": 1} and model.risk_tier == "low"
    mv = wd.get_model_version("credit@production")
    assert isinstance(mv, mw.ModelVersion) and mv.version == 1 and mv.flavor == "lightgbm"
    assert mv.signature["inputs"][0]["name"] == "age"
    assert wd.get_model_version("credit").version == 1
    assert [v.version for v in wd.list_versions("credit")] == [1]
    assert wd.serving_version("credit").version == 1
    assert wd.get_evidence("credit@1", "reference_profile")["status"] == "ok"
    with pytest.raises(mw.NotFound):
        wd.get_model("nope")
    with pytest.raises(mw.NotFound):
        wd.get_model_version("credit@7")
    with pytest.raises(mw.NotFound):
        wd.get_model_version("credit@staging")
    with pytest.raises(mw.ValidationError):
        wd.set_alias("credit", "Bad Alias", 1)


def test_aliases_and_history(backend):
    wd = backend.wd
    change = wd.set_alias("credit", "staging", 1, reason="smoke")
    assert isinstance(change, mw.AliasChange) and change.to_version == 1
    assert change.actor == "alice" and change.reason == "smoke"
    assert wd.get_model("credit").aliases == {"production": 1, "staging": 1}
    history = wd.alias_history("credit", "staging")
    assert [h.action for h in history] == ["set"]
    assert wd.delete_alias("credit", "staging").to_version is None
    with pytest.raises(mw.NotFound):
        wd.get_model_version("credit@staging")


def test_users_tokens_approvals_and_separation_of_duties(backend):
    wd = backend.wd
    user = wd.create_user("val", "validator")
    assert isinstance(user, User)
    assert user.role == "validator"
    with pytest.raises(mw.AlreadyExists):
        wd.create_user("val", "validator")
    new = wd.create_token("val", expires_in="1d", description="ci")
    assert new.token.startswith("mlw_") and new.info.user == "val"
    assert [t.id for t in wd.list_tokens("val")] == [new.info.id]
    val = backend.as_user("val", new.token)
    approval = val.approve("credit@1", comment="looks fine")
    assert approval.approver == "val" and approval.version == 1
    status = wd.approval_status("credit@1")
    assert status.have == 1 and status.approved and status.approvers == ("val",)
    assert [a.approver for a in wd.approvals("credit@1")] == ["val"]
    with pytest.raises(mw.PermissionDenied):
        wd.approve("credit@1")  # alice registered it
    with pytest.raises(mw.PermissionDenied):
        val.set_alias("credit", "production", 1)  # a validator does not move aliases
    revoked = wd.revoke_token(new.info.id)
    assert revoked.revoked_at is not None
    if backend.kind == "remote":
        with pytest.raises(mw.AuthenticationError):
            val.list_models()


def test_prediction_log_labels_and_monitoring(backend, lgb_model, credit_data):
    wd = backend.wd
    _, _, test = credit_data
    X = test.head(200)
    pred = lgb_model.predict(X)
    ids = wd.log_predictions("credit", X, pred, scores=lgb_model.predict_proba(X)[:, 1])
    assert len(ids) == 200 and len(set(ids)) == 200
    result = wd.log_labels("credit", [*ids[:50], "no-such-id"], [*pred[:50], ">50K"])
    assert result == {"labelled": 50, "unknown_ids": ["no-such-id"]}
    frame = wd.predictions("credit")
    assert len(frame) == 200 and frame["label"].notna().sum() == 50
    assert set(X.columns) <= set(frame.columns)
    with pytest.raises(mw.ValidationError):
        wd.log_predictions("credit", X, pred[:10])
    with pytest.raises(mw.NotFound):
        wd.log_predictions("nope", X, pred)
    report = wd.monitor("credit", window="1d")
    assert isinstance(report, mw.MonitorReport) and report.windows[0].rows == 200


def test_audit_log_reads_proves_and_verifies(backend):
    wd = backend.wd
    wd.set_alias("credit", "staging", 1)
    events = wd.audit.events(model="credit")
    assert [e.action for e in events][:2] == ["model.create", "version.register"]
    last = wd.audit.events(action="alias.set", newest_first=True, limit=1)[0]
    assert last.payload["to_version"] == 1 and last.payload_ok()
    assert wd.audit.get(last.seq) == last
    proof = wd.audit.prove(last.seq)
    assert proof.verify_event(last)
    assert wd.audit.size >= last.seq
    result = wd.audit.verify()
    assert result.ok and result.events_checked == wd.audit.size


@ALL_THREE
def test_load_and_register_models(backend, lgb_model, credit_data):
    wd = backend.wd
    X, y, test = credit_data
    loaded = wd.load_model("credit@production")
    assert (loaded.predict(test.head(30)) == lgb_model.predict(test.head(30))).all()
    mv = wd.register_model("credit", lgb_model, train=mw.Dataset(X, y), description="again")
    assert mv.version == 2 and mv.created_by == "alice"
    assert mv.artifact_sha256 == wd.get_model_version("credit@1").artifact_sha256
    assert wd.get_evidence("credit@2", "reference_profile")["status"] == "ok"
    np.testing.assert_allclose(
        wd.load_model("credit@2").predict_proba(test.head(5)), lgb_model.predict_proba(test.head(5))
    )
    events = wd.audit.events(model="credit", action="version.register")
    assert [e.subject for e in events] == ["model:credit/1", "model:credit/2"]


GATE = """\
name: smoke-gate
rules:
  - id: auc
    check: version.metrics.roc_auc >= {threshold}
    message: ROC AUC must be at least {threshold}
"""


def test_policy_checks_promotions_and_rollbacks(backend, lgb_model, credit_data, tmp_path):
    wd = backend.wd
    X, y, _ = credit_data
    wd.register_model("credit", lgb_model, train=mw.Dataset(X, y))
    easy, hard = tmp_path / "easy.yaml", tmp_path / "hard.yaml"
    easy.write_text(GATE.format(threshold=0.5))
    hard.write_text(GATE.format(threshold=1.5))
    decision = wd.check("credit@2", easy)
    assert decision.passed and decision.results[0].verdict == "pass" and decision.actor == "alice"
    # production is protected: a policy sent with the request only dry-runs
    dry = wd.promote("credit@2", alias="production", policy=easy, dry_run=True)
    assert dry.decision.inline and dry.change is None
    with pytest.raises(mw.Conflict, match="protected alias"):
        wd.promote("credit@2", alias="production", policy=easy)
    wd.install_policy(hard)
    assert wd.bind_policy("smoke-gate", alias="production").target == "alias:production"
    with pytest.raises(mw.PolicyViolation) as refused:
        wd.promote("credit@2", alias="production")
    assert refused.value.details["failed_rules"]
    installed = wd.install_policy(easy)
    assert installed.version == 2 and wd.gate_policy("smoke-gate", 1).sha256 != installed.sha256
    promotion = wd.promote("credit@2", alias="production", reason="better")
    assert promotion.allowed and promotion.change.to_version == 2
    assert promotion.decision.policy_sha256 == installed.sha256
    assert wd.get_model("credit").aliases["production"] == 2
    back = wd.rollback("credit", alias="production", reason="smoke test")
    assert isinstance(back, mw.AliasChange) and back.to_version == 1
    assert len(wd.decisions("credit@2")) >= 3
    context = wd.policy_context("credit@2")
    assert context["model"]["name"] == "credit" and "metrics" in context["version"]


# the governed prediction path: on the server remotely, in this process locally
@ALL_THREE
def test_predict_is_governed(backend, store, lgb_model, credit_data):
    _, _, test = credit_data
    out = backend.wd.predict("credit", test.head(3), explain=True)
    assert out["outputs"] == lgb_model.predict(test.head(3)).tolist() and out["logged"]
    assert out["model"] == "credit" and out["version"] == 1 and out["alias"] == "production"
    assert len(out["reasons"]) == 3 and len(out["scores"]) == 3
    assert out["excluded_features"] == ["sex"]  # sensitive: never cited, on both sides
    logged = backend.wd.prediction(out["ids"][0])
    assert logged["reasons"] == out["reasons"][0] and logged["version"] == 1
    assert len(store.warden.predictions("credit", ids=out["ids"])) == 3
    with pytest.raises(mw.ValidationError) as bad:
        backend.wd.predict("credit", test.head(1).drop(columns="age"))
    assert bad.value.details["errors"][0]["error"] == "missing"


def test_subject_column_monitor_explain_and_rollup(backend, lgb_model, credit_data):
    wd = backend.wd
    _, _, test = credit_data
    X = test.head(120).reset_index(drop=True)
    keyed = X.assign(customer=[f"cust-{i % 4}" for i in range(len(X))])
    days = [f"2024-03-0{1 + i % 3}T12:00:00+00:00" for i in range(len(X))]
    ids = wd.log_predictions(
        "credit", keyed, lgb_model.predict(X), timestamps=days, subject_column="customer"
    )
    assert len(ids) == 120
    assert len(wd.export_subject("cust-1")["predictions"]) == 30
    assert "customer" not in wd.predictions("credit").columns  # a key, never an input
    with pytest.raises(mw.ValidationError):
        wd.log_predictions("credit", X, lgb_model.predict(X), subject_column="nope")
    daily = wd.monitor("credit", window="1d", explain=True)
    assert [w.rows for w in daily.windows] == [40, 40, 40]
    assert all(w.attribution for w in daily.windows)
    weekly = wd.monitor_rollup("credit", source="1d", window="7d")
    assert isinstance(weekly, mw.MonitorReport) and sum(w.rows for w in weekly.windows) == 120
    with pytest.raises(mw.ValidationError):
        wd.monitor_rollup("credit", window="100rows")


def test_http_uris_pick_the_remote_backend(monkeypatch):
    monkeypatch.setenv("MLWARDEN_URI", "http://127.0.0.1:9")
    monkeypatch.delenv("MLWARDEN_TOKEN", raising=False)
    with pytest.raises(mw.AuthenticationError):
        mw.connect()
    monkeypatch.setenv("MLWARDEN_TOKEN", "mlw_x")
    wd = mw.connect()
    assert isinstance(wd, RemoteWarden) and wd.uri == "http://127.0.0.1:9"
    with pytest.raises(mw.WardenError, match="cannot reach"):
        wd.list_models()  # nothing listens on port 9
    wd.close()
    # the local facade is the local backend only: it says where a server URI goes
    with pytest.raises(mw.ValidationError, match=r"mlwarden\.connect") as refused:
        mw.Warden()
    assert refused.value.details["field"] == "uri"
    explicit = mw.connect("https://warden.example", token="mlw_y")
    assert (
        isinstance(explicit, RemoteWarden) and repr(explicit) == "Warden('https://warden.example')"
    )
