"""``POST /v1/models/{name}/predict`` as a raw ASGI route: the hot path.

FastAPI's layers (its router, dependency solving, Starlette's middleware, the Request object,
pydantic and ``json.dumps``) cost more than validating, predicting and logging one row. This
route reads the ASGI scope directly, decodes the body with ``orjson`` and answers with bytes
it encodes itself, but every governance step of the FastAPI route is kept, in the same order:
the failed-authentication limiter (``AuthGuard`` wraps it), the body's size and media type,
the bearer token (cached as before), the role, then the body, the signature's validation,
masking, the durable log and its audit event (``predict.serve``). The route stays registered
with FastAPI, which documents it in OpenAPI; ``WardenApp`` sends matching requests here.

Parsing is bounded like every other parser: ``max_body_bytes`` (counted while streaming),
orjson's nesting limit, and a body is only taken as is when it has exactly the shape
``PredictIn`` declares with scalar values (depth 3). Anything else — invalid JSON, ``NaN``,
integers over 64 bits, nested values, wrong types — is handed to pydantic, which accepts or
refuses it exactly as the FastAPI route always did: the same 4xx codes and messages.
"""

from __future__ import annotations

import re
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import orjson
from fastapi import FastAPI, Request
from pydantic import ValidationError as PydanticValidationError
from starlette.datastructures import QueryParams
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Receive, Scope, Send

from mlwarden.errors import MalformedJson, ValidationError
from mlwarden.server.auth import check, token_user
from mlwarden.server.schemas import PredictIn
from mlwarden.tracing import parse_traceparent

PREDICT_PATH = re.compile(r"/v1/models/([^/]+)/predict")

_SCALARS = frozenset({str, int, float, bool, type(None)})
_JSON_HEADERS = [(b"content-type", b"application/json")]


@dataclass(slots=True)
class PredictBody:
    """What ``PredictIn`` holds, as plain lists and dicts."""

    records: list[dict[str, Any]] | None
    columns: dict[str, list[Any]] | None
    subjects: list[str | None] | None
    sensitive: list[dict[str, Any] | None] | None


def parse_body(raw: bytes) -> PredictBody:
    """The request body, or the ``MalformedJson`` (400) / ``ValidationError`` (422) the
    FastAPI route answered for it."""
    try:
        data = orjson.loads(raw)
    except orjson.JSONDecodeError:
        data = None
    if type(data) is dict:
        body = _plain(data)
        if body is not None:
            return body
    return _parse_with_pydantic(raw)


def _plain(data: dict[str, Any]) -> PredictBody | None:
    """``data`` when each field has ``PredictIn``'s shape with scalar values; ``None`` sends
    it to pydantic, which names what is wrong (or accepts what orjson does not)."""
    records, columns = data.get("records"), data.get("columns")
    subjects, sensitive = data.get("subjects"), data.get("sensitive")
    scalars = _SCALARS
    if records is not None:
        if type(records) is not list:
            return None
        for rec in records:
            if type(rec) is not dict:
                return None
            for v in rec.values():
                if type(v) not in scalars:
                    return None
    if columns is not None:
        if type(columns) is not dict:
            return None
        for col in columns.values():
            if type(col) is not list:
                return None
            for v in col:
                if type(v) not in scalars:
                    return None
    if subjects is not None:
        if type(subjects) is not list:
            return None
        for s in subjects:
            if s is not None and type(s) is not str:
                return None
    if sensitive is not None:
        if type(sensitive) is not list:
            return None
        for row in sensitive:
            if row is None:
                continue
            if type(row) is not dict:
                return None
            for v in row.values():
                if type(v) not in scalars:
                    return None
    return PredictBody(records, columns, subjects, sensitive)


def _parse_with_pydantic(raw: bytes) -> PredictBody:
    try:
        body = PredictIn.model_validate_json(raw)
    except PydanticValidationError as exc:
        errors = exc.errors(include_url=False, include_context=False, include_input=False)
        if any(e["type"] == "json_invalid" for e in errors):
            raise MalformedJson("the body is not valid JSON", error=errors[0]["msg"]) from None
        raise ValidationError(
            f"invalid request body: {errors[0]['msg']}",
            errors=[{"loc": list(e["loc"]), "message": e["msg"]} for e in errors],
        ) from None
    return PredictBody(body.records, body.columns, body.subjects, body.sensitive)


