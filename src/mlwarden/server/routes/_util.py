"""Helpers the routers share."""

from __future__ import annotations

import json
from collections.abc import Callable, Coroutine, Sequence
from dataclasses import dataclass
from typing import Any

from fastapi import Query, Request, Response
from fastapi.routing import APIRoute
from pydantic import BaseModel
from pydantic import ValidationError as PydanticValidationError

from mlwarden.entities.wire import encode
from mlwarden.errors import ValidationError
from mlwarden.registry.refs import MAX_ID, check_name, check_version


def version_ref(name: str, ref: str) -> str:
    """URL form to SDK form: ``3`` -> ``name@3``; ``production`` -> ``name@production``;
    ``latest`` -> ``name`` (the latest version)."""
    check_name(name)
    if ref == "latest":
        return name
    if ref.isdigit():
        if int(ref) < 1:
            raise ValidationError("versions start at 1", field="ref")
        return f"{name}@{check_version(int(ref), 'ref')}"
    return f"{name}@{ref}"


def out(value: Any) -> Any:
    """An SDK object (entity, dataclass, list of them) as plain JSON."""
    return encode(value)


#: every list route answers at most a page: ``limit`` rows (default ``DEFAULT_PAGE``) from
#: ``offset``; a client pages through with ``offset`` (``RemoteWarden`` does it for you)
DEFAULT_PAGE = 100
MAX_PAGE = 1000
#: the prediction log and the audit log are read in bulk (exports, monitoring jobs)
MAX_BULK_PAGE = 10_000


@dataclass(frozen=True)
class Page:
    limit: int
    offset: int

    @property
    def end(self) -> int:
        return self.offset + self.limit

    def of(self, items: Sequence[Any]) -> list[Any]:
        return list(items[self.offset : self.end])


def paging(maximum: int = MAX_PAGE) -> Callable[..., Page]:
    """A dependency giving the route's ``limit`` (1 to ``maximum``) and ``offset``."""

    def page(
        limit: int = Query(
            DEFAULT_PAGE, ge=1, le=maximum, description=f"page size (at most {maximum})"
        ),
        offset: int = Query(0, ge=0, le=MAX_ID, description="rows to skip"),
    ) -> Page:
        return Page(limit, offset)

    return page


class StrictJsonRequest(Request):
    """JSON as RFC 8259 has it: ``NaN``, ``Infinity`` and ``-Infinity`` are refused (Python's
    parser accepts them, and a NaN slips past every range check)."""

    async def json(self) -> Any:
        if not hasattr(self, "_json"):
            self._json = json.loads(await self.body(), parse_constant=_no_constant)
        return self._json


def _no_constant(name: str) -> Any:
    raise json.JSONDecodeError(f"{name} is not JSON", name, 0)


class StrictJsonRoute(APIRoute):
    """The routers' route class: bodies parsed by :class:`StrictJsonRequest`."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def strict(request: Request) -> Response:
            return await handler(StrictJsonRequest(request.scope, request.receive))

        return strict


def parse_body(model: type[BaseModel], raw: bytes) -> Any:
    """A JSON body, read only once the caller's role allows the action."""
    try:
        return model.model_validate_json(raw or b"{}")
    except PydanticValidationError as exc:
        errors = exc.errors(include_url=False, include_context=False, include_input=False)
        first = errors[0]
        raise ValidationError(
            f"invalid request body: {'.'.join(map(str, first['loc']))}: {first['msg']}",
            field=".".join(map(str, first["loc"])),
            errors=[{"loc": list(e["loc"]), "message": e["msg"]} for e in errors],
        ) from None


def body_schema(model: type[BaseModel]) -> dict[str, Any]:
    schema = model.model_json_schema()
    return {
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": schema}},
        }
    }
