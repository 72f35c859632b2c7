"""Offline verification of exports: every kind of tampering is named, at the first bad seq."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from mlwarden.audit import AuditLog, MemoryAuditBackend, Problem, Signer, verify_export
from mlwarden.audit.merkle import leaf_hash
from mlwarden.entities.audit import AuditEvent, leaf_bytes, payload_digest
from mlwarden.errors import ValidationError

N = 20  # five batches of four: checkpoints at sizes 4, 8, 12, 16, 20


@pytest.fixture(scope="module")
def signer() -> Signer:
    return Signer.generate()


@pytest.fixture(scope="module")
def export_lines(signer: Signer, tmp_path_factory: pytest.TempPathFactory) -> list[str]:
    log = AuditLog(MemoryAuditBackend(), signer)
    for b in range(N // 4):
        log.append_many(
            [
                ("alice", "model.register", f"model:m{i}", {"i": i, "owner": "ana@example.com"})
                for i in range(b * 4, b * 4 + 4)
            ]
        )
    path = tmp_path_factory.mktemp("audit") / "export.jsonl"
    assert log.export(path) == N
    return path.read_text().splitlines()


def parse(lines: list[str]) -> tuple[dict[str, Any], list[dict[str, Any]], list[dict[str, Any]]]:
    """Header, events as dicts (the file has positional arrays), checkpoint lines."""
    rows = [json.loads(x) for x in lines]
    fields = rows[0]["event_fields"]
    events = [dict(zip(fields, r, strict=True)) for r in rows[1:] if isinstance(r, list)]
    return rows[0], events, [r for r in rows[1:] if isinstance(r, dict)]


def dump(header: dict[str, Any], events: list[dict[str, Any]], cps: list[dict[str, Any]]) -> list:
    rows = [[e.get(k) for k in header["event_fields"]] for e in events]
    return [json.dumps(x) for x in [header, *rows, *cps]]


def check(lines: list[str], signer: Signer, problem: Problem | None, seq: int | None) -> None:
    result = verify_export(lines, signer.public_key_pem())
    assert (result.problem, result.first_bad_seq) == (problem, seq), result.message
    assert bool(result) is (problem is None)


def relink(event: dict[str, Any]) -> None:
    """What a careful attacker does: recompute the recorded leaf hash after editing."""
    event["leaf_hash"] = leaf_hash(
        leaf_bytes(
            event["seq"],
            event["time"],
            event["actor"],
            event["action"],
            event["subject"],
            event["payload_digest"],
        )
    ).hex()


def test_clean_export_verifies(export_lines: list[str], signer: Signer, tmp_path: Path) -> None:
    result = verify_export(export_lines, signer.public_key_pem())
    assert result.ok and result
    assert result.events_checked == N and result.checkpoints_checked == N // 4
    assert result.first_bad_seq is None and result.problem is None
    # From a file, with the key as raw base64, and with the header's own key.
    path = tmp_path / "e.jsonl"
    path.write_text("\n".join(export_lines) + "\n")
    assert verify_export(path, signer.public_key_b64()).ok
    assert verify_export(path).ok


def test_object_lines_are_accepted(export_lines: list[str], signer: Signer) -> None:
    h, ev, cp = parse(export_lines)
    lines = [json.dumps(x) for x in [h, *ev, *cp]]
    check(lines, signer, None, None)
    ev[4]["actor"] = "mallory"
    check([json.dumps(x) for x in [h, *ev, *cp]], signer, Problem.ALTERED_EVENT, 5)
    del ev[4]["leaf_hash"]  # without a recorded leaf hash only the signed root catches it
    check([json.dumps(x) for x in [h, *ev, *cp]], signer, Problem.ROOT_MISMATCH, 5)
    h["event_fields"] = ["seq"]
    with pytest.raises(ValidationError):
        verify_export([json.dumps(h)], signer.public_key)


def test_altered_payload(export_lines: list[str], signer: Signer) -> None:
    h, ev, cp = parse(export_lines)
    ev[4]["payload_json"] = ev[4]["payload_json"].replace("ana@", "bob@")
    check(dump(h, ev, cp), signer, Problem.ALTERED_PAYLOAD, 5)


def test_altered_salt_is_an_altered_payload(export_lines: list[str], signer: Signer) -> None:
    h, ev, cp = parse(export_lines)
    ev[2]["salt"] = "00" * 16
    check(dump(h, ev, cp), signer, Problem.ALTERED_PAYLOAD, 3)


def test_altered_event_field(export_lines: list[str], signer: Signer) -> None:
    for field, value in [("actor", "mallory"), ("action", "x"), ("subject", "y"), ("time", "z")]:
        h, ev, cp = parse(export_lines)
        ev[6][field] = value
        check(dump(h, ev, cp), signer, Problem.ALTERED_EVENT, 7)


def test_altered_payload_and_digest(export_lines: list[str], signer: Signer) -> None:
    h, ev, cp = parse(export_lines)
    ev[6]["payload_json"] = '{"i":666}'
    ev[6]["payload_digest"] = payload_digest('{"i":666}', ev[6]["salt"])
    check(dump(h, ev, cp), signer, Problem.ALTERED_EVENT, 7)


def test_altered_event_with_rewritten_leaf_hash(export_lines: list[str], signer: Signer) -> None:
    h, ev, cp = parse(export_lines)
    ev[6]["actor"] = "mallory"
    relink(ev[6])
    # Only the signed root catches it: the first seq of the checkpoint range (5..8) is named.
    check(dump(h, ev, cp), signer, Problem.ROOT_MISMATCH, 5)


def test_deleted_event(export_lines: list[str], signer: Signer) -> None:
    h, ev, cp = parse(export_lines)
    del ev[5]
    check(dump(h, ev, cp), signer, Problem.DELETED_EVENT, 6)


def test_deleted_last_event(export_lines: list[str], signer: Signer) -> None:
    h, ev, cp = parse(export_lines)
    del ev[-1]
    check(dump(h, ev, cp), signer, Problem.DELETED_EVENT, N)


def test_deleted_and_renumbered(export_lines: list[str], signer: Signer) -> None:
    h, ev, cp = parse(export_lines)
    del ev[5]
    for e in ev[5:]:
        e["seq"] -= 1
    check(dump(h, ev, cp), signer, Problem.ALTERED_EVENT, 6)
    for e in ev[5:]:
        relink(e)
    check(dump(h, ev, cp), signer, Problem.ROOT_MISMATCH, 5)


def _forged(seq: int) -> dict[str, Any]:
    salt = "11" * 16
    e = {
        "seq": seq,
        "time": "2026-01-01T00:00:00.000000Z",
        "actor": "mallory",
        "action": "model.approve",
        "subject": "model:m3",
        "payload_json": "{}",
        "salt": salt,
        "payload_digest": payload_digest("{}", salt),
    }
    relink(e)
    return e


def test_inserted_event(export_lines: list[str], signer: Signer) -> None:
    h, ev, cp = parse(export_lines)
    check(dump(h, [*ev[:3], _forged(3), *ev[3:]], cp), signer, Problem.INSERTED_EVENT, 3)
    # Before the genuine one, with or without a matching recorded leaf hash.
    check(dump(h, [*ev[:2], _forged(3), *ev[2:]], cp), signer, Problem.INSERTED_EVENT, 3)
    stale = _forged(3)
    stale["leaf_hash"] = "00" * 32
    check(dump(h, [*ev[:2], stale, *ev[2:]], cp), signer, Problem.INSERTED_EVENT, 3)


def test_inserted_after_last_checkpoint(export_lines: list[str], signer: Signer) -> None:
    h, ev, cp = parse(export_lines)
    check(dump(h, [*ev, _forged(N + 1)], cp), signer, Problem.MISSING_SIGNATURE, N + 1)


def test_reordered_events(export_lines: list[str], signer: Signer) -> None:
    h, ev, cp = parse(export_lines)
    ev[2], ev[3] = ev[3], ev[2]
    check(dump(h, ev, cp), signer, Problem.REORDERED_EVENTS, 3)
    h, ev, cp = parse(export_lines)
    ev.insert(15, ev.pop(9))  # seq 10 moved after seq 16
    check(dump(h, ev, cp), signer, Problem.REORDERED_EVENTS, 10)


def test_reordered_with_swapped_seqs(export_lines: list[str], signer: Signer) -> None:
    h, ev, cp = parse(export_lines)
    ev[2], ev[3] = ev[3], ev[2]
    ev[2]["seq"], ev[3]["seq"] = 3, 4
    check(dump(h, ev, cp), signer, Problem.ALTERED_EVENT, 3)


def test_bad_signature(export_lines: list[str], signer: Signer) -> None:
    h, ev, cp = parse(export_lines)
    sig = bytearray(base64.b64decode(cp[1]["checkpoint"]["signature"]))
    sig[0] ^= 1
    cp[1]["checkpoint"]["signature"] = base64.b64encode(bytes(sig)).decode()
    assert cp[1]["checkpoint"]["tree_size"] == 8
    check(dump(h, ev, cp), signer, Problem.BAD_SIGNATURE, 5)


def test_checkpoint_with_altered_root(export_lines: list[str], signer: Signer) -> None:
    h, ev, cp = parse(export_lines)
    root = cp[2]["checkpoint"]["root_hash"]
    cp[2]["checkpoint"]["root_hash"] = ("0" if root[0] != "0" else "1") + root[1:]
    check(dump(h, ev, cp), signer, Problem.BAD_SIGNATURE, 9)


def test_resigned_by_another_key(export_lines: list[str], signer: Signer) -> None:
    h, ev, cp = parse(export_lines)
    ev[6]["actor"] = "mallory"
    relink(ev[6])
    from mlwarden.audit.merkle import CompactRange

    frontier = CompactRange()
    mallory = Signer.generate()
    for e in ev:
        frontier.add(bytes.fromhex(e["leaf_hash"]))
        if e["seq"] % 4 == 0:
            cp[e["seq"] // 4 - 1] = {
                "checkpoint": mallory.sign(e["seq"], frontier.root()).to_dict()
            }
    h["public_key"] = mallory.public_key_b64()
    lines = dump(h, ev, cp)
    check(lines, signer, Problem.BAD_SIGNATURE, 1)
    assert verify_export(lines).ok  # only self-consistent: that is why you pass a trusted key


def test_missing_signature(export_lines: list[str], signer: Signer) -> None:
    h, ev, cp = parse(export_lines)
    cp[2]["checkpoint"]["signature"] = None
    check(dump(h, ev, cp), signer, Problem.MISSING_SIGNATURE, 9)
    h, ev, cp = parse(export_lines)
    check(dump(h, ev, []), signer, Problem.MISSING_SIGNATURE, 1)
    h, ev, cp = parse(export_lines)
    check(dump(h, ev, cp[:-1]), signer, Problem.MISSING_SIGNATURE, 17)


def test_first_bad_seq_is_the_earliest(export_lines: list[str], signer: Signer) -> None:
    h, ev, cp = parse(export_lines)
    ev[15]["actor"] = "mallory"
    ev[10]["payload_json"] = "{}"
    del ev[12]
    check(dump(h, ev, cp), signer, Problem.ALTERED_PAYLOAD, 11)


def test_erased_payload_still_verifies(signer: Signer, tmp_path: Path) -> None:
    log = AuditLog(MemoryAuditBackend(), signer)
    log.append_many([("a", "predict", f"prediction:{i}", {"ssn": f"123-{i}"}) for i in range(6)])
    log.erase_payload(2, actor="dpo", reason="gdpr art. 17")
    log.erase_payload(5, actor="dpo")
    assert log.get(2).erased and log.get(2).payload is None and log.get(2).salt is None
    online = log.verify()
    assert online.ok and online.erased == 2
    path = tmp_path / "erased.jsonl"
    log.export(path)
    assert "123-1" not in path.read_text() and "123-4" not in path.read_text()
    result = verify_export(path, signer.public_key)
    assert result.ok and result.erased == 2 and result.events_checked == 8


def test_payload_removed_without_erasure_record(export_lines: list[str], signer: Signer) -> None:
    h, ev, cp = parse(export_lines)
    ev[8]["payload_json"] = ev[8]["salt"] = None
    check(dump(h, ev, cp), signer, Problem.ALTERED_PAYLOAD, 9)
    assert verify_export(dump(h, ev, cp), signer.public_key, require_erasure_records=False).ok


def test_malformed_lines(export_lines: list[str], signer: Signer) -> None:
    h, ev, cp = parse(export_lines)
    lines = dump(h, ev, cp)
    lines[5] = lines[5][:-10]
    check(lines, signer, Problem.ALTERED_EVENT, 5)
    lines[5] = "[5]"
    check(lines, signer, Problem.ALTERED_EVENT, 5)
    h, ev, cp = parse(export_lines)
    ev[3]["payload_digest"] = "zz"
    check(dump(h, ev, cp), signer, Problem.ALTERED_EVENT, 4)
    with pytest.raises(ValidationError):
        verify_export(['{"format": "something-else"}'], signer.public_key)
    with pytest.raises(ValidationError):
        verify_export([], signer.public_key)


def test_online_verify_sees_store_tampering(signer: Signer) -> None:
    backend = MemoryAuditBackend()
    log = AuditLog(backend, signer)
    events = log.append_many([("a", "x", f"s{i}", {"i": i}) for i in range(10)])
    assert log.verify().ok
    backend._tamper_event(4, payload_json='{"i":40}')
    assert (log.verify().problem, log.verify().first_bad_seq) == (Problem.ALTERED_PAYLOAD, 4)
    backend._tamper_event(4, payload_json=events[3].payload_json, actor="b")
    assert (log.verify().problem, log.verify().first_bad_seq) == (Problem.ALTERED_EVENT, 4)
    backend._tamper_event(4, actor="a")
    assert log.verify().ok
    assert isinstance(backend.read(4, 4).__next__(), AuditEvent)


EXPECTED_BY_FIELD = {
    "time": Problem.ALTERED_EVENT,
    "actor": Problem.ALTERED_EVENT,
    "action": Problem.ALTERED_EVENT,
    "subject": Problem.ALTERED_EVENT,
    "payload_digest": Problem.ALTERED_EVENT,
    "leaf_hash": Problem.ALTERED_EVENT,
    "payload_json": Problem.ALTERED_PAYLOAD,
    "salt": Problem.ALTERED_PAYLOAD,
}


@settings(max_examples=80, deadline=None)
@given(
    index=st.integers(0, N - 1),
    field=st.sampled_from(sorted(EXPECTED_BY_FIELD)),
    value=st.text(max_size=8),
    hexvalue=st.binary(min_size=16, max_size=32),
)
def test_any_single_field_change_is_named(
    export_lines: list[str], signer: Signer, index: int, field: str, value: str, hexvalue: bytes
) -> None:
    h, ev, cp = parse(export_lines)
    old = ev[index][field]
    new = hexvalue.hex() if field in ("payload_digest", "leaf_hash", "salt") else value
    assume(new != old)
    ev[index][field] = new
    check(dump(h, ev, cp), signer, EXPECTED_BY_FIELD[field], index + 1)


def test_unreadable_checkpoint_line(export_lines: list[str], signer: Signer) -> None:
    h, ev, cp = parse(export_lines)
    cp[1]["checkpoint"]["root_hash"] = "not hex"
    result = verify_export(dump(h, ev, cp), signer.public_key)
    assert not result and result.problem == Problem.BAD_SIGNATURE
    del cp[1]["checkpoint"]["tree_size"]
    assert verify_export(dump(h, ev, cp), signer.public_key).problem == Problem.BAD_SIGNATURE


def test_forked_checkpoint_at_the_same_size(export_lines: list[str], signer: Signer) -> None:
    # Two validly signed checkpoints of size 8 with different roots: the key signed a fork.
    h, ev, cp = parse(export_lines)
    fork = signer.sign(8, b"\x07" * 32).to_dict()
    check(dump(h, ev, [*cp, {"checkpoint": fork}]), signer, Problem.ROOT_MISMATCH, 5)


def test_missing_public_key(export_lines: list[str]) -> None:
    h, ev, cp = parse(export_lines)
    del h["public_key"]
    with pytest.raises(ValidationError):
        verify_export(dump(h, ev, cp))


def test_gap_before_an_unreadable_line(export_lines: list[str], signer: Signer) -> None:
    h, ev, cp = parse(export_lines)
    lines = dump(h, ev, cp)
    del lines[4]  # seq 4
    lines[10] = "[garbage"
    check(lines, signer, Problem.DELETED_EVENT, 4)


def test_object_line_mentioning_checkpoint_is_an_event(signer: Signer, tmp_path: Path) -> None:
    log = AuditLog(MemoryAuditBackend(), signer)
    log.append_many([("checkpoint", "checkpoint", "checkpoint", {"checkpoint": 1})] * 3)
    log.export(tmp_path / "e.jsonl")
    h, ev, cp = parse((tmp_path / "e.jsonl").read_text().splitlines())
    reordered = [{"actor": e["actor"], **e} for e in ev]  # a "checkpoint" string up front
    assert verify_export([json.dumps(x) for x in [h, *reordered, *cp]], signer.public_key).ok
