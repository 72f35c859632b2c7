"""The AuditLog service on the in-memory backend: appends, queries, proofs, keys, erasure."""

from __future__ import annotations

import json
import re
import stat
import threading
from pathlib import Path

import pytest

from mlwarden.audit import AuditLog, Checkpoint, MemoryAuditBackend, Signer, payload_digest
from mlwarden.audit.merkle import mth
from mlwarden.audit.signing import key_id, load_public_key
from mlwarden.entities.audit import AuditEvent, canonical_json, event_leaf_bytes
from mlwarden.errors import (
    AlreadyExists,
    IntegrityError,
    NotFound,
    ValidationError,
    WardenError,
)


@pytest.fixture(scope="module")
def signer() -> Signer:
    return Signer.generate()


@pytest.fixture
def log(signer: Signer) -> AuditLog:
    return AuditLog(MemoryAuditBackend(), signer)


def test_append_assigns_seq_time_and_salted_digest(log: AuditLog) -> None:
    e = log.append("alice", "model.register", "model:credit", {"b": 1, "a": [1, "é"]})
    assert e.seq == 1 and log.size == 1
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z", e.time)
    assert e.payload == {"a": [1, "é"], "b": 1}
    assert e.payload_json == '{"a":[1,"é"],"b":1}' == canonical_json(e.payload)
    assert len(bytes.fromhex(e.salt or "")) == 16
    assert e.payload_digest == payload_digest(e.payload, bytes.fromhex(e.salt or ""))
    assert e.payload_ok()
    # The leaf commits to the digest, not to the payload.
    assert b"credit" in event_leaf_bytes(e) and b"\xc3\xa9" not in event_leaf_bytes(e)
    # Same payload, different salt: digests differ (erased payloads cannot be guessed back).
    f = log.append("alice", "model.register", "model:credit", {"b": 1, "a": [1, "é"]})
    assert f.seq == 2 and f.payload_digest != e.payload_digest
    assert log.get(2) == f
    assert log.append("bob", "x", "y").payload == {}


def test_leaf_encoding_is_unambiguous() -> None:
    d = "ab" * 32
    a = AuditEvent(1, "t", "ab", "c", "s", d)
    b = AuditEvent(1, "t", "a", "bc", "s", d)
    assert event_leaf_bytes(a) != event_leaf_bytes(b)
    assert event_leaf_bytes(a) != event_leaf_bytes(AuditEvent(2, "t", "ab", "c", "s", d))


def test_append_many_is_one_batch_with_one_checkpoint(log: AuditLog, signer: Signer) -> None:
    events = log.append_many(
        [("a", "predict", f"prediction:{i}", {"i": i}) for i in range(5)]
        + [{"actor": "b", "action": "approve", "subject": "model:m/1", "payload": None}]
    )
    assert [e.seq for e in events] == [1, 2, 3, 4, 5, 6]
    assert log.append_many([]) == []
    cps = log.backend.checkpoints()
    assert len(cps) == 1 and cps[0].tree_size == 6 and cps[0].verify(signer.public_key)
    assert log.checkpoint() == cps[0]
    assert bytes.fromhex(cps[0].root_hash) == mth([e.leaf_hash() for e in events])
    assert log.verify().ok


def test_bad_input_is_refused(log: AuditLog) -> None:
    with pytest.raises(ValidationError):
        log.append("", "x", "y")
    with pytest.raises(ValidationError):
        log.append("a", "x", "y", {"bad": float("nan")})
    with pytest.raises(ValidationError):
        log.append("a", "x", "y", {"bad": object()})
    assert log.size == 0
    with pytest.raises(NotFound):
        log.get(1)


def test_events_filters(log: AuditLog) -> None:
    log.append("alice", "model.register", "model:credit")
    log.append("alice", "model.version", "model:credit/1")
    log.append("bob", "model.register", "model:credit-v2")
    mid = log.append("bob", "model.promote", "model:credit/1").time
    log.append("carol", "model.promote", "model:fraud/3")
    assert [e.seq for e in log.events(model="credit")] == [1, 2, 4]
    assert [e.seq for e in log.events(action="model.promote")] == [4, 5]
    assert [e.seq for e in log.events(model="credit", action="model.promote")] == [4]
    assert [e.seq for e in log.events(actor="bob")] == [3, 4]
    assert [e.seq for e in log.events(since=mid)] == [4, 5]
    assert [e.seq for e in log.events(limit=2)] == [1, 2]
    assert [e.seq for e in log.events(limit=2, newest_first=True)] == [5, 4]
    assert [e.seq for e in log.events(subject="model:fraud/3")] == [5]
    assert [e.seq for e in log.events(model="credit", limit=1, newest_first=True)] == [4]


