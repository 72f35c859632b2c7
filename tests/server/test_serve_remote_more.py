"""The SDK methods added after the server (data subjects, masking, alerts, reports, audit
export) on both backends: same answers, same exceptions, same role checks."""

from __future__ import annotations

import json
import re
import zipfile

import pytest
import test_serve_remote

import mlwarden as mw
from mlwarden.alerts.policy import MonitoringPolicy, load
from mlwarden.entities.alerts import Alert, Delivery, Evaluation

backend = test_serve_remote.backend  # the same local/remote fixture, shared not copied

WATCH = """\
kind: monitoring
name: rows-watch
window: 1d
rules:
  - id: any-rows
    when: drift.share_drifted >= 0.0
    severity: warning
    message: a window was seen
"""

MASKING = """\
version: 1
default: keep
columns:
  sex: {action: redact}
"""


def viewer(backend, name: str = "vic"):
    """A Warden acting as a viewer (for the refusals)."""
    backend.wd.create_user(name, "viewer")
    return backend.as_user(name, backend.wd.create_token(name).token)


def undated(text: str) -> str:
    """A document without its generation time."""
    return re.sub(r"\d{4}-\d\d-\d\d[ T][\d:.]+\+00:00", "", text)


def log_some(wd, lgb_model, credit_data, n: int = 60, subjects=None):
    _, _, test = credit_data
    X = test.head(n)
    return wd.log_predictions("credit", X, lgb_model.predict(X), subjects=subjects)


def test_subject_access_and_erasure(backend, store, lgb_model, credit_data):
    wd = backend.wd
    log_some(wd, lgb_model, credit_data, subjects=[f"cust-{i % 3}" for i in range(60)])
    vic = viewer(backend)
    with pytest.raises(mw.PermissionDenied):
        vic.export_subject("cust-1")
    with pytest.raises(mw.PermissionDenied):
        vic.erase_subject("cust-1")
    exported = wd.export_subject("cust-1")
    assert exported["subject"] == store.warden.vault.pseudonym("cust-1")
    assert len(exported["predictions"]) == 20
    assert exported["predictions"] == store.warden.export_subject("cust-1")["predictions"]
    erased = wd.erase_subject("cust-1", reason="Art. 17 request")
    # (plus what became of the residue: wal_truncated on SQLite, vacuumed on PostgreSQL)
    assert erased | {"subject": exported["subject"], "predictions": 20} == erased
    events = wd.audit.events(action="subject.erase")
    assert len(events) == 1 and events[0].actor == "alice"
    # refusals are audited under the pseudonym: the raw identifier is never written
    denials = [e for e in wd.audit.events(actor="vic") if "cust-1" in json.dumps(e.payload)]
    assert denials == []
    assert wd.audit.verify().ok


def test_retention_and_masking_policies(backend, store, lgb_model, credit_data, tmp_path):
    wd = backend.wd
    vic = viewer(backend)
    with pytest.raises(mw.PermissionDenied):
        vic.set_retention("credit", 30)
    with pytest.raises(mw.PermissionDenied):
        vic.apply_retention()
    with pytest.raises(mw.PermissionDenied):
        vic.set_masking_policy("credit", MASKING)
    with pytest.raises(mw.ValidationError):
        wd.set_retention("credit", 0)
    with pytest.raises(mw.NotFound):
        wd.set_retention("nope", 30)
    assert wd.set_retention("credit", 30) is None
    log_some(wd, lgb_model, credit_data)
    assert wd.apply_retention() == {"credit": 0}  # nothing is 30 days old yet
    path = tmp_path / "masking.yaml"
    path.write_text(MASKING)
    for given in (MASKING, str(path), path):  # text, or a file read on the caller's side
        policy = wd.set_masking_policy("credit", given)
        assert policy.to_dict() == store.warden.masking.get("credit").to_dict()
    assert policy.to_dict()["columns"] == {"sex": "redact"}
    with pytest.raises(mw.NotFound):
        wd.set_masking_policy("nope", MASKING)
    log_some(wd, lgb_model, credit_data, n=5)
    assert wd.predictions("credit")["sex"].tail(5).tolist() == ["<REDACTED>"] * 5


