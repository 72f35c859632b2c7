"""``KeyRing``: versioned HMAC keys for pseudonymization.

Pseudonyms are ``pz<version>:<hex>`` so a reader can tell which key made them; rotating adds a
version and never deletes one, because old pseudonyms must stay joinable until the data made
with them is gone. Destroying a version is crypto-shredding: the pseudonyms become unlinkable.

The key file is JSON, created with mode 0600 and refused when group or others can read it (as
ssh does with private keys). Keys never appear in ``repr``, logs or errors.
"""

from __future__ import annotations

import base64
import hmac
import json
import os
import secrets
from pathlib import Path

from mlwarden.errors import NotFound, ValidationError
from mlwarden.store.files import private_dir

KEY_BYTES = 32


class KeyRing:
    """Versioned HMAC-SHA256 keys; ``current`` is the version new pseudonyms use."""

    def __init__(self, keys: dict[int, bytes], current: int | None = None) -> None:
        if not keys:
            raise ValidationError("a key ring needs at least one key", field="keys")
        for version, key in keys.items():
            if not isinstance(version, int) or version < 1:
                raise ValidationError(f"key version {version!r} must be an int >= 1", field="keys")
            if len(key) < 16:
                raise ValidationError(
                    f"key version {version} is shorter than 16 bytes", field="keys"
                )
        self._keys = dict(keys)
        self.current = current if current is not None else max(keys)
        if self.current not in self._keys:
            raise ValidationError(
                f"current key version {self.current} is not in the ring", field="current"
            )
        self.path: Path | None = None

    @classmethod
    def generate(cls) -> KeyRing:
        """A fresh in-memory ring with one random key (version 1)."""
        return cls({1: secrets.token_bytes(KEY_BYTES)})

    @classmethod
    def create(cls, path: str | os.PathLike[str]) -> KeyRing:
        """Generate a ring and write it to a new file with mode 0600 (never overwrites)."""
        ring = cls.generate()
        ring.path = Path(path)
        ring._write(exclusive=True)
        return ring

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> KeyRing:
        p = Path(path)
        if not p.exists():
            raise NotFound(f"key file {p} does not exist", path=str(p))
        if os.name == "posix" and p.stat().st_mode & 0o077:
            raise ValidationError(
                f"key file {p} is readable by group or others; chmod 600 it", path=str(p)
            )
        try:
            data = json.loads(p.read_text())
            keys = {int(v): base64.b64decode(k) for v, k in data["keys"].items()}
            ring = cls(keys, int(data["current"]))
        except (ValueError, KeyError, TypeError) as exc:
            # Say what is wrong without echoing the file (it holds the keys).
            raise ValidationError(
                f"key file {p} is malformed: {type(exc).__name__}", path=str(p)
            ) from None
        ring.path = p
        return ring

    @classmethod
    def load_or_create(cls, path: str | os.PathLike[str]) -> KeyRing:
        return cls.load(path) if Path(path).exists() else cls.create(path)

    def rotate(self) -> int:
        """Add a new key version, make it current, save if file-backed; returns the version."""
        version = max(self._keys) + 1
        self._keys[version] = secrets.token_bytes(KEY_BYTES)
        self.current = version
        if self.path is not None:
            self._write(exclusive=False)
        return version

    @property
    def versions(self) -> list[int]:
        return sorted(self._keys)

    def key(self, version: int | None = None) -> bytes:
        version = self.current if version is None else version
        try:
            return self._keys[version]
        except KeyError:
            raise NotFound(
                f"key version {version} is not in the key ring", version=version
            ) from None

    def pseudonymize(self, values: list[str], version: int | None = None) -> list[str]:
        """``pz<v>:<16 hex>`` = first 64 bits of HMAC-SHA256(key_v, value), for each value."""
        version = self.current if version is None else version
        key = self.key(version)
        prefix = f"pz{version}:"
        # hmac.digest is the one-shot C path of hmac.new(key, msg, sha256).digest().
        return [prefix + hmac.digest(key, v.encode(), "sha256")[:8].hex() for v in values]

    def _write(self, exclusive: bool) -> None:
        assert self.path is not None
        payload = json.dumps(
            {
                "current": self.current,
                "keys": {str(v): base64.b64encode(k).decode() for v, k in self._keys.items()},
            }
        )
        private_dir(self.path.parent)
        # Create: O_EXCL on the final path, so an existing ring is never replaced by accident.
        # Rotate: write a sibling 0600 file and rename it over, so a crash leaves a whole file.
        target = self.path if exclusive else self.path.with_name(self.path.name + ".tmp")
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL
        if not exclusive and target.exists():
            target.unlink()
        fd = os.open(target, flags, 0o600)
        try:
            os.fchmod(fd, 0o600)
            os.write(fd, payload.encode())
            os.fsync(fd)
        finally:
            os.close(fd)
        if not exclusive:
            os.replace(target, self.path)

    def __repr__(self) -> str:
        return f"KeyRing(versions={self.versions}, current={self.current})"
