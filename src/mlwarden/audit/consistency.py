"""Is today's log an append-only extension of a checkpoint published earlier?

A signed checkpoint proves little while the signing key sits beside the log: whoever can
rewrite the log can often swap the key and re-sign it too, and ``audit verify`` against the
store's own key then reads OK. A checkpoint published somewhere the store cannot reach (a
ticket, a transparency log, an e-mail to the auditor) pins the history: the current log must
contain it as a prefix (RFC 9162 consistency), under a public key the verifier trusts.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from mlwarden.audit.log import AuditLog
from mlwarden.audit.signing import Checkpoint, key_id
from mlwarden.entities.wire import Wire
from mlwarden.errors import ValidationError


@dataclass(frozen=True, slots=True)
class ConsistencyResult(Wire):
    ok: bool
    message: str
    published_size: int
    published_root: str
    tree_size: int = 0
    root_hash: str | None = None

    def __bool__(self) -> bool:
        return self.ok


def read_checkpoint(path: str | Path) -> Checkpoint:
    """A checkpoint file written by ``mlwarden audit checkpoint --out`` (JSON)."""
    try:
        data = json.loads(Path(path).read_text())
        return Checkpoint.from_dict(data.get("checkpoint", data))
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
        raise ValidationError(
            f"{path} is not a checkpoint file: {type(exc).__name__}", field="checkpoint"
        ) from None


def check_consistency(
    log: AuditLog, published: Checkpoint, public_key: Ed25519PublicKey
) -> ConsistencyResult:
    """The published checkpoint is signed by ``public_key``, the whole log verifies under that
    key, and the log's first ``published.tree_size`` events hash to the published root."""

    def fail(message: str, size: int = 0, root: str | None = None) -> ConsistencyResult:
        return ConsistencyResult(
            False, message, published.tree_size, published.root_hash, size, root
        )

    if not published.verify(public_key):
        return fail(
            f"the published checkpoint (key {published.key_id or '?'}) is not signed by the "
            f"trusted key {key_id(public_key)}: the signing key changed"
        )
    verified = log.verify()
    if not verified.ok:
        return fail(f"the log does not verify: {verified.message}")
    size, root = verified.tree_size, verified.root_hash or ""
    if size < published.tree_size:
        return fail(
            f"the log has {size} events, fewer than the {published.tree_size} of the published "
            "checkpoint: events were removed",
            size,
            root,
        )
    proof = log.consistency(published.tree_size, size)
    if proof.old_root != published.root_hash or not proof.verify(published.root_hash, root):
        return fail(
            f"the log's first {published.tree_size} events do not hash to the published root "
            f"{published.root_hash[:16]}…: history was rewritten",
            size,
            root,
        )
    return ConsistencyResult(
        True,
        f"extends the published checkpoint of size {published.tree_size}",
        published.tree_size,
        published.root_hash,
        size,
        root,
    )
