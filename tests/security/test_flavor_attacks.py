"""Finding 1 (code execution through a client-named loader) and the garbage-artifact part of
finding 5, against a real server on SQLite and PostgreSQL."""

from __future__ import annotations

import base64
import time
from pathlib import Path

import pytest
from security_support import SRC, open_store

import mlwarden as mw
from mlwarden.store.registry_store import NewVersion

TESTS = str(Path(__file__).resolve().parents[1])


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def _versions(srv) -> list[int]:
    r = srv.request("admin", "GET", "/v1/models/credit/versions")
    assert r.status_code == 200, r.text
    return [v["version"] for v in r.json()]


def _production_answers(srv, credit_data) -> None:
    _, _, test = credit_data
    rows = test.head(3).astype(object).where(test.head(3).notna(), None).to_dict("records")
    r = srv.request("viewer", "POST", "/v1/models/credit/predict", json={"records": rows})
    assert r.status_code == 200, r.text
    assert r.json()["version"] == 1 and len(r.json()["outputs"]) == 3


def _signature(srv) -> dict:
    return srv.request("admin", "GET", "/v1/models/credit/versions/1").json()["signature"]


def _unchanged(srv, before: list[int]) -> None:
    srv.assert_alive()
    assert _versions(srv) == before
    with open_store(srv) as wd:
        assert wd.get_model("credit").aliases == {"production": 1}


def test_a_client_named_loader_never_runs(server, tmp_path):
    marker = tmp_path / "pwned"
    # the finding's payload: copy the audit signing key somewhere readable
    key = f"open({server.key_file!r}).read()"
    payload = f"import pathlib\npathlib.Path({str(marker)!r}).write_text({key})"
    before = _versions(server)
    body = {
        "artifact_b64": _b64(payload.encode()),
        "flavor": "generic",
        "flavor_info": {"loader": "runpy:run_path"},
        "signature": _signature(server),
    }
    r = server.request("developer", "POST", "/v1/models/credit/versions", json=body)
    assert r.status_code == 403, r.text
    assert r.json()["error"] == "untrusted_code"
    assert r.json()["details"]["field"] == "flavor_info.loader"
    assert "runpy:run_path" in r.json()["message"]
    # nor a flavor the server does not have, nor an XGBoost wrapper the client names
    body["flavor"] = "pickle"
    assert (
        server.request("developer", "POST", "/v1/models/credit/versions", json=body).status_code
        == 422
    )
    body.update(flavor="xgboost", flavor_info={"wrapper": "set_config"})
    r = server.request("developer", "POST", "/v1/models/credit/versions", json=body)
    assert r.status_code == 422 and r.json()["error"] == "artifact_rejected", r.text
    assert not marker.exists()
    _unchanged(server, before)


def test_a_garbage_lightgbm_artifact_is_refused_and_production_still_answers(server, credit_data):
    before = _versions(server)
    v1 = server.request("admin", "GET", "/v1/models/credit/versions/1").json()
    body = {
        "artifact_b64": _b64(b"x"),
        "flavor": "lightgbm",
        "flavor_info": v1["flavor_info"],
        "signature": v1["signature"],
        "metrics": {"roc_auc": 0.999},
    }
    r = server.request("developer", "POST", "/v1/models/credit/versions", json=body)
    assert r.status_code == 422, r.text
    assert r.json()["error"] == "artifact_rejected"
    assert r.json()["details"]["field"] == "artifact"
    assert "lightgbm artifact failed" in r.json()["message"]
    # a skops file that is not one, too
    body.update(flavor="sklearn", flavor_info={"trusted_types": ["posix.system"]})
    r = server.request("developer", "POST", "/v1/models/credit/versions", json=body)
    assert r.status_code == 422 and r.json()["error"] == "artifact_rejected", r.text
    _unchanged(server, before)
    _production_answers(server, credit_data)


