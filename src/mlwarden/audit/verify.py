"""Verify an audit log without trusting the store: OK, or the first bad seq and what is wrong.

The same checker runs offline over an export file (:func:`verify_export`) and online over a
backend (``AuditLog.verify``). The exact logic, and why it tells the kinds of tampering apart,
is in ``docs/audit.md`` ("How verification decides").
"""

from __future__ import annotations

import hashlib
import json
import json.scanner
import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from mlwarden.audit.merkle import EMPTY_ROOT, CompactRange
from mlwarden.audit.signing import Checkpoint, load_public_key
from mlwarden.entities.audit import ERASE_ACTION, erasure_target
from mlwarden.entities.wire import Wire
from mlwarden.errors import ValidationError

__all__ = [
    "EVENT_FIELDS",
    "EXPORT_FORMAT",
    "EXPORT_VERSION",
    "Problem",
    "VerificationResult",
    "verify_export",
    "verify_records",
]

EXPORT_FORMAT = "mlwarden-audit-export"
EXPORT_VERSION = 1

_sha256 = hashlib.sha256


class Problem(StrEnum):
    ALTERED_PAYLOAD = "altered_payload"
    ALTERED_EVENT = "altered_event"
    DELETED_EVENT = "deleted_event"
    INSERTED_EVENT = "inserted_event"
    REORDERED_EVENTS = "reordered_events"
    BAD_SIGNATURE = "bad_signature"
    MISSING_SIGNATURE = "missing_signature"
    ROOT_MISMATCH = "root_mismatch"


@dataclass(frozen=True, slots=True)
class VerificationResult(Wire):
    """The verdict. ``first_bad_seq`` and ``problem`` are ``None`` when ``ok``."""

    ok: bool
    events_checked: int
    first_bad_seq: int | None = None
    problem: Problem | None = None
    message: str = "ok"
    erased: int = 0
    checkpoints_checked: int = 0
    tree_size: int = 0
    root_hash: str | None = None

    def __bool__(self) -> bool:
        return self.ok


Record = Sequence[Any]
"""``(seq, time, actor, action, subject, payload_digest, payload_json, salt, leaf_hash)``;
the recorded leaf hash is 32 raw bytes or their hex, ``None`` where the source has none."""