def test_inclusion_proofs_for_every_event(log: AuditLog) -> None:
    for b in range(7):
        log.append_many([("a", "x", f"s{b}.{i}", {"i": i}) for i in range(b + 1)])
    cp = log.checkpoint()
    assert cp.tree_size == 28
    for seq in range(1, 29):
        proof = log.prove(seq)
        assert proof.verify(cp) and proof.verify(cp.root_hash) and proof.verify()
        assert proof.verify_event(log.get(seq), cp)
        assert not proof.verify_event(log.get(seq % 28 + 1), cp)
        wrong = ("0" if cp.root_hash[0] != "0" else "1") + cp.root_hash[1:]
        assert not proof.verify(wrong)
        assert json.loads(json.dumps(proof.to_dict()))["seq"] == seq
    key = log.public_key
    assert log.prove(5).verify(cp, key)
    forged = Checkpoint(
        cp.tree_size,
        cp.root_hash,
        cp.time,
        cp.key_id,
        Signer.generate().sign(cp.tree_size, cp.root_hash, cp.time).signature,
    )
    assert log.prove(5).verify(forged) and not log.prove(5).verify(forged, key)
    old = log.backend.checkpoints()[2]
    proof = log.prove(3, tree_size=old.tree_size)
    assert proof.verify(old) and not proof.verify(cp)
    with pytest.raises(NotFound):
        log.prove(29)


def test_consistency_between_checkpoints(log: AuditLog) -> None:
    for b in range(6):
        log.append_many([("a", "x", "s", {"b": b, "i": i}) for i in range(3)])
    cps = log.backend.checkpoints()
    for old in cps:
        for new in cps:
            if old.tree_size <= new.tree_size:
                p = log.consistency(old.tree_size, new.tree_size)
                assert p.verify(old.root_hash, new.root_hash)
    p = log.consistency(3)
    assert p.new_size == 18 and p.verify()
    assert not p.verify(old_root=cps[1].root_hash)
    with pytest.raises(ValidationError):
        log.consistency(5, 40)


def test_erase_payload(log: AuditLog) -> None:
    log.append_many([("a", "predict", f"prediction:{i}", {"name": f"p{i}"}) for i in range(4)])
    root_before = log.root(4)
    record = log.erase_payload(3, actor="dpo", reason="art. 17 request 42")
    assert record.action == "audit.erase_payload" and record.subject == "audit-event:3"
    erased = log.get(3)
    assert erased.erased and erased.payload is None and erased.salt is None
    assert erased.payload_digest  # the commitment stays
    assert log.root(4) == root_before and log.prove(3).verify(log.checkpoint())
    result = log.verify()
    assert result.ok and result.erased == 1
    assert log.erase_payload(3, actor="dpo") == record  # a retry appends nothing
    assert log.size == 5
    with pytest.raises(NotFound):
        log.erase_payload(99, actor="dpo")


