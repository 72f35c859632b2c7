"""Helpers the routers share."""

from __future__ import annotations

from typing import Any

from mlwarden._json import jsonable
from mlwarden.errors import ValidationError
from mlwarden.registry.refs import check_name


def version_ref(name: str, ref: str) -> str:
    """URL form to SDK form: ``3`` -> ``name@3``; ``production`` -> ``name@production``;
    ``latest`` -> ``name`` (the latest version)."""
    check_name(name)
    if ref == "latest":
        return name
    if ref.isdigit():
        if int(ref) < 1:
            raise ValidationError("versions start at 1", field="ref")
        return f"{name}@{int(ref)}"
    return f"{name}@{ref}"


def out(value: Any) -> Any:
    """An SDK object (entity, dataclass, list of them) as plain JSON."""
    return jsonable(value)
