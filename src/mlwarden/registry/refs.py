"""Parse model references: ``name``, ``name@3``, ``name@production``."""

from __future__ import annotations

import re
from dataclasses import dataclass

from mlwarden.errors import ValidationError

NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")
ALIAS_RE = re.compile(r"^[a-z][a-z0-9_-]{0,63}$")

#: the largest version number (a signed 32-bit integer): anything above is refused as bad
#: input instead of overflowing a database column
MAX_VERSION = 2**31 - 1
#: the largest row id (a signed 64-bit integer: audit sequence numbers, token ids)
MAX_ID = 2**63 - 1


@dataclass(frozen=True)
class ModelRef:
    name: str
    version: int | None = None
    alias: str | None = None

    def __str__(self) -> str:
        if self.version is not None:
            return f"{self.name}@{self.version}"
        return f"{self.name}@{self.alias}" if self.alias else self.name


def check_name(name: object, field: str = "name") -> str:
    if not isinstance(name, str) or not NAME_RE.fullmatch(name):
        raise ValidationError(
            f"invalid model name {name!r}: use 1-128 letters, digits, '.', '_' or '-', "
            "starting with a letter or digit",
            field=field,
        )
    return name


def check_alias(alias: object) -> str:
    if not isinstance(alias, str) or not ALIAS_RE.fullmatch(alias):
        raise ValidationError(
            f"invalid alias {alias!r}: use lowercase letters, digits, '_' or '-', "
            "starting with a letter (numbers are versions, not aliases)",
            field="alias",
        )
    return alias


def check_version(version: int, field: str = "version") -> int:
    if not 1 <= version <= MAX_VERSION:
        raise ValidationError(
            f"invalid version {version}: versions are 1 to {MAX_VERSION}", field=field
        )
    return version


def parse_ref(ref: object) -> ModelRef:
    """``"credit-risk@3"`` → version 3; ``"credit-risk@production"`` → alias; bare → latest."""
    if isinstance(ref, ModelRef):
        return ref
    if not isinstance(ref, str) or not ref:
        raise ValidationError(f"a model reference must be a string, got {ref!r}", field="ref")
    name, sep, target = ref.partition("@")
    check_name(name, "ref")
    if not sep:
        return ModelRef(name)
    if target.isascii() and target.isdigit():
        version = int(target)
        if version < 1:
            raise ValidationError(f"invalid reference {ref!r}: versions start at 1", field="ref")
        return ModelRef(name, version=check_version(version, "ref"))
    if not ALIAS_RE.fullmatch(target):
        raise ValidationError(
            f"invalid reference {ref!r}: expected NAME, NAME@VERSION (a positive integer) "
            "or NAME@ALIAS",
            field="ref",
        )
    return ModelRef(name, alias=target)
