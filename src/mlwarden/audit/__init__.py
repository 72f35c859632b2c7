"""Tamper-evident audit log: RFC 6962 Merkle tree, Ed25519-signed checkpoints, proofs, and
GDPR erasure that keeps the log verifiable. See docs/audit.md."""

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
