"""Crypto-shredding: prediction payloads of a data subject are sealed with that subject's key.

Each subject gets a random AES-256 data key, stored wrapped (AES-GCM) by a master key that
lives in a file outside the database. A payload is sealed with AES-GCM under the subject's
key, bound to the subject by the associated data. Erasing a subject deletes its wrapped key:
every payload sealed for it becomes noise, while rows, ids and the audit log (which commits
to ids, never payloads) stay intact and verifiable. Subject identifiers are never stored raw:
the subject column holds a keyed HMAC of the identifier (a pseudonym, joinable, not
reversible without the master key).
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import hmac
import os
from collections.abc import Sequence
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from sqlalchemy import delete, select

from mlwarden._time import utcnow
from mlwarden.errors import IntegrityError
from mlwarden.store.files import open_private
from mlwarden.store.sql.database import Database
from mlwarden.store.sql.schema import subject_keys

PREFIX = "enc1:"
MASTER_KEY_NAME = "master.key"


def load_or_create_master_key(path: Path) -> bytes:
    """32 random bytes in a 0600 file, created once. Concurrent first uses agree, and none
    reads a file another is still writing: the key is written to a file of its own, then
    linked into place (which fails if another process linked its key first)."""
    path = path.expanduser()
    if not path.exists():
        draft = path.with_name(f".{path.name}.{os.urandom(6).hex()}.tmp")
        fd = open_private(draft, exclusive=False)  # 0600 in a 0700 folder
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(os.urandom(32))
                fh.flush()
                os.fsync(fh.fileno())
            with contextlib.suppress(FileExistsError):
                os.link(draft, path)
        finally:
            draft.unlink()
    key = path.read_bytes()
    if len(key) != 32:
        raise IntegrityError(f"the master key file {path} is not a 32-byte key")
    return key


class SubjectVault:
    def __init__(self, db: Database, master_key: bytes) -> None:
        self.db = db
        self._wrap = AESGCM(hashlib.sha256(b"mlwarden-wrap\0" + master_key).digest())
        self._pseudonym_key = hashlib.sha256(b"mlwarden-subject\0" + master_key).digest()

    def pseudonym(self, subject: str) -> str:
        """Keyed, deterministic pseudonym of a raw subject identifier (64 hex chars)."""
        return hmac.new(self._pseudonym_key, str(subject).encode(), hashlib.sha256).hexdigest()

    def _keys(self, subjects: set[str], *, create: bool) -> dict[str, AESGCM]:
        if not subjects:
            return {}
        out: dict[str, AESGCM] = {}
        with self.db.transaction() if create else self.db.reading() as conn:
            rows = conn.execute(
                select(subject_keys.c.subject, subject_keys.c.wrapped).where(
                    subject_keys.c.subject.in_(sorted(subjects))
                )
            ).all()
            for subject, wrapped in rows:
                out[subject] = AESGCM(
                    self._wrap.decrypt(wrapped[:12], wrapped[12:], subject.encode())
                )
            missing = sorted(subjects - set(out))
            if create and missing:
                fresh = []
                for subject in missing:
                    key, nonce = AESGCM.generate_key(256), os.urandom(12)
                    fresh.append(
                        {
                            "subject": subject,
                            "created_at": utcnow(),
                            "wrapped": nonce + self._wrap.encrypt(nonce, key, subject.encode()),
                        }
                    )
                    out[subject] = AESGCM(key)
                conn.execute(subject_keys.insert(), fresh)
        return out

    def seal(self, subjects: Sequence[str | None], payloads: Sequence[str | None]) -> list:
        """Encrypt each payload whose row has a subject (pseudonym); others pass through."""
        keys = self._keys({s for s in subjects if s}, create=True)
        out: list[str | None] = []
        for subject, payload in zip(subjects, payloads, strict=True):
            if not subject or payload is None:
                out.append(payload)
                continue
            nonce = os.urandom(12)
            sealed = keys[subject].encrypt(nonce, payload.encode(), subject.encode())
            out.append(PREFIX + base64.b64encode(nonce + sealed).decode())
        return out

    def open(self, subjects: Sequence[str | None], payloads: Sequence[str | None]) -> list:
        """Decrypt sealed payloads; those of erased subjects come back as ``None``."""
        keys = self._keys(
            {
                s
                for s, p in zip(subjects, payloads, strict=True)
                if s and p and p.startswith(PREFIX)
            },
            create=False,
        )
        out: list[str | None] = []
        for subject, payload in zip(subjects, payloads, strict=True):
            if not payload or not payload.startswith(PREFIX):
                out.append(payload)
                continue
            key = keys.get(subject or "")
            raw = base64.b64decode(payload[len(PREFIX) :])
            try:
                out.append(
                    None
                    if key is None
                    else key.decrypt(raw[:12], raw[12:], (subject or "").encode()).decode()
                )
            except InvalidTag:  # sealed under a key erased since (a later key is not it)
                out.append(None)
        return out

    def erase(self, subject_pseudonym: str) -> bool:
        """Destroy the subject's key; returns whether there was one."""
        with self.db.transaction() as conn:
            return bool(
                conn.execute(
                    delete(subject_keys).where(subject_keys.c.subject == subject_pseudonym)
                ).rowcount
            )
