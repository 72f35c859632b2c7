"""What a model flavor does: turn a fitted model into bytes and back, safely."""

from __future__ import annotations

from abc import ABC, abstractmethod
from importlib import metadata
from typing import Any


def library_versions(*names: str) -> dict[str, str]:
    out = {}
    for name in names:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return out


class Flavor(ABC):
    """One way of persisting models. ``save`` returns the bytes and what ``load`` needs."""

    name: str

    @abstractmethod
    def matches(self, model: Any) -> bool: ...

    @abstractmethod
    def save(self, model: Any) -> tuple[bytes, dict[str, Any]]: ...

    @abstractmethod
    def load(self, data: bytes, info: dict[str, Any]) -> Any: ...
