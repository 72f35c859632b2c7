"""What a model flavor does: turn a fitted model into bytes and back, safely."""

from __future__ import annotations

from abc import ABC, abstractmethod
from functools import lru_cache
from importlib import metadata
from typing import Any


@lru_cache(maxsize=256)
def package_version(name: str) -> str | None:
    """Installed version of a distribution. Cached: reading package metadata costs about a
    millisecond each time, and installed versions do not change under a running process."""
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


def library_versions(*names: str) -> dict[str, str]:
    return {name: v for name in names if (v := package_version(name)) is not None}


class Flavor(ABC):
    """One way of persisting models. ``save`` returns the bytes and what ``load`` needs."""

    name: str

    @abstractmethod
    def matches(self, model: Any) -> bool: ...

    @abstractmethod
    def save(self, model: Any) -> tuple[bytes, dict[str, Any]]: ...

    @abstractmethod
    def load(self, data: bytes, info: dict[str, Any]) -> Any: ...
