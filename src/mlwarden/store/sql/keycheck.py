"""Key-check values: every server of a store must hold the same master key.

The master key wraps the data subjects' keys and derives their pseudonyms. A server that
silently made a key of its own would write pseudonyms and wrapped keys no other server can
match, so an erasure through one host would leave the other host's rows readable. The
database therefore keeps a check value (HMAC-SHA256 of a fixed label under the key, which
reveals nothing about it) in ``store_keys``; a server whose key is missing or gives another
value refuses to start with one line saying what to set.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from pathlib import Path

from cryptography.exceptions import InvalidTag
from sqlalchemy import exc as sa_exc
from sqlalchemy import select

from mlwarden._time import utcnow
from mlwarden.errors import KeyMismatch, ValidationError
from mlwarden.settings import Settings
from mlwarden.store.sql.audit import key_path
from mlwarden.store.sql.database import Database
from mlwarden.store.sql.schema import store_keys
from mlwarden.store.sql.vault import (
    MASTER_KEY_NAME,
    SubjectVault,
    load_or_create_master_key,
    subject_keys,
)

MASTER = "master"
_LABEL = b"mlwarden key check v1\0"
_HOW = (
    "give every server of this store the same key: MLWARDEN_MASTER_KEY_FILE=PATH or "
    "MLWARDEN_MASTER_KEY=<base64> (from a secret manager)"
)


def check_value(key: bytes, purpose: str = MASTER) -> str:
    return hmac.new(key, _LABEL + purpose.encode(), hashlib.sha256).hexdigest()


def master_key_path(settings: Settings) -> Path:
    """``MLWARDEN_MASTER_KEY_FILE``, else ``master.key`` beside the audit signing key."""
    if settings.master_key_file is not None:
        return Path(settings.master_key_file).expanduser()
    return key_path(settings).with_name(MASTER_KEY_NAME)


def _from_env(settings: Settings) -> bytes | None:
    if settings.master_key is None:
        return None
    try:
        key = base64.b64decode(settings.master_key.get_secret_value(), validate=True)
    except (binascii.Error, ValueError):
        key = b""
    if len(key) != 32:
        raise ValidationError(
            "MLWARDEN_MASTER_KEY must be 32 bytes in base64 (`openssl rand -base64 32`)",
            field="master_key",
        )
    return key


def _stored(db: Database) -> tuple[str | None, bytes | None]:
    """The master check value and one wrapped subject key (to test a key on stores keyed
    before check values existed)."""
    with db.reading() as conn:
        value = conn.execute(
            select(store_keys.c.check_value).where(store_keys.c.purpose == MASTER)
        ).scalar()
        row = conn.execute(select(subject_keys.c.subject, subject_keys.c.wrapped).limit(1)).first()
    return value, None if row is None else row.subject.encode() + b"\0" + bytes(row.wrapped)


def open_master_key(db: Database, settings: Settings) -> bytes:
    """The store's master key, checked against the database; created (and its check value
    written) only for a store that has never been keyed."""
    # The database first, then the file: a process that keys the store writes its key file
    # before the check value, so a store seen keyed has its file in place (processes opening
    # a new store at once would otherwise miss a file made a moment later).
    value, sample = _stored(db)
    key = _from_env(settings)
    where = "MLWARDEN_MASTER_KEY"
    if key is None:
        path = master_key_path(settings)
        where = str(path)
        key = path.read_bytes() if path.exists() else None
        if key is not None and len(key) != 32:
            raise KeyMismatch(f"the master key file {path} is not a 32-byte key")
    if key is None:
        if value is not None or sample is not None:
            raise KeyMismatch(
                f"refusing to start: this store is keyed by a master key that is not here "
                f"(no {where}); {_HOW}"
            )
        key = load_or_create_master_key(master_key_path(settings))
    differs = KeyMismatch(
        f"refusing to start: the master key from {where} is not this store's "
        f"(key-check value differs); {_HOW}"
    )
    if value is not None:
        if not hmac.compare_digest(value, check_value(key)):
            raise differs
        return key
    if sample is not None and not _unwraps(db, key, sample):  # keyed before check values
        raise differs
    try:
        with db.transaction() as conn:
            conn.execute(
                store_keys.insert().values(
                    purpose=MASTER, check_value=check_value(key), created_at=utcnow()
                )
            )
    except sa_exc.IntegrityError:  # another server keyed the store a moment ago
        return open_master_key(db, settings)
    return key


def _unwraps(db: Database, key: bytes, sample: bytes) -> bool:
    subject, wrapped = sample.split(b"\0", 1)
    vault = SubjectVault(db, key)
    try:
        vault._wrap.decrypt(wrapped[:12], wrapped[12:], subject)
    except InvalidTag:
        return False
    return True
