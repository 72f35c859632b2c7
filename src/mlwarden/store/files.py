"""Private folders (0700) and files (0600), whatever the process umask.

The store folder holds the database, the artifacts and, on the embedded default, the key
files: none of it is for other local users. ``mkdir(mode=…)`` and ``open(…, mode)`` are
filtered by the umask, and an existing folder keeps its mode, so every helper sets the mode
explicitly after creating.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

DIR_MODE = 0o700
FILE_MODE = 0o600


def private_dir(path: str | os.PathLike[str]) -> Path:
    """Create ``path`` and any missing parents with mode 0700; folders that already existed
    keep their mode (they may be shared, such as a home directory)."""
    path = Path(path).expanduser()
    missing: list[Path] = []
    probe = path
    while not probe.exists() and probe != probe.parent:
        missing.append(probe)
        probe = probe.parent
    path.mkdir(mode=DIR_MODE, parents=True, exist_ok=True)
    for folder in missing:
        with contextlib.suppress(OSError):  # another process may own a parent it created
            os.chmod(folder, DIR_MODE)
    return path


def private_file(path: str | os.PathLike[str]) -> Path:
    """Create ``path`` empty with mode 0600 if absent (its folder 0700); an existing file is
    left as it is. SQLite gives its -wal and -shm files the database file's mode."""
    path = Path(path).expanduser()
    private_dir(path.parent)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, FILE_MODE)
    except FileExistsError:
        return path
    try:
        os.fchmod(fd, FILE_MODE)
    finally:
        os.close(fd)
    return path


def open_private(path: str | os.PathLike[str], *, exclusive: bool = True) -> int:
    """A write descriptor on a new 0600 file (``exclusive``: fail if it exists, else
    truncate); the caller closes it."""
    path = Path(path).expanduser()
    private_dir(path.parent)
    flags = os.O_WRONLY | os.O_CREAT | (os.O_EXCL if exclusive else os.O_TRUNC)
    fd = os.open(path, flags, FILE_MODE)
    os.fchmod(fd, FILE_MODE)
    return fd
