"""The store's audit log: opened with its signing key, and checked before a server starts.

The SQL backend (``store/sql/audit.py``) keeps the rows; the rules are :class:`AuditLog`'s.
This module joins them with the key file, so the store layer never imports the audit service.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from mlwarden.audit.log import AuditLog
from mlwarden.audit.parallel import (
    PARALLEL_MIN_EVENTS,
    Progress,
    WorkerFailed,
    default_workers,
    verify_parallel,
)
from mlwarden.audit.signing import Signer, key_id, load_public_key
from mlwarden.audit.verify import VerificationResult, verify_records
from mlwarden.errors import AlreadyExists, KeyMismatch, WardenError
from mlwarden.settings import Settings
from mlwarden.store.audit_store import AuditBackend
from mlwarden.store.sql.audit import SqlAuditBackend, key_path, public_key_path
from mlwarden.store.sql.database import Database
from mlwarden.store.sql.keycheck import open_master_key

__all__ = ["KeylessAuditLog", "SqlAuditLog", "open_audit_log", "preflight"]

log = logging.getLogger("mlwarden.audit")


class SqlAuditLog(AuditLog):
    """:class:`AuditLog` whose verification and export read records in one query per page,
    and whose verification of a large log runs in several processes (``audit.parallel``)."""

    backend: SqlAuditBackend
    #: processes an online verification may use, this one included (None: one per CPU)
    verify_workers: int | None = None
    #: the log size from which verification runs in parallel
    parallel_min: int = PARALLEL_MIN_EVENTS

    def __init__(
        self,
        backend: AuditBackend,
        signer: Signer | None = None,
        *,
        verify_workers: int | None = None,
        parallel_min: int | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(backend, signer, **kwargs)
        if verify_workers is not None:
            self.verify_workers = verify_workers
        if parallel_min is not None:
            self.parallel_min = parallel_min

    def _records(self, size: int, integrated: int, chunk: int = 4096) -> Iterator[Any]:
        return self.backend.records(self.backend.record_pages(size))

    def verify(
        self, *, require_erasure_records: bool = True, progress: Progress | None = None
    ) -> VerificationResult:
        """As :meth:`AuditLog.verify`; a log of ``parallel_min`` events or more is checked
        by ``verify_workers`` processes, with the same verdict. ``progress(done, total)`` is
        called as its ranges finish."""
        key = self._require_key()
        checkpoints, size = self.backend.signed_view()
        pages = self.backend.record_pages(size)
        workers = self.verify_workers or default_workers()
        source = self.backend.record_source()
        big = workers > 1 and size >= max(self.parallel_min, 1)
        # Inside a transaction, other connections could not see its rows.
        if big and source is not None and not self.backend._in_transaction():
            try:
                return verify_parallel(
                    source,
                    pages,
                    checkpoints,
                    key,
                    workers=workers,
                    require_erasure_records=require_erasure_records,
                    progress=progress,
                )
            except WorkerFailed as exc:  # the same verdict, one scan: slower, never weaker
                log.warning("audit verification: %s; verifying in one scan instead", exc)
        return verify_records(
            self.backend.records(pages),
            checkpoints,
            key,
            require_erasure_records=require_erasure_records,
        )

    def read_only(self, public_key: Ed25519PublicKey | str | Path | None = None) -> SqlAuditLog:
        return SqlAuditLog(
            self.backend,
            public_key=public_key or self.public_key,
            verify_workers=vars(self).get("verify_workers"),
            parallel_min=vars(self).get("parallel_min"),
        )


class KeylessAuditLog(SqlAuditLog):
    """An audit log opened without its signing key: it reads, proves and verifies, and says
    exactly why when asked to write."""

    def __init__(self, backend: AuditBackend, reason: str, **kwargs: Any) -> None:
        super().__init__(backend, None, **kwargs)
        self.reason = reason

    def _require_signer(self) -> Signer:
        raise WardenError(self.reason, field="key_file")


def open_audit_log(db: Database, settings: Settings) -> SqlAuditLog:
    """The store's audit log with its signer.

    The key file is created on first use only while the log is still empty (no checkpoint):
    for the embedded default that makes ``Warden()`` just work; on PostgreSQL the first
    process acts as ``mlwarden init`` and every other host must be given the same key
    (``MLWARDEN_KEY_FILE``) — a different key is refused at the first append.
    """
    backend = SqlAuditBackend(db)
    options: dict[str, Any] = {
        "verify_workers": settings.audit_verify_workers,
        "parallel_min": settings.audit_verify_parallel_min,
    }
    path = key_path(settings)
    if not path.exists() and backend.latest_checkpoint() is None:
        try:
            Signer.create(path)
        except AlreadyExists:  # another process created it a moment ago
            pass
        except OSError as exc:
            return KeylessAuditLog(
                backend, f"cannot create the audit signing key {path}: {exc}", **options
            )
    if not path.exists():
        return KeylessAuditLog(
            backend,
            f"no audit signing key at {path}: this store's log is already signed, so set "
            "MLWARDEN_KEY_FILE to its key (the one `mlwarden init` created)",
            **options,
        )
    signer = _load_signer(path)
    pub = public_key_path(path)
    if not pub.exists():
        # Only a convenience copy; `mlwarden audit pubkey` prints it too.
        with contextlib.suppress(OSError):
            pub.write_text(signer.public_key_pem())
    return SqlAuditLog(backend, signer, **options)


def _load_signer(path: Path) -> Signer:
    # A key created by a concurrent process may be half-written for an instant.
    for attempt in range(20):
        try:
            return Signer.from_file(path)
        except ValueError:
            if attempt == 19:
                raise
            time.sleep(0.05)
    raise AssertionError("unreachable")


def preflight(settings: Settings) -> None:
    """What ``mlwarden serve`` checks before it listens: the master key matches the store's
    check value, and the audit signing key is the one that signed the log (and the pinned
    one, when ``MLWARDEN_AUDIT_PUBKEY`` is set). Raises :class:`KeyMismatch`."""
    db = Database(settings.resolved_uri())
    try:
        open_master_key(db, settings)
        log = open_audit_log(db, settings)
        signer = log.signer
        if signer is None:
            return  # a keyless log says why at its first write; reads still work
        latest = log.backend.latest_checkpoint()
        if latest is not None and latest.key_id and latest.key_id != signer.key_id:
            raise KeyMismatch(
                f"refusing to start: the audit log is signed with key {latest.key_id} but the "
                f"key at {key_path(settings)} is {signer.key_id}; set MLWARDEN_KEY_FILE to "
                "the store's signing key"
            )
        if settings.audit_pubkey:
            pinned = key_id(load_public_key(settings.audit_pubkey))
            if pinned != signer.key_id:
                raise KeyMismatch(
                    f"refusing to start: the audit signing key {signer.key_id} is not the "
                    f"pinned MLWARDEN_AUDIT_PUBKEY ({pinned})"
                )
    finally:
        db.dispose()