def test_a_sound_upload_still_registers(server, lgb_model, credit_data):
    X, y, _ = credit_data
    remote = mw.connect(server.url, token=server.tokens["developer"])
    try:
        mv = remote.register_model("credit", lgb_model, train=mw.Dataset(X.head(500), y.head(500)))
        assert mv.flavor == "lightgbm" and mv.version > 1
        assert remote.load_model(mv.ref).predict(X.head(5)).shape == (5,)
    finally:
        remote.close()
    server.assert_alive()


def test_a_stored_untrusted_loader_is_refused_by_every_reader(server, tmp_path, credit_data):
    """A generic version written straight into the shared store (not through the API):
    neither the server's serving, nor a colleague's RemoteWarden, nor a local Warden run it."""
    marker = tmp_path / "pwned"
    data = f"open({str(marker)!r}, 'w').write('ran')".encode()
    with open_store(server) as wd:
        digest = wd.artifacts.put(data)
        spec = NewVersion(
            artifact_sha256=digest,
            artifact_size=len(data),
            flavor="generic",
            flavor_info={"loader": "runpy:run_path"},
            signature=_signature(server),
            lineage={},
            metrics={},
            params={},
            description=None,
        )
        with wd.db.transaction():
            bad = wd.registry.store.create_version("credit", spec, {}, "mallory")
        with pytest.raises(mw.PermissionDenied, match="not trusted"):
            wd.load_model(bad.ref)
    _, _, test = credit_data
    rows = test.head(1).astype(object).where(test.head(1).notna(), None).to_dict("records")
    r = server.request(
        "viewer", "POST", f"/v1/models/credit/predict?version={bad.version}", json={"records": rows}
    )
    assert r.status_code == 403 and r.json()["error"] == "untrusted_code", r.text
    remote = mw.connect(server.url, token=server.tokens["viewer"])
    try:
        with pytest.raises(mw.PermissionDenied, match="not trusted"):
            remote.load_model(bad.ref)
    finally:
        remote.close()
    assert not marker.exists()
    server.assert_alive()
    _production_answers(server, credit_data)


def test_hostile_trusted_loaders_are_contained(fresh_server):
    """Even a loader the operator trusts runs in the sandbox: a hang, a memory hog and a
    segfault are refused within the limits, and the server stays up."""
    loaders = ["fine", "sleep_forever", "allocate", "segfault"]
    fresh_server.start(
        PYTHONPATH=f"{SRC}:{TESTS}",
        MLWARDEN_TRUSTED_LOADERS=",".join(f"_hostile_loaders:{n}" for n in loaders),
        MLWARDEN_SANDBOX_TIMEOUT_S="3",
        MLWARDEN_SANDBOX_MEMORY_MB="256",
    )
    before = _versions(fresh_server)
    signature = {"inputs": [{"name": "age", "type": "float"}], "output": {"type": "number"}}
    expected = {"sleep_forever": "timeout", "allocate": "memory", "segfault": "crash"}
    for loader, problem in expected.items():
        body = {
            "artifact_b64": _b64(b"{}"),
            "flavor": "generic",
            "flavor_info": {"loader": f"_hostile_loaders:{loader}"},
            "signature": signature,
        }
        started = time.monotonic()
        r = fresh_server.request("developer", "POST", "/v1/models/other/versions", json=body)
        assert r.status_code == 422, r.text
        assert r.json()["error"] == "artifact_rejected"
        assert r.json()["details"]["problem"] == problem, r.text
        # the 3 s limit, plus the sandbox's first start-up on a busy two-core machine
        assert time.monotonic() - started < 40
        fresh_server.assert_alive()
    assert fresh_server.request("admin", "GET", "/v1/models/other").status_code == 404
    _unchanged(fresh_server, before)
    # the trusted, well-behaved loader registers
    body["flavor_info"] = {"loader": "_hostile_loaders:fine"}
    r = fresh_server.request("developer", "POST", "/v1/models/other/versions", json=body)
    assert r.status_code == 201, r.text
