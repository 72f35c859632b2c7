"""The audit event, its canonical payload text, salted digest and Merkle leaf encoding.

A leaf commits to ``(seq, time, actor, action, subject, payload_digest)``, never to the payload:
the payload and its salt live beside the event and may be destroyed (GDPR erasure) while the
tree still verifies. The digest is salted so that an erased low-entropy payload (``{"approved":
true}``) cannot be recovered by hashing guesses.
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from mlwarden.entities.wire import Wire

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

__all__ = [
    "CHECKPOINT_ORIGIN",
    "ERASE_ACTION",
    "LEAF_VERSION",
    "SALT_BYTES",
    "AuditEvent",
    "Checkpoint",
    "Node",
    "canonical_json",
    "erasure_subject",
    "erasure_target",
    "event_leaf_bytes",
    "event_leaf_hash",
    "event_leaf_hashes",
    "leaf_bytes",
    "payload_digest",
    "signed_text",
    "utc_now",
]

#: First byte of every leaf encoding; bump it if the encoding ever changes.
LEAF_VERSION = 1
SALT_BYTES = 16

#: The action of the event :meth:`AuditLog.erase_payload` appends. Its subject names the erased
#: event (``audit-event:<seq>``), so a verifier can tell a lawful erasure from a deleted payload.
ERASE_ACTION = "audit.erase_payload"
_ERASE_PREFIX = "audit-event:"


def erasure_subject(seq: int) -> str:
    return f"{_ERASE_PREFIX}{seq}"


def erasure_target(subject: str) -> int | None:
    """The seq an erasure event's subject names, or ``None`` if it names none."""
    if subject.startswith(_ERASE_PREFIX):
        tail = subject[len(_ERASE_PREFIX) :]
        if tail.isdigit():
            return int(tail)
    return None


_sha256 = hashlib.sha256
_canonical = json.JSONEncoder(
    sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
).encode


def canonical_json(value: Any) -> str:
    """``json.dumps(sort_keys=True, separators=(",", ":"), ensure_ascii=False)``; no NaN."""
    return _canonical(value)


def payload_digest(payload: Any, salt: bytes | str) -> str:
    """``SHA256(salt || canonical_json(payload))`` as hex; ``payload`` may be its canonical text.

    Pass the exact stored text (a ``str``) to check stored bytes; pass a dict to hash a new one.
    """
    text = payload if isinstance(payload, str) else _canonical(payload)
    raw_salt = bytes.fromhex(salt) if isinstance(salt, str) else salt
    return _sha256(raw_salt + text.encode()).hexdigest()


def utc_now() -> str:
    """Now as ISO-8601 UTC with microseconds: ``2026-11-30T09:57:26.123456Z``."""
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def leaf_bytes(seq: int, time: str, actor: str, action: str, subject: str, digest: str) -> bytes:
    """The leaf encoding: version byte, seq as u64, four u32-length-prefixed UTF-8 strings, then
    the 32-byte payload digest. Fixed layout and length prefixes make it unambiguous without a
    JSON round trip (verification must run at hundreds of thousands of events a second).
    """
    t = time.encode()
    a = actor.encode()
    c = action.encode()
    s = subject.encode()
    return b"".join(
        (
            b"\x01",
            seq.to_bytes(8, "big"),
            len(t).to_bytes(4, "big"),
            t,
            len(a).to_bytes(4, "big"),
            a,
            len(c).to_bytes(4, "big"),
            c,
            len(s).to_bytes(4, "big"),
            s,
            bytes.fromhex(digest),
        )
    )


#: The action of a refused attempt (recorded by ``access.Recorder.denied``).
DENIED = "access.denied"


