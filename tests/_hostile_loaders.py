"""Generic-flavor loaders that misbehave, for the sandbox tests (trusted on purpose there:
the sandbox must contain even code the operator allowed)."""

from __future__ import annotations

import ctypes
import json
import time
from pathlib import Path

import numpy as np


class Echo:
    """A model that predicts zeros: what a well-behaved loader returns."""

    def predict(self, X):  # type: ignore[no-untyped-def]
        return np.zeros(len(X))


def fine(path: Path) -> Echo:
    json.loads(Path(path).read_text())
    return Echo()


def sleep_forever(path: Path) -> Echo:
    time.sleep(3600)
    return Echo()


def allocate(path: Path) -> Echo:
    hog = []
    while True:  # 64 MB at a time until the limit stops it
        hog.append(bytearray(64 * 1024 * 1024))


def segfault(path: Path) -> Echo:
    ctypes.string_at(0)  # reads address 0: SIGSEGV
    return Echo()


def write_marker(path: Path) -> Echo:
    """Writes the file the artifact names: proof that it ran."""
    Path(Path(path).read_text().strip()).write_text("ran")
    return Echo()
