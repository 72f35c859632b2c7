"""The audit log service and the small storage contract it runs on.

``AuditLog`` owns every rule (salting, seq order, tree building, signing, proofs, export,
erasure). A backend only stores rows; :class:`AuditBackend` lists the primitives and the exact
columns the SQL store keeps. :class:`MemoryAuditBackend` is the reference implementation.
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from mlwarden.audit.merkle import (
    CompactRange,
    MemoryNodeStore,
    Node,
    consistency_proof,
    frontier_positions,
    inclusion_proof,
    root_at,
    verify_consistency,
    verify_inclusion,
)
from mlwarden.audit.signing import Checkpoint, Signer, load_public_key, public_key_b64
from mlwarden.audit.verify import (
    EVENT_FIELDS,
    EXPORT_FORMAT,
    EXPORT_VERSION,
    Record,
    VerificationResult,
    verify_records,
)
from mlwarden.entities.audit import (
    ERASE_ACTION,
    SALT_BYTES,
    AuditEvent,
    canonical_json,
    erasure_subject,
    event_leaf_hashes,
    utc_now,
)
from mlwarden.entities.wire import Wire
from mlwarden.errors import IntegrityError, NotFound, ValidationError, WardenError
from mlwarden.store.audit_store import AuditBackend

__all__ = [
    "AuditLog",
    "ConsistencyProof",
    "InclusionProof",
    "MemoryAuditBackend",
]

Entry = tuple[str, str, str, "Mapping[str, Any] | None"] | Mapping[str, Any]


def _check_key(signer: Signer, latest: Checkpoint | None) -> None:
    """Two hosts with different keys must never both sign one log: the verifier trusts one
    public key, so the second key's checkpoints would all read as forged."""
    if latest is not None and latest.key_id and latest.key_id != signer.key_id:
        raise IntegrityError(
            f"this store's audit log is signed with key {latest.key_id}, but this Warden's "
            f"key is {signer.key_id}: point MLWARDEN_KEY_FILE at the store's key",
            field="key_file",
            store_key_id=latest.key_id,
            key_id=signer.key_id,
        )


class MemoryAuditBackend(AuditBackend):
    """Everything in process memory (tests, benchmarks)."""

    def __init__(self) -> None:
        self._events: list[AuditEvent] = []
        self._nodes = MemoryNodeStore()
        self._checkpoints: list[Checkpoint] = []
        self._lock = threading.RLock()

    def integrating(self) -> AbstractContextManager[None]:
        return _locked(self._lock)

    def size(self) -> int:
        return len(self._events)

    def append_batch(
        self,
        events: Sequence[AuditEvent],
        *,
        after: int | None = None,
        leaves: Sequence[bytes] | None = None,
    ) -> list[int]:
        start = len(self._events) + 1
        seqs = list(range(start, start + len(events)))
        self._events.extend(_with(e, s, e.time) for e, s in zip(events, seqs, strict=True))
        if leaves is not None:
            self._nodes.put_many((0, s - 1, h) for s, h in zip(seqs, leaves, strict=True))
        return seqs

    def read(self, from_seq: int = 1, to_seq: int | None = None) -> Iterator[AuditEvent]:
        stop = len(self._events) if to_seq is None else min(to_seq, len(self._events))
        return iter(self._events[max(from_seq, 1) - 1 : stop])

    def get_node(self, level: int, index: int) -> bytes:
        return self._nodes.get(level, index)

    def get_nodes(self, level: int, start: int, stop: int) -> list[bytes]:
        return self._nodes.get_range(level, start, stop)

    def put_nodes(self, nodes: Sequence[Node]) -> None:
        self._nodes.put_many(nodes)

    def latest_checkpoint(self) -> Checkpoint | None:
        return self._checkpoints[-1] if self._checkpoints else None

    def save_checkpoint(self, checkpoint: Checkpoint) -> None:
        cps = self._checkpoints
        cps.append(checkpoint)
        if len(cps) > 1 and cps[-2].tree_size > checkpoint.tree_size:
            cps.sort(key=lambda c: c.tree_size)

    def checkpoints(self) -> list[Checkpoint]:
        return list(self._checkpoints)

    def erase(self, seq: int) -> bool:
        if not 1 <= seq <= len(self._events):
            return False
        e = self._events[seq - 1]
        self._events[seq - 1] = replace(e, payload_json=None, salt=None)
        return True

    # Test hooks: tamper with the store as an attacker with database access would.
    def _tamper_event(self, seq: int, **changes: Any) -> None:
        self._events[seq - 1] = replace(self._events[seq - 1], **changes)


