"""Entities to and from their JSON form: one encoder and one decoder, driven by each
dataclass's fields and type hints.

The entity dataclasses are the one definition of every shape the HTTP API carries. They
encode with :func:`encode` (``to_dict`` is the same function, through :class:`Wire`), the
server derives its response schemas from them (``mlwarden.server.wire_schema``) and the
remote client decodes answers with :func:`decode`, so adding a field to an entity adds it to
the SDK, the OpenAPI document and the client at once. Keys that are not fields are the
properties an entity names in ``wire_derived`` (``ref``, ``approved``, …: written for readers
of the JSON); :func:`decode` ignores them, the entity computes them again. Plain Python only:
importing this module stays cheap.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from collections.abc import Mapping
from datetime import datetime
from enum import Enum
from functools import cache
from typing import Any, ClassVar, TypeVar

from mlwarden._json import jsonable

T = TypeVar("T")


class Wire:
    """Base of the entities: ``to_dict`` is :func:`encode`, the one writing of the shape.

    ``wire_derived`` names read-only properties that travel beside the fields (set it as a
    plain class attribute, not annotated, so the dataclass does not take it for a field);
    ``wire_exclude`` names fields that do not travel (the server derives its schema from
    both, ``mlwarden.server.wire_schema``)."""

    __slots__ = ()
    wire_derived: ClassVar[tuple[str, ...]] = ()
    wire_exclude: ClassVar[tuple[str, ...]] = ()

    def to_dict(self) -> dict[str, Any]:
        return typing.cast(dict[str, Any], encode(self))


def encode(obj: Any) -> Any:
    """``obj`` as plain JSON: an entity (or any dataclass without a ``to_dict`` of its own) as
    ``{field: value}`` plus its ``wire_derived`` properties, less its ``wire_exclude``
    fields; mappings, sequences, enums (their value), and leaves as ``jsonable`` writes them
    (datetimes in ISO 8601, numpy scalars as Python ones, NaN as ``None``). The inverse of
    :func:`decode`."""
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        if isinstance(obj, Wire) or not hasattr(obj, "to_dict"):
            cls = type(obj)
            skip = getattr(cls, "wire_exclude", ())
            out = {
                f.name: encode(getattr(obj, f.name))
                for f in dataclasses.fields(obj)
                if f.name not in skip
            }
            for name in getattr(cls, "wire_derived", ()):
                out[name] = encode(getattr(obj, name))
            return out
    elif isinstance(obj, Mapping):
        return {str(k): encode(v) for k, v in obj.items()}
    elif isinstance(obj, list | tuple):
        return [encode(v) for v in obj]
    elif isinstance(obj, Enum):
        return obj.value
    return jsonable(obj)


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
