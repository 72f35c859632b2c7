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

Finding = tuple[int | None, Problem, str]
"""What a check found: ``(first bad seq, problem, message)``."""


class ScanState:
    """Where a scan of events stands: the next seq, the tree nodes built so far and the
    erasures seen. A scan from seq 1 builds the tree's frontier (``floor`` stays 0); a scan
    that starts mid-log (a parallel worker's range, :mod:`mlwarden.audit.parallel`) builds the
    range's minimal aligned subtrees, and ``floor`` counts the leading ones whose left
    sibling lies before the range: they never merge (``merkle.range_levels``)."""

    __slots__ = ("erased", "expected", "floor", "hashes", "heads", "targets")

    def __init__(self, expected: int = 1) -> None:
        self.expected = expected
        self.hashes: list[bytes] = []
        self.floor = 0
        self.erased: set[int] = set()  # seqs whose payload is gone
        self.targets: set[int] = set()  # seqs an earlier-seq'd erasure event names
        # length-prefixed (time, actor, action): they repeat (a batch shares its time)
        self.heads: dict[tuple[str, str, str], bytes] = {}

    @property
    def size(self) -> int:
        """Events in the tree so far (a range's scan counts from seq 1 too)."""
        return self.expected - 1


def scan(it: Iterator[Record], st: ScanState, stop: int) -> Finding | None:
    """Check records from ``it`` (stored order) until event ``stop`` is in the tree or ``it``
    ends; ``None`` unless a record is bad. The one definition of the per-event checks: the
    sequential verifier and every parallel worker run it. See docs/audit.md."""
    expected = st.expected
    hashes = st.hashes
    push = hashes.append
    pop = hashes.pop
    floor = st.floor
    heads = st.heads
    erased = st.erased
    end = stop + 1  # 0 (never reached) when there is no stop
    found: Finding | None = None
    for rec in it:
        seq, time, actor, action, subject, digest, payload, salt, recorded = rec
        if seq != expected:
            found = _out_of_order(it, seq, time, expected)
            break
        try:
            # leaf_bytes(), inlined: this loop must run at hundreds of thousands a second.
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
            found = (seq, Problem.ALTERED_EVENT, f"seq {seq} is malformed: {exc}")
            break
        # The recorded leaf comes as raw bytes (SQL stores) or hex (export files).
        if recorded is not None and leaf != recorded and leaf.hex() != recorded:
            nxt = next(it, None)
            if nxt is not None and nxt[0] == seq:
                found = (seq, Problem.INSERTED_EVENT, f"seq {seq} appears twice")
            else:
                found = (
                    seq,
                    Problem.ALTERED_EVENT,
                    f"seq {seq}: the event's fields no longer match the leaf hash recorded "
                    "at append",
                )
            break
        if payload is None:
            erased.add(seq)
        elif salt is None:
            found = (seq, Problem.ALTERED_PAYLOAD, f"seq {seq}: payload present without salt")
            break
        else:
            try:
                ok = _sha256(bytes.fromhex(salt) + payload.encode()).digest() == d
            except (ValueError, AttributeError):
                ok = False
            if not ok:
                found = (
                    seq,
                    Problem.ALTERED_PAYLOAD,
                    f"seq {seq}: the payload does not match its recorded digest",
                )
                break
        if action == ERASE_ACTION:
            target = erasure_target(subject)
            if target is not None and target < seq:
                st.targets.add(target)
        # CompactRange.add, inlined.
        i = expected - 1
        while i & 1:
            if len(hashes) == floor:  # the left sibling is before this scan's range
                floor += 1
                break
            leaf = _sha256(b"\x01" + pop() + leaf).digest()
            i >>= 1
        push(leaf)
        expected += 1
        if expected == end:
            break
    st.expected = expected
    st.floor = floor
    return found


def _out_of_order(it: Iterator[Record], seq: Any, time: Any, expected: int) -> Finding:
    if seq is None:  # a line the reader could not parse; the reason is in `time`
        return (expected, Problem.ALTERED_EVENT, f"after seq {expected - 1}: {time}")
    if type(seq) is not int or seq < 1:
        return (expected, Problem.ALTERED_EVENT, f"bad seq {seq!r} after {expected - 1}")
    if seq < expected:
        return (seq, Problem.INSERTED_EVENT, f"seq {seq} appears twice")
    # A gap: deleted, unless the missing seq turns up later (moved lines).
    for later in it:
        if later[0] == expected:
            return (
                expected,
                Problem.REORDERED_EVENTS,
                f"seq {expected} is stored after seq {seq}: events are out of order",
            )
    last = expected if seq == expected + 1 else f"{expected}..{seq - 1}"
    return (expected, Problem.DELETED_EVENT, f"seq {last} missing (next is {seq})")