def test_keys_and_checkpoints(tmp_path: Path) -> None:
    path = tmp_path / "keys" / "audit.key"
    signer = Signer.create(path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    with pytest.raises(AlreadyExists):
        Signer.create(path)
    again = Signer.from_file(path)
    assert again.key_id == signer.key_id == key_id(signer.public_key)
    assert len(signer.key_id) == 16
    pem = signer.public_key_pem()
    (tmp_path / "audit.pub").write_text(pem)
    for source in (
        pem,
        signer.public_key_b64(),
        tmp_path / "audit.pub",
        str(tmp_path / "audit.pub"),
    ):
        assert key_id(load_public_key(source)) == signer.key_id
    with pytest.raises(ValidationError):
        load_public_key("not a key")

    cp = signer.sign(3, b"\x01" * 32, time="2026-01-01T00:00:00.000000Z")
    assert cp.signed_text() == (
        "mlwarden-audit\n3\nAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE=\n2026-01-01T00:00:00.000000Z\n"
    )
    assert cp.verify(signer.public_key) and cp.verify(load_public_key(pem))
    assert Checkpoint.from_dict(json.loads(json.dumps(cp.to_dict()))) == cp
    assert not Signer.generate().sign(3, b"\x01" * 32).verify(signer.public_key)
    for forged in (
        Checkpoint(4, cp.root_hash, cp.time, cp.key_id, cp.signature),
        Checkpoint(3, "02" * 32, cp.time, cp.key_id, cp.signature),
        Checkpoint(3, cp.root_hash, "2027-01-01T00:00:00.000000Z", cp.key_id, cp.signature),
        Checkpoint(3, cp.root_hash, cp.time, cp.key_id, None),
        Checkpoint(3, cp.root_hash, cp.time, cp.key_id, "!!notbase64"),
    ):
        assert not forged.verify(signer.public_key)


def test_read_only_log(signer: Signer) -> None:
    backend = MemoryAuditBackend()
    AuditLog(backend, signer).append("a", "x", "y")
    reader = AuditLog(backend, public_key=signer.public_key_pem())
    assert reader.verify().ok and reader.prove(1).verify()
    with pytest.raises(WardenError):
        reader.append("a", "x", "y")
    with pytest.raises(WardenError):
        AuditLog(backend).verify()


def test_integrate_picks_up_a_backlog(log: AuditLog) -> None:
    # Rows stored without integration (a crash, or a backend that queues writes).
    log.append("a", "x", "y")
    pending = [AuditEvent.create("q", "x", f"y{i}", {"i": i}, bytes(16)) for i in range(5)]
    with log.backend.integrating():
        log.backend.append_batch(pending)
    assert log.verify().problem == "missing_signature"
    with pytest.raises(IntegrityError):
        log.append("a", "x", "refused until an operator integrates the backlog")
    assert log.size == 6
    cp = log.integrate()
    assert cp is not None and cp.tree_size == 6
    assert log.verify().ok
    assert log.checkpoint().tree_size == 6


def test_empty_log_checkpoint(log: AuditLog) -> None:
    cp = log.checkpoint()
    assert cp.tree_size == 0 and cp.verify(log.signer.public_key)  # type: ignore[union-attr]
    assert log.verify().ok
    log.append("a", "x", "y")
    assert log.checkpoint().tree_size == 1 and log.verify().checkpoints_checked == 2


def test_concurrent_appends_have_no_gaps(log: AuditLog) -> None:
    def work(t: int) -> None:
        for i in range(20):
            log.append_many([("t", "x", f"{t}.{i}.{j}", {"j": j}) for j in range(3)])

    threads = [threading.Thread(target=work, args=(t,)) for t in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    stored = list(log.backend.read(1))
    assert [e.seq for e in stored] == list(range(1, 241))
    times = [e.time for e in stored]
    assert times == sorted(times)  # stamped under the integrator lock
    assert log.verify().ok


def test_export_round_trip(log: AuditLog, tmp_path: Path) -> None:
    log.append_many([("a", "x", "s", {"i": i, "text": "naïve ✓"}) for i in range(10)])
    path = tmp_path / "audit.jsonl"
    assert log.export(path) == 10
    lines = path.read_text(encoding="utf-8").splitlines()
    header = json.loads(lines[0])
    assert header["format"] == "mlwarden-audit-export" and header["version"] == 1
    assert header["public_key"] == log.signer.public_key_b64()  # type: ignore[union-attr]
    first = dict(zip(header["event_fields"], json.loads(lines[1]), strict=True))
    assert first["seq"] == 1 and len(first["leaf_hash"]) == 64
    assert json.loads(first["payload_json"]) == {"i": 0, "text": "naïve ✓"}
    assert json.loads(lines[-1])["checkpoint"]["tree_size"] == 10


def test_a_second_key_may_not_sign_the_same_log(log: AuditLog) -> None:
    log.append("a", "x", "y")
    intruder = AuditLog(log.backend, Signer.generate())
    with pytest.raises(IntegrityError, match="MLWARDEN_KEY_FILE"):
        intruder.append("b", "x", "y")
    assert log.size == 1  # refused before anything was written
    log.append("a", "x", "z")  # the store's own key goes on
    assert log.verify().ok and log.size == 2


def test_appends_after_another_writer_read_the_frontier_back(signer: Signer) -> None:
    backend = MemoryAuditBackend()
    first, second = AuditLog(backend, signer), AuditLog(backend, signer)
    for i in range(5):  # interleaved: each log's remembered frontier goes stale in turn
        first.append("a", "x", f"first-{i}")
        second.append("b", "x", f"second-{i}")
    assert first.verify().ok and backend.size() == 10
    assert first.checkpoint().tree_size == 10
