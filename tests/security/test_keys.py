"""Finding 11 and part of 12: a replica with another (or no) master key refuses to start,
an erasure over HTTP leaves no copy of the subject's wrapped key behind, and the server's
store is private to its owner."""

from __future__ import annotations

import base64
import dataclasses
import os
import stat
from pathlib import Path

import pytest
from security_support import SecureServer, free_port, open_store
from sqlalchemy import text


def _replica(srv: SecureServer, name: str) -> SecureServer:
    """Another server process on the same store, on its own port and log."""
    return dataclasses.replace(
        srv, url=f"http://127.0.0.1:{free_port()}", log=srv.log.with_name(f"{name}.log"), proc=None
    )


def _wrapped(srv: SecureServer, subject: str) -> tuple[str, bytes]:
    with open_store(srv) as wd:
        pseudonym = wd.vault.pseudonym(subject)
        with wd.db.reading() as conn:
            wrapped = conn.execute(
                text("SELECT wrapped FROM subject_keys WHERE subject = :s"), {"s": pseudonym}
            ).scalar_one()
    return pseudonym, bytes(wrapped)


def _predict_for(srv: SecureServer, credit_data, subjects: list[str]) -> None:
    _, _, X_test = credit_data
    rows = X_test.iloc[: len(subjects)].to_dict(orient="records")
    r = srv.request(
        "developer",
        "POST",
        "/v1/models/credit/predict",
        json={"records": rows, "subjects": subjects},
    )
    assert r.status_code == 200, r.text


def test_a_replica_without_the_store_master_key_refuses_to_start(fresh_server, credit_data):
    fresh_server.start()
    _predict_for(fresh_server, credit_data, ["cust-1", "cust-2"])  # the store holds subject keys
    folder = Path(fresh_server.log).parent
    other_key = folder / "elsewhere" / "master.key"
    attempts = {
        "missing": {"MLWARDEN_MASTER_KEY_FILE": str(other_key)},
        "different": {"MLWARDEN_MASTER_KEY": base64.b64encode(os.urandom(32)).decode()},
    }
    for name, env in attempts.items():
        replica = _replica(fresh_server, name)
        with pytest.raises(RuntimeError, match="server exited") as failed:
            replica.start(**env)
        log = replica.log.read_text()
        assert "refusing to start" in log and "MLWARDEN_MASTER_KEY" in log, log
        assert "Traceback" not in log
        assert replica.proc is not None and replica.proc.returncode == 1
        assert "Uvicorn running" not in str(failed.value)
    assert not other_key.exists()  # no key was silently made
    # the first server is unharmed, and a replica given the same key starts
    fresh_server.assert_alive()
    same = (Path(fresh_server.key_file).with_name("master.key")).read_bytes()
    replica = _replica(fresh_server, "same").start(
        MLWARDEN_MASTER_KEY=base64.b64encode(same).decode()
    )
    try:
        replica.assert_alive()
        r = replica.request("admin", "POST", "/v1/subjects/export", json={"subject": "cust-1"})
        assert r.status_code == 200 and len(r.json()["predictions"]) == 1
    finally:
        replica.stop()


def test_a_replica_with_another_audit_signing_key_refuses_to_start(fresh_server, tmp_path):
    from mlwarden.audit.signing import Signer

    other = tmp_path / "other-keys" / "audit.pem"
    Signer.create(other)
    master = str(Path(fresh_server.key_file).with_name("master.key"))
    replica = _replica(fresh_server, "audit")
    with pytest.raises(RuntimeError, match="server exited"):
        replica.start(MLWARDEN_KEY_FILE=str(other), MLWARDEN_MASTER_KEY_FILE=master)
    log = replica.log.read_text()
    assert "refusing to start: the audit log is signed with key" in log and "Traceback" not in log
    pinned = base64.b64encode(os.urandom(32)).decode()  # a public key that is not the store's
    replica = _replica(fresh_server, "pinned")
    with pytest.raises(RuntimeError, match="server exited"):
        replica.start(MLWARDEN_AUDIT_PUBKEY=pinned)
    assert "pinned MLWARDEN_AUDIT_PUBKEY" in replica.log.read_text()


def test_erasure_over_http_leaves_no_wrapped_key(server, credit_data):
    _predict_for(server, credit_data, ["erase-me", "keep-me"])
    pseudonym, wrapped = _wrapped(server, "erase-me")
    sqlite = server.uri.startswith("sqlite")
    if sqlite:
        db = Path(server.uri.removeprefix("sqlite:///"))
        wal = Path(f"{db}-wal")
        assert wrapped in wal.read_bytes() + db.read_bytes()
    else:
        with open_store(server) as wd, wd.db.reading() as conn:
            before = conn.execute(text("SELECT pg_relation_filenode('subject_keys')")).scalar()
    # a viewer cannot erase (nor a developer); the admin can
    for role in ("viewer", "developer"):
        r = server.request(role, "POST", "/v1/subjects/erase", json={"subject": "erase-me"})
        assert r.status_code == 403, r.text
    r = server.request(
        "admin", "POST", "/v1/subjects/erase", json={"subject": "erase-me", "vacuum": True}
    )
    assert r.status_code == 200, r.text
    assert r.json()["subject"] == pseudonym
    server.assert_alive()
    if sqlite:
        assert r.json()["wal_truncated"] is True
        assert wal.stat().st_size == 0 and wrapped not in wal.read_bytes()
        assert wrapped not in db.read_bytes()
    else:
        assert r.json()["vacuumed"] is True
        with open_store(server) as wd, wd.db.reading() as conn:
            after = conn.execute(text("SELECT pg_relation_filenode('subject_keys')")).scalar()
            left = conn.execute(
                text("SELECT count(*) FROM subject_keys WHERE subject = :s"), {"s": pseudonym}
            ).scalar()
        assert after != before and left == 0  # VACUUM FULL rewrote the table
    kept = server.request("admin", "POST", "/v1/subjects/export", json={"subject": "keep-me"})
    assert kept.status_code == 200 and len(kept.json()["predictions"]) == 1
    erased = server.request("admin", "POST", "/v1/subjects/export", json={"subject": "erase-me"})
    assert all(p.get("output") is None for p in erased.json()["predictions"])


def test_the_server_store_is_private(server):
    """Artifacts and keys on every backend; the database files too where they are ours
    (on PostgreSQL the server's cluster owns them)."""
    if server.uri.startswith("sqlite"):
        db = Path(server.uri.removeprefix("sqlite:///"))
        for path in (db, Path(f"{db}-wal"), Path(f"{db}-shm")):
            if path.exists():
                assert stat.S_IMODE(path.stat().st_mode) == 0o600, path
    artifacts = Path(server.artifacts)
    for path in [artifacts, *artifacts.rglob("*")]:
        want = 0o700 if path.is_dir() else 0o600
        assert stat.S_IMODE(path.stat().st_mode) == want, path
    keys = Path(server.key_file).parent
    assert stat.S_IMODE(keys.stat().st_mode) == 0o700
    assert stat.S_IMODE((keys / "master.key").stat().st_mode) == 0o600