def verify_records(
    records: Iterable[Record],
    checkpoints: Iterable[Checkpoint],
    public_key: Ed25519PublicKey,
    *,
    require_erasure_records: bool = True,
) -> VerificationResult:
    """Check events (in stored order) against signed checkpoints. See docs/audit.md."""
    cps = sorted(checkpoints, key=lambda c: c.tree_size)
    it = iter(records)
    tree = CompactRange()
    expected = 1
    erased = 0
    unexplained_erasures: set[int] = set()
    checked = 0  # checkpoints verified
    attested = 0  # tree size of the last checkpoint that verified
    previous = 0  # the verified checkpoint size before that one
    last_root: str | None = None
    ci = 0

    def fail(seq: int | None, problem: Problem, message: str) -> VerificationResult:
        return VerificationResult(
            ok=False,
            events_checked=tree.size,
            first_bad_seq=seq,
            problem=problem,
            message=message,
            erased=erased,
            checkpoints_checked=checked,
            tree_size=attested,
            root_hash=last_root,
        )

    def check_checkpoint(cp: Checkpoint, root: bytes) -> VerificationResult | None:
        nonlocal checked, attested, last_root, previous
        # Several checkpoints may share a size: they all cover the range after the last
        # checkpoint of a *smaller* size.
        start = (attested if attested < cp.tree_size else previous) + 1
        if not cp.signature:
            return fail(
                start, Problem.MISSING_SIGNATURE, f"checkpoint at size {cp.tree_size} is unsigned"
            )
        if not cp.verify(public_key):
            return fail(
                start,
                Problem.BAD_SIGNATURE,
                f"checkpoint at size {cp.tree_size} has a signature that does not verify "
                "with the trusted public key",
            )
        if cp.root_hash != root.hex():
            return fail(
                start,
                Problem.ROOT_MISMATCH,
                f"events {start}..{cp.tree_size} do not hash to the signed root of checkpoint "
                f"{cp.tree_size}: an event in this range was changed and its recorded leaf "
                "hash rewritten too (or absent), so it cannot be pinned down further",
            )
        checked += 1
        if attested < cp.tree_size:
            previous = attested
        attested = cp.tree_size
        last_root = cp.root_hash
        return None

    while ci < len(cps) and cps[ci].tree_size <= 0:
        bad = check_checkpoint(cps[ci], EMPTY_ROOT)
        if bad is not None:
            return bad
        ci += 1

    push = tree.hashes.append
    pop = tree.hashes.pop
    next_cp = cps[ci].tree_size if ci < len(cps) else -1
    heads: dict[tuple[str, str, str], bytes] = {}
    for rec in it:
        seq, time, actor, action, subject, digest, payload, salt, recorded = rec
        if seq != expected:
            if seq is None:  # a line the reader could not parse; the reason is in `time`
                return fail(expected, Problem.ALTERED_EVENT, f"after seq {expected - 1}: {time}")
            if type(seq) is not int or seq < 1:
                return fail(expected, Problem.ALTERED_EVENT, f"bad seq {seq!r} after {tree.size}")
            if seq < expected:
                return fail(seq, Problem.INSERTED_EVENT, f"seq {seq} appears twice")
            # A gap: deleted, unless the missing seq turns up later (moved lines).
            for later in it:
                if later[0] == expected:
                    return fail(
                        expected,
                        Problem.REORDERED_EVENTS,
                        f"seq {expected} is stored after seq {seq}: events are out of order",
                    )
            last = expected if seq == expected + 1 else f"{expected}..{seq - 1}"
            return fail(expected, Problem.DELETED_EVENT, f"seq {last} missing (next is {seq})")
        try:
            # leaf_bytes(), inlined: this loop must run at hundreds of thousands a second.
            # time, actor and action repeat (a batch shares its time), so their
            # length-prefixed encoding is looked up rather than rebuilt for every event.
            head = heads.get((time, actor, action))
            if head is None:
                t = time.encode()
                a = actor.encode()
                c = action.encode()
                head = b"".join(
                    (
                        len(t).to_bytes(4, "big"),
                        t,
                        len(a).to_bytes(4, "big"),
                        a,
                        len(c).to_bytes(4, "big"),
                        c,
                    )
                )
                if len(heads) >= 4096:
                    heads.clear()
                heads[time, actor, action] = head
            s = subject.encode()
            d = bytes.fromhex(digest)
            leaf = _sha256(
                b"".join(
                    (b"\x00\x01", seq.to_bytes(8, "big"), head, len(s).to_bytes(4, "big"), s, d)
                )
            ).digest()
            if len(digest) != 64:
                raise ValueError("payload digest is not 32 bytes")
        except (ValueError, AttributeError, TypeError) as exc:
            return fail(seq, Problem.ALTERED_EVENT, f"seq {seq} is malformed: {exc}")
        # The recorded leaf comes as raw bytes (SQL stores) or hex (export files).
        if recorded is not None and leaf != recorded and leaf.hex() != recorded:
            nxt = next(it, None)
            if nxt is not None and nxt[0] == seq:
                return fail(seq, Problem.INSERTED_EVENT, f"seq {seq} appears twice")
            return fail(
                seq,
                Problem.ALTERED_EVENT,
                f"seq {seq}: the event's fields no longer match the leaf hash recorded at append",
            )
        if payload is None:
            erased += 1
            unexplained_erasures.add(seq)
        elif salt is None:
            return fail(seq, Problem.ALTERED_PAYLOAD, f"seq {seq}: payload present without salt")
        else:
            try:
                ok = _sha256(bytes.fromhex(salt) + payload.encode()).digest() == d
            except (ValueError, AttributeError):
                ok = False
            if not ok:
                return fail(
                    seq,
                    Problem.ALTERED_PAYLOAD,
                    f"seq {seq}: the payload does not match its recorded digest",
                )
        if action == ERASE_ACTION:
            target = erasure_target(subject)
            if target is not None and target < seq:
                unexplained_erasures.discard(target)
        # CompactRange.add, inlined.
        i = expected - 1
        while i & 1:
            leaf = _sha256(b"\x01" + pop() + leaf).digest()
            i >>= 1
        push(leaf)
        tree.size = expected
        if expected == next_cp:
            while ci < len(cps) and cps[ci].tree_size == expected:
                bad = check_checkpoint(cps[ci], tree.root())
                if bad is not None:
                    return bad
                ci += 1
            next_cp = cps[ci].tree_size if ci < len(cps) else -1
        expected += 1

    if ci < len(cps):
        cp = cps[-1]
        if not cp.signature:
            return fail(
                attested + 1,
                Problem.MISSING_SIGNATURE,
                f"checkpoint at size {cp.tree_size} is unsigned",
            )
        if not cp.verify(public_key):
            return fail(
                attested + 1,
                Problem.BAD_SIGNATURE,
                f"checkpoint at size {cp.tree_size} has a signature that does not verify",
            )
        return fail(
            expected,
            Problem.DELETED_EVENT,
            f"a signed checkpoint covers {cp.tree_size} events but only {tree.size} are present",
        )
    if not cps and tree.size:
        return fail(1, Problem.MISSING_SIGNATURE, "no signed checkpoint covers these events")
    if tree.size > attested:
        return fail(
            attested + 1,
            Problem.MISSING_SIGNATURE,
            f"events {attested + 1}..{tree.size} are not covered by any signed checkpoint",
        )
    if require_erasure_records and unexplained_erasures:
        seq = min(unexplained_erasures)
        return fail(
            seq,
            Problem.ALTERED_PAYLOAD,
            f"seq {seq}: payload removed without an {ERASE_ACTION} event recording the erasure",
        )
    return VerificationResult(
        ok=True,
        events_checked=tree.size,
        erased=erased,
        checkpoints_checked=checked,
        tree_size=attested,
        root_hash=last_root,
        message=f"ok: {tree.size} events, {checked} checkpoints, {erased} erased",
    )


