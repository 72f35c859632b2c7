"""Ed25519 keys and signed checkpoints (tree size, root hash, time).

The signed text follows the body of a C2SP signed note / transparency-log checkpoint::

    mlwarden-audit
    <tree size>
    <root hash, standard base64>
    <time>

each line ending in ``\\n``. The private key is a PEM (PKCS#8) file created by ``mlwarden init``
with mode 0600, kept outside the database: whoever can write the database cannot sign.
"""

from __future__ import annotations

import base64
import hashlib
import os
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from mlwarden.entities.audit import CHECKPOINT_ORIGIN, Checkpoint, signed_text, utc_now
from mlwarden.errors import AlreadyExists, ValidationError
from mlwarden.store.files import private_dir

__all__ = [
    "CHECKPOINT_ORIGIN",
    "Checkpoint",
    "Signer",
    "generate_key",
    "key_id",
    "load_private_key",
    "load_public_key",
    "public_key_b64",
    "public_key_pem",
    "save_private_key",
]


def generate_key() -> Ed25519PrivateKey:
    return Ed25519PrivateKey.generate()


def save_private_key(key: Ed25519PrivateKey, path: str | Path, *, overwrite: bool = False) -> Path:
    """Write ``key`` as an unencrypted PKCS#8 PEM readable by its owner only (0600).

    The file is created with its final permissions (never briefly world-readable) and an
    existing key is never replaced unless ``overwrite``: losing it orphans every checkpoint.
    """
    path = Path(path).expanduser()
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    private_dir(path.parent)  # the key folder is its owner's only (0700)
    flags = os.O_WRONLY | os.O_CREAT | (os.O_TRUNC if overwrite else os.O_EXCL)
    try:
        fd = os.open(path, flags, 0o600)
    except FileExistsError as exc:
        raise AlreadyExists(f"audit signing key {path} already exists", path=str(path)) from exc
    with os.fdopen(fd, "wb") as f:
        f.write(pem)
    os.chmod(path, 0o600)
    return path


def load_private_key(path: str | Path) -> Ed25519PrivateKey:
    key = serialization.load_pem_private_key(Path(path).expanduser().read_bytes(), password=None)
    if not isinstance(key, Ed25519PrivateKey):
        raise ValidationError(f"{path} is not an Ed25519 private key", path=str(path))
    return key


def _raw(public_key: Ed25519PublicKey) -> bytes:
    return public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def public_key_pem(public_key: Ed25519PublicKey) -> str:
    return public_key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    ).decode()


def public_key_b64(public_key: Ed25519PublicKey) -> str:
    """The raw 32-byte public key in standard base64 (what export headers carry)."""
    return base64.b64encode(_raw(public_key)).decode()


def key_id(public_key: Ed25519PublicKey) -> str:
    """First 16 hex digits of SHA-256 of the raw public key."""
    return hashlib.sha256(_raw(public_key)).hexdigest()[:16]


def load_public_key(source: str | bytes | Path | Ed25519PublicKey) -> Ed25519PublicKey:
    """A public key from PEM text, raw base64, a file holding either, or a key object."""
    if isinstance(source, Ed25519PublicKey):
        return source
    if isinstance(source, Path) or (
        isinstance(source, str) and "\n" not in source and len(source) < 4096 and _is_file(source)
    ):
        source = Path(source).read_bytes()
    data = source.encode() if isinstance(source, str) else source
    data = data.strip()
    try:
        if data.startswith(b"-----BEGIN"):
            key = serialization.load_pem_public_key(data)
            if not isinstance(key, Ed25519PublicKey):
                raise ValidationError("not an Ed25519 public key")
            return key
        raw = base64.b64decode(data, validate=True)
        return Ed25519PublicKey.from_public_bytes(raw)
    except ValidationError:
        raise
    except ValueError as exc:
        raise ValidationError(f"cannot read an Ed25519 public key: {exc}") from exc


def _is_file(text: str) -> bool:
    try:
        return Path(text).is_file()
    except OSError:
        return False


class Signer:
    """Signs checkpoints with one Ed25519 private key."""

    def __init__(self, private_key: Ed25519PrivateKey) -> None:
        self._key = private_key
        self.public_key = private_key.public_key()
        self.key_id = key_id(self.public_key)

    @classmethod
    def generate(cls) -> Signer:
        return cls(generate_key())

    @classmethod
    def create(cls, path: str | Path, *, overwrite: bool = False) -> Signer:
        """Make a new key and save it at ``path`` (what ``mlwarden init`` calls)."""
        key = generate_key()
        save_private_key(key, path, overwrite=overwrite)
        return cls(key)

    @classmethod
    def from_file(cls, path: str | Path) -> Signer:
        return cls(load_private_key(path))

    def public_key_pem(self) -> str:
        return public_key_pem(self.public_key)

    def public_key_b64(self) -> str:
        return public_key_b64(self.public_key)

    def sign(self, tree_size: int, root_hash: bytes | str, time: str | None = None) -> Checkpoint:
        root_hex = root_hash.hex() if isinstance(root_hash, bytes) else root_hash
        time = time or utc_now()
        sig = self._key.sign(signed_text(tree_size, root_hex, time).encode())
        return Checkpoint(
            tree_size=tree_size,
            root_hash=root_hex,
            time=time,
            key_id=self.key_id,
            signature=base64.b64encode(sig).decode(),
        )
