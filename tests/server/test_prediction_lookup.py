"""One prediction by id (``GET /v1/predictions/{id}``, ``wd.prediction(id)``) and listing a
log where explained rows and subject-keyed rows mix (issue 15 item 10), on both databases,
through the app in this process (``inproc``: an ASGI transport, no socket)."""

from __future__ import annotations

import hashlib
import json

import pytest
from serve_support import records

import mlwarden as mw
from mlwarden.audit.log import InclusionProof
from mlwarden.audit.signing import Checkpoint
from mlwarden.entities.audit import AuditEvent
from mlwarden.errors import NotFound, ValidationError
from mlwarden.remote import RemoteWarden


@pytest.fixture
def logged(store, inproc, credit_data):
    """The app in process; the log holds explained predictions (through ``/predict``) and
    subject-keyed ones without reasons (batch logging), plus a viewer's token."""
    _, _, Xt = credit_data
    wd = store.warden
    wd.create_user("vic", "viewer")
    vic = wd.create_token("vic").token
    served = inproc  # the app behind an ASGI transport: no socket, no server thread
    with served.client(headers=store.headers(), timeout=60) as http:
        r = http.post(
            "/v1/models/credit/predict",
            params={"explain": "true"},
            json={"records": records(Xt, 3)},
        )
        assert r.status_code == 200, r.text
        explained = r.json()["ids"]
    batch = Xt.iloc[10:14]
    keyed = wd.log_predictions("credit", batch, ["<=50K"] * 4, subjects=["s-1", "s-2", None, "s-3"])
    wd.log_labels("credit", [keyed[0]], [">50K"])
    yield served, store, vic, explained, keyed


def _get(served, token, path, **kw):
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    with served.client(headers=headers) as c:
        return c.get(path, timeout=60, **kw)


def test_listing_explained_and_subject_keyed_rows_is_not_a_500(logged):
    served, store, vic, explained, keyed = logged
    for token in (store.token, vic):  # unsealed (admin) and sealed (viewer) reads
        r = _get(served, token, "/v1/models/credit/predictions")
        assert r.status_code == 200, r.text
        rows = {row["id"]: row for row in r.json()["rows"]}
        assert set(explained) | set(keyed) <= set(rows)
        assert all(rows[i]["reasons"] for i in explained)
        assert rows[keyed[2]]["reasons"] is None  # not keyed, not explained
    # the SDK over HTTP and locally read the same mixed log
    remote = served.warden(store.token)
    assert len(remote.predictions("credit")) == len(explained) + len(keyed)
    assert len(store.warden.predictions("credit")) == len(explained) + len(keyed)


def _verify_proof(found: dict) -> None:
    """What a client does: the batch's ids hash to the event's ids_sha256, the event is the
    proven leaf, and the path leads to the signed checkpoint's root."""
    proof = found["proof"]
    assert proof is not None, found["proof_note"]
    ids = proof["ids"]
    assert found["id"] in ids
    payload = json.loads(proof["event"]["payload_json"])
    assert payload["ids_sha256"] == hashlib.sha256("\n".join(ids).encode()).hexdigest()
    ev = proof["event"]
    event = AuditEvent(
        seq=ev["seq"],
        time=ev["time"],
        actor=ev["actor"],
        action=ev["action"],
        subject=ev["subject"],
        payload_digest=ev["payload_digest"],
        payload_json=ev["payload_json"],
        salt=ev["salt"],
    )
    p = proof["proof"]
    inclusion = InclusionProof(
        seq=p["seq"],
        tree_size=p["tree_size"],
        leaf_hash=p["leaf_hash"],
        path=tuple(p["path"]),
        root_hash=p["root_hash"],
    )
    cp = proof["checkpoint"]
    checkpoint = Checkpoint.from_dict(cp)
    assert inclusion.verify_event(event, checkpoint)
    assert cp["signature_ok"] is True


def test_one_prediction_by_id_with_reasons_and_inclusion_proof(logged):
    served, store, _vic, explained, _keyed = logged
    r = _get(served, store.token, f"/v1/predictions/{explained[1]}")
    assert r.status_code == 200, r.text
    found = r.json()
    assert found["model"] == "credit" and found["version"] == 1
    assert found["id"] == explained[1] and not found["sealed"] and not found["erased"]
    assert set(found["inputs"]) >= {"age", "sex"}
    assert found["output"] in ("<=50K", ">50K") and 0 <= found["score"] <= 1
    assert found["reasons"] and {"feature", "contribution"} <= set(found["reasons"][0])
    assert found["label"] is None
    _verify_proof(found)
    # the same through both SDK transports
    remote = served.warden(store.token)
    assert isinstance(remote, RemoteWarden)
    assert remote.prediction(explained[1]) == found
    local = store.warden.prediction(explained[1])
    assert json.loads(json.dumps(local)) == found