class Attestation:
    """The signed checkpoints, checked in size order as a scan reaches each size.

    ``signed``: signature verdicts computed elsewhere (parallel workers), by position in
    :attr:`cps`; the rest are checked here."""

    def __init__(
        self,
        checkpoints: Iterable[Checkpoint],
        public_key: Ed25519PublicKey,
        signed: dict[int, bool] | None = None,
    ) -> None:
        self.cps = sorted(checkpoints, key=lambda c: c.tree_size)
        self.key = public_key
        self.signed = signed if signed is not None else {}
        self.ci = 0  # the next checkpoint to check
        self.checked = 0  # checkpoints verified
        self.attested = 0  # tree size of the last checkpoint that verified
        self.previous = 0  # the verified checkpoint size before that one
        self.last_root: str | None = None

    @property
    def next_size(self) -> int:
        """The size the scan must stop at next (-1: none left)."""
        return self.cps[self.ci].tree_size if self.ci < len(self.cps) else -1

    def result(self, found: Finding, events: int, erased: int) -> VerificationResult:
        seq, problem, message = found
        return VerificationResult(
            ok=False,
            events_checked=events,
            first_bad_seq=seq,
            problem=problem,
            message=message,
            erased=erased,
            checkpoints_checked=self.checked,
            tree_size=self.attested,
            root_hash=self.last_root,
        )

    def _signed(self, i: int) -> bool:
        ok = self.signed.get(i)
        return self.cps[i].verify(self.key) if ok is None else ok

    def check_empty(self) -> Finding | None:
        """The checkpoints of the empty tree, before any event."""
        while self.ci < len(self.cps) and self.cps[self.ci].tree_size <= 0:
            bad = self._check(EMPTY_ROOT)
            if bad is not None:
                return bad
        return None

    def check(self, size: int, root: bytes) -> Finding | None:
        """Every checkpoint of ``size``, against the tree's ``root`` at that size."""
        while self.ci < len(self.cps) and self.cps[self.ci].tree_size == size:
            bad = self._check(root)
            if bad is not None:
                return bad
        return None

    def _check(self, root: bytes) -> Finding | None:
        cp = self.cps[self.ci]
        # Several checkpoints may share a size: they all cover the range after the last
        # checkpoint of a *smaller* size.
        start = (self.attested if self.attested < cp.tree_size else self.previous) + 1
        if not cp.signature:
            return (
                start, Problem.MISSING_SIGNATURE, f"checkpoint at size {cp.tree_size} is unsigned"
            )  # fmt: skip
        if not self._signed(self.ci):
            return (
                start,
                Problem.BAD_SIGNATURE,
                f"checkpoint at size {cp.tree_size} has a signature that does not verify "
                "with the trusted public key",
            )
        if cp.root_hash != root.hex():
            return (
                start,
                Problem.ROOT_MISMATCH,
                f"events {start}..{cp.tree_size} do not hash to the signed root of checkpoint "
                f"{cp.tree_size}: an event in this range was changed and its recorded leaf "
                "hash rewritten too (or absent), so it cannot be pinned down further",
            )
        self.checked += 1
        if self.attested < cp.tree_size:
            self.previous = self.attested
        self.attested = cp.tree_size
        self.last_root = cp.root_hash
        self.ci += 1
        return None

    def finish(
        self, size: int, erased: set[int], targets: set[int], *, require_erasure_records: bool
    ) -> VerificationResult:
        """The verdict once the events ran out at ``size`` with no bad record."""
        cps, attested = self.cps, self.attested
        found: Finding | None = None
        if self.ci < len(cps):
            cp = cps[-1]
            if not cp.signature:
                found = (
                    attested + 1,
                    Problem.MISSING_SIGNATURE,
                    f"checkpoint at size {cp.tree_size} is unsigned",
                )
            elif not self._signed(len(cps) - 1):
                found = (
                    attested + 1,
                    Problem.BAD_SIGNATURE,
                    f"checkpoint at size {cp.tree_size} has a signature that does not verify",
                )
            else:
                found = (
                    size + 1,
                    Problem.DELETED_EVENT,
                    f"a signed checkpoint covers {cp.tree_size} events but only {size} are present",
                )
        elif not cps and size:
            found = (1, Problem.MISSING_SIGNATURE, "no signed checkpoint covers these events")
        elif size > attested:
            found = (
                attested + 1,
                Problem.MISSING_SIGNATURE,
                f"events {attested + 1}..{size} are not covered by any signed checkpoint",
            )
        elif require_erasure_records and not erased <= targets:
            seq = min(erased - targets)
            found = (
                seq,
                Problem.ALTERED_PAYLOAD,
                f"seq {seq}: payload removed without an {ERASE_ACTION} event recording the erasure",
            )
        if found is not None:
            return self.result(found, size, len(erased))
        return VerificationResult(
            ok=True,
            events_checked=size,
            erased=len(erased),
            checkpoints_checked=self.checked,
            tree_size=attested,
            root_hash=self.last_root,
            message=f"ok: {size} events, {self.checked} checkpoints, {len(erased)} erased",
        )


def verify_records(
    records: Iterable[Record],
    checkpoints: Iterable[Checkpoint],
    public_key: Ed25519PublicKey,
    *,
    require_erasure_records: bool = True,
) -> VerificationResult:
    """Check events (in stored order) against signed checkpoints. See docs/audit.md."""
    att = Attestation(checkpoints, public_key)
    st = ScanState()
    found = att.check_empty()
    it = iter(records)
    while found is None:
        stop = att.next_size
        found = scan(it, st, stop)
        if found is not None or st.size != stop:
            break  # a bad record, or the records ran out
        found = att.check(stop, CompactRange(stop, st.hashes).root())
    if found is not None:
        return att.result(found, st.size, len(st.erased))
    return att.finish(
        st.size, st.erased, st.targets, require_erasure_records=require_erasure_records
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