async def read_body(receive: Receive, limit: int) -> bytes:
    """The whole body; 413 once more than ``limit`` bytes have arrived (``Content-Length`` was
    checked before, but a chunked body has none)."""
    message = await receive()
    body = message.get("body", b"")
    if not message.get("more_body", False) and len(body) <= limit:
        return body  # the usual case: one message
    chunks = [body]
    seen = len(body)
    while message.get("more_body", False):
        message = await receive()
        if message["type"] == "http.disconnect":
            break
        chunk = message.get("body", b"")
        seen += len(chunk)
        chunks.append(chunk)
        if seen > limit:
            break
    if seen > limit:
        raise StarletteHTTPException(413, f"request body over {limit} bytes")
    return b"".join(chunks)


async def send_json(send: Send, status: int, body: bytes, headers: list[Any] | None = None) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                *_JSON_HEADERS,
                (b"content-length", str(len(body)).encode()),
                *(headers or []),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


class PredictRoute:
    """The raw ASGI app behind ``POST /v1/models/{name}/predict`` (see the module's
    docstring). ``limits`` is the app's ``BodyLimit`` (one definition of the 413/415 rules);
    errors are answered by the app's exception handlers, down to the catch-all 500."""

    def __init__(self, ctx: Any, limits: Any, handlers: Mapping[Any, Any]) -> None:
        self.ctx = ctx
        self.limits = limits
        self.handlers = handlers

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        started = time.perf_counter()
        authorization = None
        headers: dict[bytes, bytes] = {}
        for key, value in scope["headers"]:
            if key == b"authorization":
                authorization = value
            headers[key] = value
        refused = self.limits.refusal(headers, upload=False)
        if refused is not None:
            await self.limits.reply(send, *refused)
            return
        raw_trace = headers.get(b"traceparent")
        traceparent = parse_traceparent(raw_trace.decode("latin-1")) if raw_trace else None
        try:
            body = await self._predict(scope, receive, authorization, started, traceparent)
        except Exception as exc:  # the handler FastAPI would pick: first match along the MRO
            request = Request(scope, receive)
            handler = next(self.handlers[t] for t in type(exc).__mro__ if t in self.handlers)
            response = await handler(request, exc)
            await response(scope, receive, send)
            return
        echo = [(b"traceparent", traceparent.encode())] if traceparent else None
        await send_json(send, 200, body, echo)

    async def _predict(
        self,
        scope: Scope,
        receive: Receive,
        authorization: bytes | None,
        started: float,
        traceparent: str | None,
    ) -> bytes:
        from mlwarden.server.routes.predict import serve_body

        ctx = self.ctx
        name = PREDICT_PATH.fullmatch(scope["path"])[1]  # type: ignore[index]  # matched before
        token = None
        if authorization is not None:
            scheme, _, value = authorization.decode("latin-1").partition(" ")
            token = value.strip() if scheme.lower() == "bearer" else None
        user = await token_user(scope, ctx.auth, token)
        check(ctx, user, "predict", f"model:{name}")
        body = parse_body(await read_body(receive, self.limits.max_bytes))
        query = _query(scope.get("query_string", b""))
        result = await serve_body(
            ctx, user, name, query, body, started=started, traceparent=traceparent
        )
        return orjson.dumps(result, option=orjson.OPT_SERIALIZE_NUMPY)


_QUERIES: dict[bytes, QueryParams] = {b"": QueryParams(b"")}


def _query(raw: bytes) -> QueryParams:
    """The parsed query string, kept: clients repeat theirs (``?alias=production``), and
    parsing one cost more than validating a row. Immutable, so shared; bounded."""
    query = _QUERIES.get(raw)
    if query is None:
        if len(_QUERIES) >= 256:
            _QUERIES.clear()
        query = _QUERIES[raw] = QueryParams(raw)
    return query


class WardenApp(FastAPI):
    """FastAPI, with the prediction route answered before any of its layers."""

    predict_route: ASGIApp | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        route = self.predict_route
        if (
            route is not None
            and scope["type"] == "http"
            and scope["method"] == "POST"
            and PREDICT_PATH.fullmatch(scope["path"]) is not None
        ):
            scope["app"] = self
            await route(scope, receive, send)
            return
        await super().__call__(scope, receive, send)