# --------------------------------------------------------------------------- export files


_CHECKPOINT_LINE = re.compile(r'\s*\{\s*"checkpoint"\s*:')


def _is_checkpoint_line(line: str) -> bool:
    return line[:1] != "[" and _CHECKPOINT_LINE.match(line) is not None


# The C scanner behind json.loads without its per-call Python wrapper: ~1 µs a line saved,
# a third of the offline verifier's time. Anything it cannot take goes through json.loads.
_scan_once = json.scanner.make_scanner(json.JSONDecoder())  # type: ignore[arg-type]


def _parse_line(line: str) -> Any:
    try:
        obj, end = _scan_once(line, 0)
        if end == len(line) or not line[end:].strip():
            return obj
    except StopIteration:
        pass
    return json.loads(line)


#: The order of the values in an event line of an export (a JSON array, named in the header:
#: positional lines parse about twice as fast as objects, see bench/audit.py).
EVENT_FIELDS = (
    "seq",
    "time",
    "actor",
    "action",
    "subject",
    "payload_digest",
    "payload_json",
    "salt",
    "leaf_hash",
)


def _records_from_lines(lines: Iterable[str]) -> Iterator[Record]:
    loads = _parse_line
    scan = _scan_once
    width = len(EVENT_FIELDS)
    for line in lines:
        try:
            if line[:1] == "[":
                try:
                    rec, end = scan(line, 0)
                except StopIteration:
                    raise ValueError("not valid JSON") from None
                if end != len(line) and line[end:].strip():
                    raise ValueError("extra data after the event")
                if type(rec) is not list or len(rec) != width:
                    raise ValueError(f"an event line holds {width} values")
            elif _is_checkpoint_line(line) or not line.strip():
                continue
            else:  # an object line, e.g. written by hand or by another tool
                d = loads(line)
                rec = [d[k] for k in EVENT_FIELDS[:6]] + [d.get(k) for k in EVENT_FIELDS[6:]]
        except (ValueError, KeyError, TypeError) as exc:
            # Handed on, not raised: the verifier names it at the right seq, keeping its state.
            rec = [None, f"unreadable event line: {exc}", None, None, None, None, None, None, None]
        yield rec