class _locked(AbstractContextManager[None]):
    def __init__(self, lock: threading.RLock) -> None:
        self._lock = lock

    def __enter__(self) -> None:
        self._lock.acquire()

    def __exit__(self, *exc: object) -> None:
        self._lock.release()


# --------------------------------------------------------------------------- proofs


def _hex(value: bytes | str) -> str:
    return value.hex() if isinstance(value, bytes) else value


@dataclass(frozen=True, slots=True)
class InclusionProof(Wire):
    """Event ``seq`` (leaf ``seq - 1``) is in the tree of ``tree_size`` with ``root_hash``."""

    seq: int
    tree_size: int
    leaf_hash: str
    path: tuple[str, ...]
    root_hash: str

    def verify(
        self,
        root: bytes | str | Checkpoint | None = None,
        public_key: Ed25519PublicKey | None = None,
    ) -> bool:
        """Check the path against ``root``: a trusted root hash, or a checkpoint (whose
        signature is checked too when ``public_key`` is given). Default: the proof's own root,
        which only shows internal consistency."""
        if isinstance(root, Checkpoint):
            if root.tree_size != self.tree_size:
                return False
            if public_key is not None and not root.verify(public_key):
                return False
            root = root.root_hash
        want = bytes.fromhex(_hex(root if root is not None else self.root_hash))
        return verify_inclusion(
            bytes.fromhex(self.leaf_hash),
            self.seq - 1,
            self.tree_size,
            [bytes.fromhex(p) for p in self.path],
            want,
        )

    def verify_event(
        self,
        event: AuditEvent,
        root: bytes | str | Checkpoint | None = None,
        public_key: Ed25519PublicKey | None = None,
    ) -> bool:
        """Also check that the proof is about ``event``'s fields."""
        return (
            event.seq == self.seq
            and event.leaf_hash().hex() == self.leaf_hash
            and self.verify(root, public_key)
        )


@dataclass(frozen=True, slots=True)
class ConsistencyProof(Wire):
    """The tree of ``new_size`` extends the tree of ``old_size`` without rewriting it."""

    old_size: int
    new_size: int
    old_root: str
    new_root: str
    path: tuple[str, ...]

    def verify(
        self, old_root: bytes | str | None = None, new_root: bytes | str | None = None
    ) -> bool:
        """Check against trusted roots (default: the ones in the proof)."""
        return verify_consistency(
            self.old_size,
            self.new_size,
            bytes.fromhex(_hex(old_root if old_root is not None else self.old_root)),
            bytes.fromhex(_hex(new_root if new_root is not None else self.new_root)),
            [bytes.fromhex(p) for p in self.path],
        )


# --------------------------------------------------------------------------- the service


