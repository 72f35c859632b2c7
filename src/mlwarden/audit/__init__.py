"""Tamper-evident audit log: RFC 6962 Merkle tree, Ed25519-signed checkpoints, proofs, and
GDPR erasure that keeps the log verifiable. See docs/audit.md.

The names below load on first use (PEP 562): a parallel verifier's worker process imports
``mlwarden.audit.parallel`` and, through this package, only what checking a range needs.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from mlwarden.audit.log import (
        AuditLog,
        ConsistencyProof,
        InclusionProof,
        MemoryAuditBackend,
    )
    from mlwarden.audit.merkle import MemoryNodeStore, MerkleNodes
    from mlwarden.audit.signing import Signer
    from mlwarden.audit.verify import Problem, VerificationResult, verify_export
    from mlwarden.entities.audit import (
        AuditEvent,
        Checkpoint,
        canonical_json,
        event_leaf_bytes,
        payload_digest,
    )
    from mlwarden.store.audit_store import AuditBackend

_WHERE = {
    "AuditBackend": "mlwarden.store.audit_store",
    "AuditEvent": "mlwarden.entities.audit",
    "AuditLog": "mlwarden.audit.log",
    "Checkpoint": "mlwarden.entities.audit",
    "ConsistencyProof": "mlwarden.audit.log",
    "InclusionProof": "mlwarden.audit.log",
    "MemoryAuditBackend": "mlwarden.audit.log",
    "MemoryNodeStore": "mlwarden.audit.merkle",
    "MerkleNodes": "mlwarden.audit.merkle",
    "Problem": "mlwarden.audit.verify",
    "Signer": "mlwarden.audit.signing",
    "VerificationResult": "mlwarden.audit.verify",
    "canonical_json": "mlwarden.entities.audit",
    "event_leaf_bytes": "mlwarden.entities.audit",
    "payload_digest": "mlwarden.entities.audit",
    "verify_export": "mlwarden.audit.verify",
}

__all__ = [
    "AuditBackend",
    "AuditEvent",
    "AuditLog",
    "Checkpoint",
    "ConsistencyProof",
    "InclusionProof",
    "MemoryAuditBackend",
    "MemoryNodeStore",
    "MerkleNodes",
    "Problem",
    "Signer",
    "VerificationResult",
    "canonical_json",
    "event_leaf_bytes",
    "payload_digest",
    "verify_export",
]


def __getattr__(name: str) -> Any:
    if name in _WHERE:
        value = getattr(importlib.import_module(_WHERE[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'mlwarden.audit' has no attribute {name!r}")


def __dir__() -> list[str]:
    return __all__
