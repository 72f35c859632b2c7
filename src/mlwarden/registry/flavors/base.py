"""What a model flavor does: turn a fitted model into bytes and back, safely."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterable
from dataclasses import dataclass
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


@dataclass(frozen=True)
class Trust:
    """What code a flavor may run beyond its own: generic-flavor loaders (``module:callable``)
    and, for skops artifacts, type names or module prefixes (``mypkg`` or ``mypkg.Scaler``).

    Only the operator decides it (``MLWARDEN_TRUSTED_LOADERS``, ``MLWARDEN_TRUSTED_TYPES``),
    plus what the local process registered itself with its own functions; never a client.
    """

    loaders: frozenset[str] = frozenset()
    types: frozenset[str] = frozenset()

    @classmethod
    def of(cls, loaders: Iterable[str] = (), types: Iterable[str] = ()) -> Trust:
        return cls(frozenset(loaders), frozenset(types))

    def __or__(self, other: Trust) -> Trust:
        return Trust(self.loaders | other.loaders, self.types | other.types)


class Flavor(ABC):
    """One way of persisting models. ``save`` returns the bytes and what ``load`` needs."""

    name: str

    def trusting(self, trust: Trust) -> Flavor:
        """This flavor, allowed to run what ``trust`` names (most flavors run no outside
        code, so they ignore it)."""
        return self

    @abstractmethod
    def matches(self, model: Any) -> bool: ...

    @abstractmethod
    def save(self, model: Any) -> tuple[bytes, dict[str, Any]]: ...

    @abstractmethod
    def load(self, data: bytes, info: dict[str, Any]) -> Any: ...
