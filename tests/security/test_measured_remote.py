"""Remote registration measured by the server (issue 14, requirement 4, stage 3), attacked
over HTTP on a real server: uploads are checked against their sha256, refused to viewers before
a byte of the body is read and capped in size; a job is visible only to its owner and admins;
a registration job neither freezes the event loop nor runs a client-named loader."""

from __future__ import annotations

import hashlib
import socket
import threading
import time

import httpx
import pytest
from security_support import open_store

import mlwarden as mw

OCTETS = {"Content-Type": "application/octet-stream"}
VERIFIED = """
name: verified-auc
verified: [metrics.roc_auc]
rules:
  - id: min-auc
    check: version.metrics.roc_auc >= 0.8
"""


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _raw_put(server, role: str, digest: str, length: int, sent: bytes) -> tuple[int, float]:
    """PUT a body announced as ``length`` bytes of which only ``sent`` is sent: the status
    and how long the answer took (an answer at all means the body was not awaited)."""
    host, port = server.url.removeprefix("http://").split(":")
    started = time.monotonic()
    with socket.create_connection((host, int(port)), timeout=10) as s:
        s.sendall(
            (
                f"PUT /v1/blobs/{digest} HTTP/1.1\r\nHost: {host}\r\n"
                f"Authorization: Bearer {server.tokens[role]}\r\n"
                f"Content-Type: application/octet-stream\r\nContent-Length: {length}\r\n\r\n"
            ).encode()
            + sent
        )
        head = s.recv(4096).decode("latin-1")
    return int(head.split(" ", 2)[1]), time.monotonic() - started


def _stored(server, digest: str) -> bool:
    with open_store(server) as wd:
        return wd.artifacts.exists(digest)


def test_blob_with_a_wrong_sha256_is_422(server):
    body = b"the bytes actually sent"
    claimed = _sha(b"something else")
    r = server.request("developer", "PUT", f"/v1/blobs/{claimed}", content=body, headers=OCTETS)
    assert r.status_code == 422, r.text
    assert r.json()["details"]["field"] == "sha256"
    assert server.request("developer", "HEAD", f"/v1/blobs/{claimed}").status_code == 404
    assert not _stored(server, claimed) and not _stored(server, _sha(body))
    r = server.request("developer", "PUT", "/v1/blobs/NOT-A-SHA", content=body, headers=OCTETS)
    assert r.status_code == 422, r.text
    server.assert_alive()


def test_viewer_upload_is_refused_before_the_body_is_read(server):
    payload = b"x" * 100 * 1024 * 1024
    digest = _sha(payload)
    # 100 MB announced (under the 512 MB cap), 1 KB sent: the 403 comes without the rest
    status, took = _raw_put(server, "viewer", digest, len(payload), payload[:1024])
    assert status == 403 and took < 5
    assert server.request("viewer", "HEAD", f"/v1/blobs/{digest}").status_code == 403
    assert not _stored(server, digest)
    with open_store(server) as wd:
        denied = wd.audit.events(action="access.denied", newest_first=True, limit=5)
        assert any(e.payload.get("action") == "model.register" for e in denied)
    server.assert_alive()


def test_an_upload_over_the_cap_is_413(server):
    status, took = _raw_put(server, "developer", "a" * 64, 600 * 1024 * 1024, b"x" * 1024)
    assert status == 413 and took < 5
    server.assert_alive()


@pytest.fixture
def small_cap_server(fresh_server):
    return fresh_server.start(MLWARDEN_SERVE_MAX_UPLOAD_MB="1")


def test_a_streamed_upload_over_the_cap_is_413(small_cap_server):
    server = small_cap_server
    data = b"y" * (2 * 1024 * 1024)

    def chunks():  # no Content-Length: counted while it streams
        for i in range(0, len(data), 64 * 1024):
            yield data[i : i + 64 * 1024]

    r = server.request(
        "developer", "PUT", f"/v1/blobs/{_sha(data)}", content=chunks(), headers=OCTETS
    )
    assert r.status_code == 413, r.text
    assert not _stored(server, _sha(data))
    small = b"z" * 1000
    r = server.request(
        "developer", "PUT", f"/v1/blobs/{_sha(small)}", content=small, headers=OCTETS
    )
    assert r.status_code == 201 and r.json() == {
        "sha256": _sha(small),
        "size": 1000,
        "created": True,
    }
    server.assert_alive()


def _upload(server, role: str, data: bytes) -> str:
    r = server.request(role, "PUT", f"/v1/blobs/{_sha(data)}", content=data, headers=OCTETS)
    assert r.status_code in (200, 201), r.text
    return _sha(data)


