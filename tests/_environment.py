"""The environment of the test that makes a process pool, adopted by each of its processes: a
helper module with a unique name, which the pool's processes import by that name."""

from __future__ import annotations

import os


def adopt(environ: dict[str, str]) -> None:
    """Make ``environ`` this process's whole environment."""
    os.environ.clear()
    os.environ.update(environ)