@dataclass(frozen=True, slots=True)
class AuditEvent(Wire):
    """One entry of the audit log.

    ``seq`` starts at 1 and has no gaps; the Merkle leaf index is ``seq - 1`` and a checkpoint
    of tree size ``n`` covers seqs ``1..n``. ``time`` is ISO-8601 UTC with microseconds (the
    writer's clock: order is ``seq``, not ``time``). ``payload_json`` is the exact canonical
    text that was hashed and ``salt`` its 16-byte salt in hex; both are ``None`` once erased.
    """

    seq: int
    time: str
    actor: str
    action: str
    subject: str
    payload_digest: str
    payload_json: str | None = field(default=None, repr=False)
    salt: str | None = field(default=None, repr=False)

    # the wire carries the payload parsed (for APIs and the CLI), not its canonical text
    wire_derived = ("payload",)
    wire_exclude = ("payload_json",)

    @property
    def payload(self) -> dict[str, Any] | None:
        """The payload as a dict, or ``None`` once erased."""
        return None if self.payload_json is None else json.loads(self.payload_json)

    @property
    def erased(self) -> bool:
        return self.payload_json is None

    def payload_ok(self) -> bool:
        """Does the stored payload still match its digest? (``True`` when erased.)"""
        if self.payload_json is None or self.salt is None:
            return self.payload_json is None
        return payload_digest(self.payload_json, self.salt) == self.payload_digest

    def leaf_bytes(self) -> bytes:
        return event_leaf_bytes(self)

    def leaf_hash(self) -> bytes:
        return event_leaf_hash(self)

    @classmethod
    def create(
        cls,
        actor: str,
        action: str,
        subject: str,
        payload: dict[str, Any] | None,
        salt: bytes,
        *,
        seq: int = 0,
        time: str | None = None,
    ) -> AuditEvent:
        """A new event with its salted digest computed (``seq`` 0 until the log assigns it)."""
        text = _canonical({} if payload is None else payload)
        return cls(
            seq=seq,
            time=utc_now() if time is None else time,
            actor=actor,
            action=action,
            subject=subject,
            payload_digest=_sha256(salt + text.encode()).hexdigest(),
            payload_json=text,
            salt=salt.hex(),
        )


def event_leaf_bytes(event: AuditEvent) -> bytes:
    """The Merkle leaf data of an event (see :func:`leaf_bytes`)."""
    return leaf_bytes(
        event.seq, event.time, event.actor, event.action, event.subject, event.payload_digest
    )


def event_leaf_hash(event: AuditEvent) -> bytes:
    """``SHA-256(0x00 || event_leaf_bytes(event))``."""
    return _sha256(b"\x00" + event_leaf_bytes(event)).digest()


def event_leaf_hashes(events: Iterable[AuditEvent]) -> Iterator[bytes]:
    """:func:`event_leaf_hash` of each event, for a batch: events of one batch share their
    time (and mostly actor and action), so that part of the encoding is built once."""
    heads: dict[tuple[str, str, str], bytes] = {}
    for e in events:
        key = (e.time, e.actor, e.action)
        head = heads.get(key)
        if head is None:
            t, a, c = e.time.encode(), e.actor.encode(), e.action.encode()
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
            heads[key] = head
        s = e.subject.encode()
        digest = bytes.fromhex(e.payload_digest)
        prefix = (b"\x00\x01", e.seq.to_bytes(8, "big"), head, len(s).to_bytes(4, "big"))
        yield _sha256(b"".join((*prefix, s, digest))).digest()


# --------------------------------------------------------------------------- tree and checkpoints

Node = tuple[int, int, bytes]
"""``(level, index, hash)`` of a complete perfect subtree."""

#: The first line of every signed checkpoint text (the log's origin, as in C2SP checkpoints).
CHECKPOINT_ORIGIN = "mlwarden-audit"


@dataclass(frozen=True, slots=True)
class Checkpoint(Wire):
    """A signed tree head: the log had ``tree_size`` events with root ``root_hash`` (hex)."""

    tree_size: int
    root_hash: str
    time: str
    key_id: str
    signature: str | None

    def signed_text(self) -> str:
        return signed_text(self.tree_size, self.root_hash, self.time)

    def verify(self, public_key: Ed25519PublicKey) -> bool:
        """Is the signature valid and made by ``public_key``?"""
        if not self.signature:
            return False
        from cryptography.exceptions import InvalidSignature  # only verifiers need it

        try:
            public_key.verify(base64.b64decode(self.signature), self.signed_text().encode())
        except (InvalidSignature, ValueError):
            return False
        return True

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Checkpoint:
        return cls(
            tree_size=int(data["tree_size"]),
            root_hash=str(data["root_hash"]),
            time=str(data["time"]),
            key_id=str(data.get("key_id") or ""),
            signature=data.get("signature"),
        )


def signed_text(tree_size: int, root_hash: str, time: str) -> str:
    root_b64 = base64.b64encode(bytes.fromhex(root_hash)).decode()
    return f"{CHECKPOINT_ORIGIN}\n{tree_size}\n{root_b64}\n{time}\n"