def test_monitoring_policies_alerts_and_blocks(backend, store, lgb_model, credit_data, tmp_path):
    wd = backend.wd
    log_some(wd, lgb_model, credit_data, n=100)
    path = tmp_path / "watch.yaml"
    path.write_text(WATCH)
    vic = viewer(backend)
    if backend.kind == "remote":  # locally, the scheduler evaluates as the server's actor
        with pytest.raises(mw.PermissionDenied):
            vic.evaluate_monitoring([path], refresh=True)
    with pytest.raises(mw.PermissionDenied):
        vic.install_monitoring_policy(path)
    with pytest.raises(mw.NotFound):
        wd.install_monitoring_policy(tmp_path / "missing.yaml")
    installed = wd.install_monitoring_policy(path)
    assert isinstance(installed, MonitoringPolicy) and installed.path == str(path)
    assert installed.to_dict() == load(path).to_dict()
    policies = wd.monitoring_policies()
    assert [p.to_dict() for p in policies] == [
        p.to_dict() for p in store.warden.monitoring_policies()
    ]
    result = wd.evaluate_monitoring(refresh=True)
    assert isinstance(result, Evaluation) and [o.change for o in result.outcomes] == ["fired"]
    alerts = wd.alerts("credit", status="firing")
    assert all(isinstance(a, Alert) for a in alerts) and len(alerts) == 1
    assert alerts[0].ref == "credit@1" and alerts[0].policy == "rows-watch"
    local = store.warden.alerts("credit", status="firing")
    assert [a.to_dict() for a in alerts] == [a.to_dict() for a in local]
    assert wd.alerts(policy="other") == [] and wd.alerts(limit=1)[0].id == alerts[0].id
    deliveries = wd.alert_deliveries(alerts[0].id)
    assert all(isinstance(d, Delivery) for d in deliveries)
    assert [d.to_dict() for d in deliveries] == [
        d.to_dict() for d in store.warden.alert_deliveries(alerts[0].id)
    ]
    with pytest.raises(mw.PermissionDenied):
        vic.block("credit@1", reason="no")
    blocked = wd.block("credit@1", reason="investigating")
    assert isinstance(blocked, mw.ModelVersion) and blocked.status == "blocked"
    with pytest.raises(mw.PermissionDenied):
        vic.unblock("credit@1", reason="no")
    back = wd.unblock("credit@production", reason="fine")
    assert back.status != "blocked" and back == wd.get_model_version("credit@1")
    with pytest.raises(mw.ValidationError):
        wd.unblock("credit@1", reason="not blocked")


def test_reports_and_bundles(backend, store, tmp_path):
    wd = backend.wd
    card = wd.report("card", "credit@1")
    assert isinstance(card, str) and undated(card) == undated(
        store.warden.report("card", "credit@1")
    )
    html = wd.report("card", "credit@production", format="html")
    assert html.lstrip().lower().startswith("<!doctype html")
    out = wd.report("gaps", "credit@1", out=tmp_path / "docs" / "gaps.md")
    assert out == tmp_path / "docs" / "gaps.md" and out.read_text().strip()
    with pytest.raises(mw.ValidationError):
        wd.report("nonsense", "credit@1")
    with pytest.raises(mw.ValidationError):
        wd.report("card", "credit@1", format="pdf")  # a PDF needs out=
    with pytest.raises(mw.NotFound):
        wd.report("card", "credit@9")
    path = wd.bundle("credit@1", tmp_path / "b" / "credit.zip")
    assert path == tmp_path / "b" / "credit.zip"
    assert mw.reports.verify_bundle(path)
    with zipfile.ZipFile(path) as zf:
        manifest = json.loads(zf.read("manifest.json"))
    assert manifest["ref"] == "credit@1" and manifest["created_by"] == "alice"


def test_audit_export(backend, store, tmp_path):
    wd = backend.wd
    n = wd.audit.export(tmp_path / "audit.jsonl")
    lines = (tmp_path / "audit.jsonl").read_text().splitlines()
    assert n == wd.audit.size and n >= 3 and "public_key" in json.loads(lines[0])
    assert "checkpoint" in json.loads(lines[-1])  # every exported event is signed
    assert store.warden.audit.export(tmp_path / "local.jsonl") == n
    assert (tmp_path / "local.jsonl").read_text().splitlines()[1 : n + 1] == lines[1 : n + 1]


def test_alert_channels_locally_and_remotely(backend, store):
    wd = backend.wd
    vic = viewer(backend)
    with pytest.raises(mw.PermissionDenied):
        vic.install_alert_channel("ops", "https://hooks.example.com/x")
    with pytest.raises(mw.PermissionDenied):
        vic.alert_channels()
    with pytest.raises(mw.ValidationError, match="MLWARDEN_ALERTS_ALLOWED_HOSTS"):
        wd.install_alert_channel("ops", "http://169.254.169.254/latest/meta-data")
    ch = wd.install_alert_channel(
        "ops", "https://hooks.example.com/x", secret_env="MLWARDEN_WEBHOOK_SECRET_OPS"
    )
    assert (ch.name, ch.format, ch.secret_env) == ("ops", "json", "MLWARDEN_WEBHOOK_SECRET_OPS")
    assert wd.alert_channels() == store.warden.alert_channels() == [ch]
    wd.remove_alert_channel("ops")
    with pytest.raises(mw.NotFound):
        wd.remove_alert_channel("ops")
    assert wd.alert_channels() == []
