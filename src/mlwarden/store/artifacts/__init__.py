"""Content-addressed artifact storage on a local folder or any fsspec URL."""

from __future__ import annotations

import os
import shutil
import uuid

import fsspec

from mlwarden._hash import sha256_bytes
from mlwarden.errors import IntegrityError, MissingDependency, NotFound
from mlwarden.store.files import open_private, private_dir


class ArtifactStore:
    """Blobs addressed by their sha256: stored once, verified on every read.

    ``root`` is a folder path or an fsspec URL (``s3://bucket/prefix``, ``gs://…``,
    ``memory://…``). Layout: ``<root>/sha256/ab/cdef…``. Object stores take their
    credentials and endpoint from their own environment (``AWS_ACCESS_KEY_ID``,
    ``AWS_SECRET_ACCESS_KEY``, ``AWS_ENDPOINT_URL``, ``AWS_PROFILE`` … for ``s3://``).
    """

    def __init__(self, root: str) -> None:
        self.root = root.rstrip("/")
        try:
            # a fresh filesystem per store: fsspec's shared instances would keep the
            # credentials and listings of the first store opened in this process
            self.fs, self._base = fsspec.core.url_to_fs(self.root, skip_instance_cache=True)
        except ImportError as exc:
            scheme = self.root.split("://", 1)[0]
            hint = "pip install 'mlwarden[s3]'" if scheme in ("s3", "s3a") else str(exc)
            raise MissingDependency(
                f"artifacts at {scheme}:// need an fsspec driver: {hint}", scheme=scheme
            ) from exc
        self._local = self.fs.protocol in ("file", ("file", "local"), "local") or (
            isinstance(self.fs.protocol, tuple) and "file" in self.fs.protocol
        )

    def _path(self, digest: str) -> str:
        return f"{self._base}/sha256/{digest[:2]}/{digest[2:]}"

    def put(self, data: bytes) -> str:
        """Store ``data`` (idempotent) and return its sha256."""
        digest = sha256_bytes(data)
        path = self._path(digest)
        if self.fs.exists(path):
            return digest
        if self._local:
            # folders 0700 and blobs 0600: artifacts are the store's, not other local users'
            private_dir(path.rsplit("/", 1)[0])
            # write-then-rename so a crash never leaves a truncated blob under its final name
            tmp = f"{path}.{uuid.uuid4().hex}.tmp"
            with os.fdopen(open_private(tmp), "wb") as fh:
                fh.write(data)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, path)
        else:
            self.fs.makedirs(path.rsplit("/", 1)[0], exist_ok=True)
            with self.fs.open(path, "wb") as fh:
                fh.write(data)
        return digest

    def put_file(self, source: str | os.PathLike[str], digest: str) -> str:
        """Store the file at ``source`` under ``digest`` (idempotent), without reading it
        into memory; the caller has hashed it while receiving it (an upload)."""
        path = self._path(digest)
        if self.fs.exists(path):
            return digest
        self.fs.makedirs(path.rsplit("/", 1)[0], exist_ok=True)
        if self._local:
            tmp = f"{path}.{uuid.uuid4().hex}.tmp"
            shutil.copyfile(source, tmp)
            with open(tmp, "rb+") as fh:
                os.fsync(fh.fileno())
            os.replace(tmp, path)
        else:
            self.fs.put_file(os.fspath(source), path)
        return digest

    def get(self, digest: str, *, what: str = "artifact") -> bytes:
        """Read and verify a blob; ``what`` names it in errors (e.g. ``credit-risk@3``)."""
        path = self._path(digest)
        try:
            with self.fs.open(path, "rb") as fh:
                data = fh.read()
        except FileNotFoundError as exc:
            raise IntegrityError(
                f"the artifact of {what} is missing from the store (sha256 {digest[:12]}…)",
                sha256=digest,
            ) from exc
        actual = sha256_bytes(data)
        if actual != digest:
            raise IntegrityError(
                f"the artifact of {what} is corrupted: expected sha256 {digest[:12]}…, "
                f"found {actual[:12]}…",
                sha256=digest,
                actual=actual,
            )
        return data

    def exists(self, digest: str) -> bool:
        return bool(self.fs.exists(self._path(digest)))

    def delete(self, digest: str) -> None:
        try:
            self.fs.rm(self._path(digest))
        except FileNotFoundError as exc:
            raise NotFound(f"no artifact with sha256 {digest}") from exc
