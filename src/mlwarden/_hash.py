"""Content addresses: the SHA-256 hex digest that names artifacts, blobs and evidence."""

from __future__ import annotations

import hashlib


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()