def _wait(server, role: str, job_id: str, timeout: float = 120) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job = server.request(role, "GET", f"/v1/jobs/{job_id}").json()
        if job["state"] in ("succeeded", "failed"):
            return job
        time.sleep(0.1)
    raise AssertionError(f"job {job_id} did not finish")


def test_a_job_is_visible_to_its_owner_and_admins_only(server, lgb_model):
    from mlwarden.registry.flavors import flavor_for

    r = server.request("admin", "POST", "/v1/users", json={"name": "dan", "role": "developer"})
    assert r.status_code == 201, r.text
    dan = server.request("admin", "POST", "/v1/tokens", json={"user": "dan"}).json()["token"]
    data, info = flavor_for(lgb_model).save(lgb_model)
    body = {"artifact_sha256": _upload(server, "developer", data), "flavor": "lightgbm"}
    body["flavor_info"] = info
    r = server.request("developer", "POST", "/v1/models/dave-model/registrations", json=body)
    assert r.status_code == 202, r.text
    job = r.json()
    assert r.headers["location"] == f"/v1/jobs/{job['id']}" and job["owner"] == "dave"
    other = httpx.get(
        f"{server.url}/v1/jobs/{job['id']}", headers={"Authorization": f"Bearer {dan}"}
    )
    assert other.status_code == 404  # another developer
    assert server.request("viewer", "GET", f"/v1/jobs/{job['id']}").status_code == 404
    assert server.request("admin", "GET", f"/v1/jobs/{job['id']}").status_code == 200
    done = _wait(server, "developer", job["id"])
    assert done["state"] == "succeeded", done
    assert done["result"]["created_by"] == "dave"
    server.assert_alive()


def test_the_event_loop_answers_during_a_registration_job(server, lgb_model, adult):
    train, test = adult  # the full data set: a job of several seconds
    X, y = train.drop(columns="income"), train["income"]
    Xt, yt = test.drop(columns="income"), test["income"]
    result: dict = {}

    def register() -> None:
        with mw.connect(server.url, token=server.tokens["developer"]) as dave:
            result["mv"] = dave.register_model(
                "measured",
                lgb_model,
                train=mw.Dataset(X, y),
                eval=mw.Dataset(Xt, yt),
                sensitive_features=["sex"],
            )

    worker = threading.Thread(target=register)
    worker.start()
    slowest, polls = 0.0, 0
    while worker.is_alive():
        started = time.monotonic()
        server.assert_alive()  # healthz within 3 s
        slowest = max(slowest, time.monotonic() - started)
        polls += 1
        time.sleep(0.05)
    worker.join()
    assert polls > 5 and slowest < 3.0, (polls, slowest)
    mv = result["mv"]
    assert set(mv.provenance.values()) == {"measured"} and mv.metrics["roc_auc"] > 0.8
    r = server.request(
        "validator", "POST", "/v1/models/measured/versions/1/checks", json={"policy_yaml": VERIFIED}
    )
    assert r.status_code == 200 and r.json()["passed"], r.text
    with open_store(server) as wd:
        assert wd.get_model("credit").aliases == {"production": 1}
        assert wd.get_model_version("measured@1").measured_metrics == mv.metrics


def test_registration_never_runs_a_client_named_loader(server, tmp_path):
    marker = tmp_path / "ran"
    code = f"open({str(marker)!r}, 'w').write('pwned')\n".encode()
    body = {
        "artifact_sha256": _upload(server, "developer", code),
        "flavor": "generic",
        "flavor_info": {"loader": "runpy:run_path"},
    }
    r = server.request("developer", "POST", "/v1/models/rce/registrations", json=body)
    assert r.status_code == 422, r.text
    assert r.json()["details"]["field"] == "flavor"
    body["flavor"] = "xgboost"
    body["flavor_info"] = {"wrapper": "set_config"}  # getattr(xgboost, wrapper)() otherwise
    r = server.request("developer", "POST", "/v1/models/rce/registrations", json=body)
    assert r.status_code == 422, r.text
    time.sleep(0.5)
    assert not marker.exists()
    with open_store(server) as wd:
        assert "rce" not in [m.name for m in wd.list_models()]
    server.assert_alive()


def test_a_garbage_lightgbm_artifact_fails_its_job_and_stores_nothing(server):
    body = {"artifact_sha256": _upload(server, "developer", b"\x00garbage"), "flavor": "lightgbm"}
    r = server.request("developer", "POST", "/v1/models/garbage/registrations", json=body)
    assert r.status_code == 202, r.text
    job = _wait(server, "developer", r.json()["id"])
    assert job["state"] == "failed" and job["error"]["error"] == "artifact_rejected", job
    assert job["error"]["http_status"] == 422 and job["result"] is None
    with open_store(server) as wd:
        assert "garbage" not in [m.name for m in wd.list_models()]
        assert wd.get_model("credit").aliases == {"production": 1}
    server.assert_alive()