def test_subject_keyed_prediction_is_opened_for_admins_and_sealed_for_others(logged):
    served, store, vic, _explained, keyed = logged
    admin = _get(served, store.token, f"/v1/predictions/{keyed[0]}").json()
    assert not admin["sealed"] and admin["inputs"]["age"] is not None
    assert admin["output"] == "<=50K" and admin["label"] == ">50K"
    assert admin["reasons"] is None
    _verify_proof(admin)
    r = _get(served, vic, f"/v1/predictions/{keyed[0]}")
    assert r.status_code == 200, r.text
    sealed = r.json()
    assert sealed["sealed"] is True
    assert sealed["inputs"] is None and sealed["output"] is None and sealed["reasons"] is None
    _verify_proof(sealed)  # the proof is about the batch, not the sealed payload
    # an erased subject's prediction keeps its id, version and proof, nothing else
    store.warden.erase_subject("s-2")
    erased = _get(served, store.token, f"/v1/predictions/{keyed[1]}").json()
    assert erased["erased"] is True and erased["inputs"] is None and erased["output"] is None
    # The erasure rewrote that row (on PostgreSQL, a new tuple elsewhere in the heap): every
    # prediction of the batch still proves with the batch's ids in logged order.
    for prediction_id in keyed:
        found = _get(served, store.token, f"/v1/predictions/{prediction_id}").json()
        _verify_proof(found)
        assert found["proof"]["ids"] == keyed


def test_an_old_batch_is_proven_however_many_batches_came_after(logged, credit_data, monkeypatch):
    """Each batch's transaction records its event's seq: the look-up no longer searches the
    newest batch events (5,000 of them: a minute of traffic on a busy model)."""
    import mlwarden.monitor.lookup as lookup

    served, store, _vic, explained, keyed = logged
    monkeypatch.setattr(lookup, "BATCH_SCAN", 1)  # a search would see the newest batch only
    _, _, Xt = credit_data
    for start in (20, 22, 24):
        store.warden.log_predictions("credit", Xt.iloc[start : start + 2], ["<=50K"] * 2)
    for prediction_id in (explained[0], keyed[2]):  # logged by the server's writer, the SDK
        found = _get(served, store.token, f"/v1/predictions/{prediction_id}").json()
        _verify_proof(found)


def test_unknown_and_malformed_ids_are_4xx(logged):
    served, store, _vic, explained, _keyed = logged
    r = _get(served, store.token, "/v1/predictions/no-such-id")
    assert r.status_code == 404 and r.json()["error"] == "not_found"
    r = _get(served, store.token, "/v1/predictions/" + "x" * 65)
    assert r.status_code == 422 and r.json()["details"]["field"] == "id"
    r = _get(served, None, f"/v1/predictions/{explained[0]}")
    assert r.status_code == 401
    remote = served.warden(store.token)
    with pytest.raises(NotFound):
        remote.prediction("no-such-id")
    with pytest.raises(NotFound):
        store.warden.prediction("no-such-id")
    with pytest.raises(ValidationError):
        store.warden.prediction("")


def test_a_server_that_is_down_is_one_readable_line(tmp_path):
    """The CLI and the SDK against a server that is not running: one line, non-zero exit (the
    SDK's error carries no chained httpx traceback)."""
    import os
    import subprocess
    import sys

    from serve_support import SRC, free_port

    from mlwarden.errors import WardenError

    url = f"http://127.0.0.1:{free_port()}"
    env = {**os.environ, "PYTHONPATH": SRC, "MLWARDEN_URI": url, "MLWARDEN_TOKEN": "wd_x"}
    env.pop("MLWARDEN_DEBUG", None)
    for args in (["models", "list"], ["audit", "verify"], ["audit", "checkpoint"]):
        done = subprocess.run(
            [sys.executable, "-c", "from mlwarden.cli.main import main; main()", *args],
            env=env,
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert done.returncode != 0, args
        assert "Traceback" not in done.stderr + done.stdout, (args, done.stderr)
        lines = [ln for ln in done.stderr.splitlines() if ln.strip()]
        assert len(lines) == 1 and lines[0].startswith("error:"), (args, done.stderr)
    remote = mw.connect(url, token="wd_x")
    with pytest.raises(WardenError, match="cannot reach the Warden server") as info:
        remote.prediction("some-id")
    assert info.value.__cause__ is None and info.value.__suppress_context__
