"""Entities from their JSON form: one decoder, driven by each dataclass's type hints.

The entity dataclasses are the one definition of every shape the HTTP API carries. The server
derives its response schemas from them (``mlwarden.server.schemas.wire_schema``) and the
remote client decodes answers with :func:`decode`, so adding a field to an entity adds it to
the SDK, the OpenAPI document and the client at once. Keys that are not fields (properties
the server adds for readers, such as ``ref`` or ``approved``) are ignored: the entity
computes them again. Plain Python only: importing this module stays cheap.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from datetime import datetime
from enum import Enum
from functools import cache
from typing import Any, TypeVar

T = TypeVar("T")


@cache
def field_types(cls: type) -> dict[str, Any]:
    """``{field name: resolved type hint}`` of a dataclass, in declaration order."""
    hints = typing.get_type_hints(cls)
    return {f.name: hints[f.name] for f in dataclasses.fields(cls) if f.init}


def decode(cls: type[T], data: Any) -> T:
    """``data`` (parsed JSON) as an instance of ``cls``, field by field (see the module
    docstring). A missing field takes its default; a required one missing raises
    ``TypeError``, as the constructor would."""
    return typing.cast(T, _value(cls, data))


def _value(hint: Any, data: Any) -> Any:
    if data is None or hint is Any:
        return data
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        # X | None: the first member the value decodes as (entities use one non-None member)
        members = [a for a in typing.get_args(hint) if a is not type(None)]
        return _value(members[0], data) if len(members) == 1 else data
    if origin is tuple:
        args = typing.get_args(hint)
        item = args[0] if len(args) == 2 and args[1] is Ellipsis else Any
        return tuple(_value(item, v) for v in data)
    if origin is list:
        (item,) = typing.get_args(hint) or (Any,)
        return [_value(item, v) for v in data]
    if origin is dict:
        args = typing.get_args(hint)
        return {k: _value(args[1], v) for k, v in data.items()} if args else data
    if origin is not None:  # Literal and other generics: JSON already has their shape
        return data
    if dataclasses.is_dataclass(hint) and isinstance(hint, type):
        fields = field_types(hint)
        return hint(**{k: _value(t, data[k]) for k, t in fields.items() if k in data})
    if hint is datetime:
        return datetime.fromisoformat(data)
    if isinstance(hint, type) and issubclass(hint, Enum | datetime):  # enums, pd.Timestamp
        make: Any = hint  # pd.Timestamp parses ISO text; datetime itself is handled above
        return make(data)
    return data