class _BadCheckpoint(Exception):
    pass


def _checkpoints_from_lines(lines: Iterable[str]) -> list[Checkpoint]:
    out = []
    for line in lines:
        if _is_checkpoint_line(line):
            try:
                d = json.loads(line)
                if isinstance(d, dict) and "checkpoint" in d:
                    cp = Checkpoint.from_dict(d["checkpoint"])
                    bytes.fromhex(cp.root_hash)
                    out.append(cp)
            except (ValueError, KeyError, TypeError, AttributeError) as exc:
                raise _BadCheckpoint(f"unreadable checkpoint line: {exc}") from exc
    return out


def _read_header(line: str | None) -> dict[str, Any]:
    try:
        header = json.loads(line) if line else None
    except ValueError:
        header = None
    if not isinstance(header, dict) or header.get("format") != EXPORT_FORMAT:
        raise ValidationError(f"not an {EXPORT_FORMAT} file (bad first line)")
    if header.get("event_fields", list(EVENT_FIELDS)) != list(EVENT_FIELDS):
        raise ValidationError(f"unsupported event layout {header.get('event_fields')!r}")
    if header.get("version") != EXPORT_VERSION:
        raise ValidationError(f"unsupported export version {header.get('version')!r}")
    return header


def verify_export(
    source: str | Path | Iterable[str],
    public_key: Ed25519PublicKey | str | bytes | Path | None = None,
    *,
    require_erasure_records: bool = True,
) -> VerificationResult:
    """Verify an export (a path, or its lines) offline.

    ``public_key`` is the key you trust (PEM, raw base64, a file, or a key object). Without it
    the key in the file's header is used, which only proves the file is self-consistent: anyone
    who rewrites a file can put their own key in it.
    """
    try:
        if isinstance(source, str | Path):
            path = Path(source)
            with path.open(encoding="utf-8") as f:
                header = _read_header(f.readline())
                checkpoints = _checkpoints_from_lines(f)
            key = _trusted_key(public_key, header)
            with path.open(encoding="utf-8") as f:
                f.readline()
                return verify_records(
                    _records_from_lines(f),
                    checkpoints,
                    key,
                    require_erasure_records=require_erasure_records,
                )
        lines = [ln if isinstance(ln, str) else json.dumps(ln) for ln in source]
        header = _read_header(lines[0] if lines else None)
        key = _trusted_key(public_key, header)
        checkpoints = _checkpoints_from_lines(lines[1:])
        return verify_records(
            _records_from_lines(lines[1:]),
            checkpoints,
            key,
            require_erasure_records=require_erasure_records,
        )
    except _BadCheckpoint as exc:
        return VerificationResult(
            ok=False, events_checked=0, problem=Problem.BAD_SIGNATURE, message=str(exc)
        )


def _trusted_key(
    public_key: Ed25519PublicKey | str | bytes | Path | None, header: dict[str, Any]
) -> Ed25519PublicKey:
    if public_key is not None:
        return load_public_key(public_key)
    if not header.get("public_key"):
        raise ValidationError("no public key given and none in the export header")
    return load_public_key(str(header["public_key"]))