class AuditLog:
    """Append, query, prove, checkpoint, verify, export and erase.

    Every :meth:`append_many` call is one batch: its events get consecutive seqs, their leaves
    and completed tree nodes are stored, and one checkpoint is signed, all in one backend
    transaction. Batch writes (the prediction log does) to keep signatures per event low.
    """

    def __init__(
        self,
        backend: AuditBackend,
        signer: Signer | None = None,
        *,
        public_key: Ed25519PublicKey | str | bytes | Path | None = None,
    ) -> None:
        self.backend = backend
        self.signer = signer
        #: (tree size, root hash, frontier) of the last head this log signed
        self._last: tuple[int, str, CompactRange] | None = None
        if public_key is not None:
            self.public_key: Ed25519PublicKey | None = load_public_key(public_key)
        else:
            self.public_key = signer.public_key if signer else None

    # ---- writing

    def append(
        self, actor: str, action: str, subject: str, payload: Mapping[str, Any] | None = None
    ) -> AuditEvent:
        return self.append_many([(actor, action, subject, payload)])[0]

    def append_many(self, entries: Iterable[Entry]) -> list[AuditEvent]:
        """Append a batch; each entry is ``(actor, action, subject, payload)`` or a mapping
        with those keys. Returns the stored events with their seqs."""
        signer = self._require_signer()
        prepared = []
        items = list(entries)
        salts = os.urandom(SALT_BYTES * len(items))
        for i, entry in enumerate(items):
            if isinstance(entry, Mapping):
                actor, action, subject = entry["actor"], entry["action"], entry["subject"]
                payload = entry.get("payload")
            else:
                actor, action, subject, payload = entry
            for name, value in (("actor", actor), ("action", action), ("subject", subject)):
                if not isinstance(value, str) or not value:
                    raise ValidationError(f"audit {name} must be a non-empty string")
            try:
                prepared.append(
                    AuditEvent.create(
                        actor,
                        action,
                        subject,
                        dict(payload) if payload is not None else None,
                        salts[i * SALT_BYTES : (i + 1) * SALT_BYTES],
                        time="",  # stamped under the lock, below
                    )
                )
            except (TypeError, ValueError) as exc:
                raise ValidationError(f"audit payload is not JSON: {exc}") from exc
        if not prepared:
            return []
        with self.backend.integrating():
            latest, size = self.backend.head()
            _check_key(signer, latest)  # before anything is written
            backlog = size - (latest.tree_size if latest else 0)
            if backlog:
                # Appends integrate in the same transaction, so stored-but-unsigned rows mean a
                # crashed non-transactional backend or rows written around the service. Signing
                # them blindly would bless them: an operator inspects, then calls integrate().
                raise IntegrityError(
                    f"the audit store holds {backlog} events outside the signed tree; "
                    "inspect them, then run AuditLog.integrate()",
                    backlog=backlog,
                )
            # Stamped under the integrator lock, so time never decreases along seq (on one
            # host's clock); one batch shares one time.
            now = utc_now()
            stored = [_with(e, size + 1 + i, now) for i, e in enumerate(prepared)]
            # Hashed and signed before anything is written, so the events, their nodes and
            # the checkpoint go to the store together (one statement on PostgreSQL).
            frontier = self._frontier(latest)
            nodes: list[Node] = []
            extend = nodes.extend
            for leaf in event_leaf_hashes(stored):
                extend(frontier.append(leaf))
            checkpoint = signer.sign(frontier.size, frontier.root())
            self.backend.append_signed(stored, nodes, checkpoint)
            self._last = (checkpoint.tree_size, checkpoint.root_hash, frontier.copy())
        return stored

    def integrate(self) -> Checkpoint | None:
        """Integrate events stored but not yet in the tree and sign a checkpoint; returns the
        latest checkpoint. An operator's recovery step (or a queueing backend's integrator):
        whatever rows are there get signed, so look at them first."""
        signer = self._require_signer()
        with self.backend.integrating():
            self._integrate(signer, [])
            return self.backend.latest_checkpoint()

    def _integrate(self, signer: Signer, fresh: list[AuditEvent]) -> None:
        latest = self.backend.latest_checkpoint()
        _check_key(signer, latest)
        self._sign(signer, latest, self.backend.size(), fresh)

    def _sign(
        self, signer: Signer, latest: Checkpoint | None, size: int, fresh: list[AuditEvent]
    ) -> None:
        """Add the leaves after ``latest`` up to ``size`` to the tree and sign its new head."""
        done = latest.tree_size if latest else 0
        if size == done:
            return
        frontier = self._frontier(latest)
        if fresh and fresh[0].seq == done + 1 and fresh[-1].seq == size:
            todo: Iterable[AuditEvent] = fresh
        else:
            todo = self.backend.read(done + 1, size)
        nodes: list[Node] = []
        extend = nodes.extend
        for leaf in event_leaf_hashes(todo):
            extend(frontier.append(leaf))
        if frontier.size != size:
            raise WardenError(f"audit store returned {frontier.size - done} of {size - done}")
        self.backend.put_nodes(nodes)
        checkpoint = signer.sign(size, frontier.root())
        self.backend.save_checkpoint(checkpoint)
        self._last = (checkpoint.tree_size, checkpoint.root_hash, frontier.copy())

    def _frontier(self, latest: Checkpoint | None) -> CompactRange:
        """The tree's right edge at ``latest``: the one this log signed last when the store
        has not moved since (a head commits to every leaf, so an equal head means an equal
        frontier, even one whose transaction rolled back), else read from stored nodes."""
        if latest is None:
            return CompactRange()
        last = self._last
        if last is not None and (last[0], last[1]) == (latest.tree_size, latest.root_hash):
            return last[2].copy()
        # another writer (a second worker or replica) signed since: its frontier, one read
        size = latest.tree_size
        return CompactRange(size, self.backend.get_frontier(frontier_positions(size)))

    def erase_payload(self, seq: int, *, actor: str, reason: str = "") -> AuditEvent:
        """Destroy event ``seq``'s payload and salt (GDPR erasure) and log that it happened.

        The tree is unchanged, so the log still verifies; the appended ``audit.erase_payload``
        event (subject ``audit-event:<seq>``) tells verifiers the gap is lawful. Put no
        personal data in ``reason``. Safe to retry: the first erasure record is reused.
        """
        if not 1 <= seq <= self.backend.size():
            raise NotFound(f"no audit event {seq}", seq=seq)
        # Idempotent: a retry (also after a crash between the two steps) reuses the record.
        done = self.backend.query(subject=erasure_subject(seq), action=ERASE_ACTION, limit=1)
        record = (
            done[0]
            if done
            else self.append(actor, ERASE_ACTION, erasure_subject(seq), {"reason": reason})
        )
        self.backend.erase(seq)
        return record

    # ---- reading

    @property
    def size(self) -> int:
        return self.backend.size()

    def get(self, seq: int) -> AuditEvent:
        for e in self.backend.read(seq, seq):
            return e
        raise NotFound(f"no audit event {seq}", seq=seq)

    def events(
        self,
        model: str | None = None,
        action: str | None = None,
        since: str | datetime | None = None,
        limit: int | None = None,
        *,
        subject: str | None = None,
        actor: str | None = None,
        until: str | datetime | None = None,
        newest_first: bool = False,
        offset: int = 0,
    ) -> list[AuditEvent]:
        """Events filtered by model (subjects ``model:<name>`` and ``model:<name>/…``), action,
        subject, actor and time (``since <= time < until``), ascending seq unless
        ``newest_first``."""
        kwargs: dict[str, Any] = {
            "action": action,
            "actor": actor,
            "subject": subject,
            "since": _iso(since),
            "until": _iso(until),
            "newest_first": newest_first,
            "offset": offset,
        }
        tree = None if model is None else f"model:{model}"
        return self.backend.query(subject_tree=tree, limit=limit, **kwargs)

    def latest_checkpoint(self) -> Checkpoint | None:
        """The latest stored checkpoint as it is (nothing integrated, nothing signed), or
        ``None`` for a log never checkpointed: what a read-only page shows."""
        return self.backend.latest_checkpoint()

    def signed_checkpoint(self) -> Checkpoint:
        """The latest checkpoint, never signing anything new.

        :meth:`checkpoint` integrates stored-but-unsigned rows first; on the SQL store every
        append is signed in its own transaction, so such rows can only have been written
        around Warden, and signing them here would bless a forgery: read-only callers (the
        ``mlwarden audit`` commands) refuse instead, with ``IntegrityError``."""
        cp = self.backend.latest_checkpoint()
        size = self.backend.size()
        done = cp.tree_size if cp else 0
        if size > done:
            raise IntegrityError(
                f"the audit store holds {size - done} events outside the signed tree "
                f"(seqs {done + 1}..{size}): run `mlwarden audit verify`"
            )
        if cp is None:
            cp = self.checkpoint()  # the empty log: sign its (empty) root once
        return cp

    def read_only(self, public_key: Ed25519PublicKey | str | Path | None = None) -> AuditLog:
        """This log without its signer, trusting ``public_key`` (default: this log's)."""
        return AuditLog(self.backend, public_key=public_key or self.public_key)

    def checkpoint(self) -> Checkpoint:
        """The latest signed checkpoint (integrating any backlog first)."""
        cp = self.backend.latest_checkpoint()
        if cp is None or cp.tree_size < self.backend.size():
            cp = self.integrate()
        if cp is None:
            cp = self._require_signer().sign(0, root_at(0, self.backend.get_node))
            with self.backend.integrating():
                if self.backend.latest_checkpoint() is None:
                    self.backend.save_checkpoint(cp)
        return cp

    def root(self, tree_size: int | None = None) -> bytes:
        size = self._tree_size() if tree_size is None else tree_size
        return root_at(size, self.backend.get_node)

    def prove(self, seq: int, tree_size: int | None = None) -> InclusionProof:
        """Inclusion proof of event ``seq`` in the tree of ``tree_size`` (default: the latest
        checkpoint). O(log n) node reads."""
        size = self._tree_size() if tree_size is None else tree_size
        if not 1 <= seq <= size:
            raise NotFound(f"audit event {seq} is not in a tree of size {size}", seq=seq)
        get = self.backend.get_node
        path = inclusion_proof(seq - 1, size, get)
        return InclusionProof(
            seq=seq,
            tree_size=size,
            leaf_hash=get(0, seq - 1).hex(),
            path=tuple(p.hex() for p in path),
            root_hash=root_at(size, get).hex(),
        )

    def consistency(self, old_size: int, new_size: int | None = None) -> ConsistencyProof:
        new = self._tree_size() if new_size is None else new_size
        if not 0 <= old_size <= new <= self._tree_size():
            raise ValidationError(f"cannot prove consistency {old_size} -> {new}")
        get = self.backend.get_node
        return ConsistencyProof(
            old_size=old_size,
            new_size=new,
            old_root=root_at(old_size, get).hex(),
            new_root=root_at(new, get).hex(),
            path=tuple(p.hex() for p in consistency_proof(old_size, new, get)),
        )

    def _tree_size(self) -> int:
        cp = self.backend.latest_checkpoint()
        return cp.tree_size if cp else 0

    # ---- verification and export

    def verify(self, *, require_erasure_records: bool = True) -> VerificationResult:
        """Re-check the whole store as an offline verifier would (same code path)."""
        key = self._require_key()
        checkpoints, size = self.backend.signed_view()
        return verify_records(
            self._records(size, checkpoints[-1].tree_size if checkpoints else 0),
            checkpoints,
            key,
            require_erasure_records=require_erasure_records,
        )

    def _records(self, size: int, integrated: int, chunk: int = 4096) -> Iterator[Record]:
        """The first ``size`` events as verifier records; those up to ``integrated`` with
        their recorded leaf hashes."""
        for start in range(1, size + 1, chunk):
            stop = min(start + chunk - 1, size)
            # Events not yet integrated have no recorded leaf hash to compare.
            leaves = [h.hex() for h in self.backend.get_nodes(0, start - 1, min(stop, integrated))]
            for i, e in enumerate(self.backend.read(start, stop)):
                yield (
                    e.seq,
                    e.time,
                    e.actor,
                    e.action,
                    e.subject,
                    e.payload_digest,
                    e.payload_json,
                    e.salt,
                    leaves[i] if i < len(leaves) else None,
                )

    def export(self, path: str | Path) -> int:
        """Write the JSON Lines export (header, events, checkpoints); returns events written.

        A fresh checkpoint is taken first, so every exported event is covered by a signature.
        """
        key = self._require_key()
        if self.signer is not None:
            self.checkpoint()
        n = 0
        dumps = json.dumps
        path = Path(path)
        with path.open("w", encoding="utf-8") as f:
            header = {
                "format": EXPORT_FORMAT,
                "version": EXPORT_VERSION,
                "public_key": public_key_b64(key),
                "event_fields": list(EVENT_FIELDS),
                "exported_at": utc_now(),
            }
            f.write(canonical_json(header) + "\n")
            checkpoints, size = self.backend.signed_view()  # what a verifier sees together
            integrated = checkpoints[-1].tree_size if checkpoints else 0
            for rec in self._records(size, integrated):
                if type(rec[8]) is bytes:  # the file carries the recorded leaf as hex
                    rec = (*rec[:8], rec[8].hex())
                f.write(dumps(rec, ensure_ascii=False, separators=(",", ":")) + "\n")
                n += 1
            for cp in checkpoints:
                f.write(canonical_json({"checkpoint": cp.to_dict()}) + "\n")
        return n

    def _require_signer(self) -> Signer:
        if self.signer is None:
            raise WardenError("this audit log has no signing key (read-only)")
        return self.signer

    def _require_key(self) -> Ed25519PublicKey:
        if self.public_key is None:
            raise WardenError("no audit public key configured")
        return self.public_key


def _with(e: AuditEvent, seq: int, time: str) -> AuditEvent:
    # dataclasses.replace costs ~3x this, twice per appended event.
    return AuditEvent(
        seq, time, e.actor, e.action, e.subject, e.payload_digest, e.payload_json, e.salt
    )


def _iso(value: str | datetime | None) -> str | None:
    if value is None or isinstance(value, str):
        return value
    if value.tzinfo is not None:
        value = value.astimezone(UTC)
    return value.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
