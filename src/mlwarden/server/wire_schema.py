"""Response schemas derived from the entity dataclasses, so no shape is written twice.

``wire_schema(Model)`` is a pydantic model with one field per dataclass field, typed from its
hint as JSON carries it: tuples are lists, nested entities their own derived schemas,
``pd.Timestamp`` a datetime, and floats may be null (``encode`` sends NaN as null), plus one
per property the entity names in ``wire_derived`` (typed from its return hint), less its
``wire_exclude`` fields. FastAPI validates each answer against it and documents it in OpenAPI.
"""

from __future__ import annotations

import dataclasses
import functools
import operator
import types
import typing
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, create_model

from mlwarden.entities.wire import field_types

#: the derived schema of each entity class, so nested entities reuse the one made for them
_SCHEMAS: dict[type, type[BaseModel]] = {}


class WireOut(BaseModel):
    """Base of the derived schemas; ``__entity__`` names the dataclass each one mirrors."""

    model_config = ConfigDict(extra="allow")
    __entity__: typing.ClassVar[type]


def wire_schema(cls: type, **extra: Any) -> type[WireOut]:
    """The JSON schema of entity ``cls`` (see the module docstring). ``extra`` narrows a
    field's type, as ``name=type`` or ``name=(type, default)`` (``ModelVersion.provenance``)."""
    fields: dict[str, Any] = {}
    skip = getattr(cls, "wire_exclude", ())
    for f in dataclasses.fields(cls):
        if f.name in skip or not f.init:
            continue
        fields[f.name] = (_json_type(field_types(cls)[f.name]), _default(f))
    for name in getattr(cls, "wire_derived", ()):
        hint = typing.get_type_hints(getattr(cls, name).fget)["return"]
        optional = type(None) in typing.get_args(hint)
        fields[name] = (_json_type(hint), None if optional else ...)
    for name, spec in extra.items():
        fields[name] = spec if isinstance(spec, tuple) else (spec, ...)
    schema = create_model(  # type: ignore[call-overload]  # field specs built at run time
        f"{cls.__name__}Out", __base__=WireOut, __doc__=cls.__doc__, **fields
    )
    schema.__entity__ = cls
    _SCHEMAS.setdefault(cls, schema)
    return typing.cast(type[WireOut], schema)


def _default(f: dataclasses.Field[Any]) -> Any:
    if f.default is not dataclasses.MISSING:
        return f.default
    if f.default_factory is not dataclasses.MISSING:
        return Field(default_factory=f.default_factory)
    return ...


def many(schema: type[BaseModel]) -> Any:
    """``list[schema]`` for a response model (mypy takes a schema made at run time for a
    variable, not a type, inside ``list[...]``)."""
    return types.GenericAlias(list, (schema,))


def _json_type(hint: Any) -> Any:
    origin = typing.get_origin(hint)
    args = typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        return functools.reduce(operator.or_, [_json_type(a) for a in args])
    if origin in (tuple, list):
        variadic = origin is list or (len(args) == 2 and args[1] is Ellipsis)
        item = args[0] if args and variadic else Any
        return types.GenericAlias(list, (_json_type(item),))
    if origin is dict and args:
        return types.GenericAlias(dict, (args[0], _json_type(args[1])))
    if dataclasses.is_dataclass(hint) and isinstance(hint, type):
        return _SCHEMAS.get(hint) or wire_schema(hint)
    if hint is float:
        return float | None
    if isinstance(hint, type) and issubclass(hint, datetime):  # pd.Timestamp
        return datetime
    return hint
