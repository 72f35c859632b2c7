"""``create_app(settings, warden)``: the HTTP API, which is the SDK over the wire.

Every SDK error is a ``WardenError`` with an ``http_status``; this module is the one place
that turns them (and the framework's own errors) into ``{"error", "message", "details"}``.
"""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from mlwarden._json import jsonable
from mlwarden.audit.reads import ReadAudit
from mlwarden.errors import WardenError
from mlwarden.server.abuse import AuthFailures, AuthGuard
from mlwarden.server.auth import Authenticator
from mlwarden.server.context import ServerContext
from mlwarden.server.jobs import JobRunner
from mlwarden.server.proxy import ProxyRuntime
from mlwarden.server.routes.predict_asgi import PredictRoute, WardenApp
from mlwarden.server.schemas import ErrorOut
from mlwarden.server.settings import ServerSettings
from mlwarden.server.writer import PredictionWriter
from mlwarden.serving.core import ModelCache, Resolver, settle_heap
from mlwarden.settings import Settings
from mlwarden.store.sql.jobs import SqlJobStore

if TYPE_CHECKING:
    from mlwarden.client import Warden

log = logging.getLogger("mlwarden.server")

_CODES = {
    400: "bad_request",
    401: "unauthenticated",
    403: "permission_denied",
    404: "not_found",
    405: "method_not_allowed",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "validation_error",
}

ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    status: {"model": ErrorOut, "description": code} for status, code in _CODES.items()
}


def error_response(status: int, code: str, message: str, details: Any = None) -> JSONResponse:
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
    body = {"error": code, "message": message, "details": jsonable(details or {})}
    return JSONResponse(body, status_code=status, headers=headers)


class BodyLimit:
    """413 above ``max_bytes`` (by Content-Length, or counted while streaming) and 415 for a
    body that is not JSON: every endpoint that takes a body takes JSON, except uploads
    (``PUT /v1/blobs/…``: raw bytes, up to ``max_upload_bytes``)."""

    def __init__(self, app: ASGIApp, max_bytes: int, max_upload_bytes: int | None = None) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.max_upload_bytes = max_upload_bytes or max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] not in ("POST", "PUT", "PATCH"):
            await self.app(scope, receive, send)
            return
        upload = scope["method"] == "PUT" and scope["path"].startswith(UPLOAD_PREFIX)
        limit = self.max_upload_bytes if upload else self.max_bytes
        refused = self.refusal(dict(scope["headers"]), upload=upload)
        if refused is not None:
            await self.reply(send, *refused)
            return
        seen = 0

        async def counted() -> Message:
            nonlocal seen
            message = await receive()
            seen += len(message.get("body", b""))
            if seen > limit:
                raise StarletteHTTPException(413, f"request body over {limit} bytes")
            return message

        await self.app(scope, counted, send)

    def refusal(
        self, headers: Mapping[bytes, bytes], *, upload: bool
    ) -> tuple[int, str, int | None, str, int | None] | None:
        """``reply``'s arguments for a body refused on its headers alone, or ``None``."""
        limit = self.max_upload_bytes if upload else self.max_bytes
        length = headers.get(b"content-length")
        if length is not None:
            try:
                too_big = int(length) > limit
            except ValueError:
                too_big = False
            if too_big:
                return 413, "payload_too_large", int(length), "", limit
        has_body = length not in (None, b"0") or b"transfer-encoding" in headers
        ctype = headers.get(b"content-type", b"").split(b";")[0].strip().lower()
        if (
            has_body
            and not upload
            and not (ctype == b"application/json" or ctype.endswith(b"+json"))
        ):
            return 415, "unsupported_media_type", None, ctype.decode("latin-1"), None
        return None

    async def reply(
        self,
        send: Send,
        status: int,
        code: str,
        size: int | None,
        ctype: str = "",
        limit: int | None = None,
    ) -> None:
        if status == 413:
            limit = limit or self.max_bytes
            message = f"request body of {size} bytes is over the limit of {limit}"
            details: dict[str, Any] = {"max_bytes": limit}
        else:
            message = f"send JSON (Content-Type: application/json), not {ctype or 'nothing'}"
            details = {"content_type": ctype}
        body = json.dumps({"error": code, "message": message, "details": details}).encode()
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(body)).encode()),
                    (b"connection", b"close"),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})


#: raw-byte uploads (``routes/uploads.py``), exempt from the JSON-only rule
UPLOAD_PREFIX = "/v1/blobs/"


def _install_errors(app: FastAPI) -> None:
    @app.exception_handler(WardenError)
    async def warden_error(request: Request, exc: WardenError) -> JSONResponse:
        return error_response(exc.http_status, exc.code, exc.message, exc.details)

    @app.exception_handler(RequestValidationError)
    async def invalid_request(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = [
            {"loc": list(e.get("loc", ())), "message": e.get("msg", ""), "type": e.get("type")}
            for e in exc.errors()
        ]
        if any(e["type"] == "json_invalid" for e in errors):
            return error_response(400, "malformed_json", "the body is not valid JSON", errors[0])
        first = errors[0] if errors else {"loc": [], "message": "invalid"}
        where = ".".join(str(p) for p in first["loc"])
        return error_response(
            422,
            "validation_error",
            f"invalid request: {where}: {first['message']}",
            {"errors": errors},
        )

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = _CODES.get(exc.status_code, "http_error")
        return error_response(exc.status_code, code, str(exc.detail))

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        return error_response(500, "internal_error", f"internal error: {type(exc).__name__}")


def create_app(
    settings: Settings | ServerSettings | None = None, warden: Warden | None = None
) -> FastAPI:
    """The API over ``warden`` (a local ``Warden``: SQLite or PostgreSQL).

    ``settings`` is the whole tree (:class:`~mlwarden.settings.Settings`: its ``server``,
    ``proxy``, ``alerts`` and ``dashboard`` sections configure the app), or only the server's
    section, the rest then coming from ``warden.settings``. Nothing here reads the environment
    beyond building a default tree when none is given."""
    from mlwarden.alerts import scheduler as alerts_scheduler
    from mlwarden.server import apidocs
    from mlwarden.server.routes import (
        access,
        agents,
        alerts,
        audit,
        compliance,
        ingest,
        metrics,
        monitor,
        permissions,
        policy,
        predict,
        registry,
        reports,
        reviews,
        subjects,
        uploads,
    )

    if warden is None:
        from mlwarden.client import Warden

        warden = Warden(settings=settings if isinstance(settings, Settings) else None)
    tree = settings_tree(settings, warden)
    settings = tree.server
    writer = (
        PredictionWriter(
            warden,
            max_wait_ms=settings.batch_wait_ms,
            max_rows=settings.batch_max_rows,
            masking=getattr(warden, "masking", None),
        )
        if settings.log_predictions
        else None
    )
    ctx = ServerContext(
        settings=settings,
        warden=warden,
        auth=Authenticator(warden.access, settings.auth_ttl_s, audit=False, oidc=tree.oidc),
        resolver=Resolver(warden.registry.get_version, settings.alias_ttl_s),
        models=ModelCache(
            lambda mv: warden.registry.load_model(mv.ref),
            size=settings.model_cache_size,
            settle=settings.settle_heap,
            evidence=lambda mv, kind: warden.registry.get_evidence(mv.ref, kind),
        ),
        writer=writer,
        proxies=ProxyRuntime(settings, tree.proxy),
        jobs=JobRunner(SqlJobStore(warden.db), settings.registration_workers),
        reads=ReadAudit(
            warden.access.recorder.record,
            tree.audit_reads,
            lambda name: warden.registry.get_model(name).risk_tier,
        )
        if tree.audit_reads
        else None,
    )
    warden.access.grants_ttl_s = settings.auth_ttl_s  # like tokens: see server/auth.py
    failures = AuthFailures(
        warden.access.recorder, settings.auth_failures_per_min, settings.auth_audit_interval_s
    )

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if writer is not None:
            writer.start()
        # monitoring policies (docs/alerts.md)
        monitoring = alerts_scheduler.start(warden, tree.alerts)
        otel = _otel_loop(warden, tree)
        failures.start()
        if settings.settle_heap:
            settle_heap()
        try:
            yield
        finally:
            alerts_scheduler.stop(monitoring)
            if otel is not None:
                otel.stop()
            failures.stop()  # audits the refusals not yet recorded
            if ctx.reads is not None:
                ctx.reads.flush()  # the views counted this hour
            if writer is not None:
                writer.stop()  # commits what is queued before the process exits
            await ctx.proxies.aclose()
            ctx.jobs.shutdown()

    app = WardenApp(
        title="Warden",
        version=_version(),
        summary="Govern machine-learning models in production: the SDK over HTTP.",
        lifespan=lifespan,
        responses=ERROR_RESPONSES,
        docs_url=None,  # apidocs.install: vendored Swagger UI, not a CDN's
        redoc_url=None,
    )
    app.state.ctx = ctx
    app.state.settings = tree  # the dashboard's section is read from here
    app.state.auth_failures = failures
    _install_errors(app)

    @app.get("/healthz", tags=["health"], summary="Liveness (no authentication)")
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/readyz", tags=["health"], summary="Readiness: the store answers")
    def readyz() -> dict[str, Any]:
        size = warden.audit.size
        return {"status": "ready", "audit_size": size}

    # the prediction routes first: routes are matched in order, and these are the hot path
    for module in (
        predict,
        registry,
        agents,
        uploads,
        policy,
        access,
        permissions,
        audit,
        monitor,
        ingest,
        subjects,
        alerts,
        reports,
        compliance,
        reviews,
    ):
        app.include_router(module.router)
    app.include_router(metrics.router(warden, tree.alerts))  # /metrics (docs/alerts.md)
    from mlwarden.server import dashboard  # the web pages at / (docs/dashboard.md)

    dashboard.mount(app)
    apidocs.install(app)
    limits = BodyLimit(
        app.router, settings.max_body_bytes, settings.max_upload_mb * 1024 * 1024
    )  # the one definition of the 413/415 rules; its own app is not called
    app.add_middleware(
        BodyLimit,
        max_bytes=limits.max_bytes,
        max_upload_bytes=limits.max_upload_bytes,
    )
    # outermost: a client over its failed-authentication limit costs one look-up
    app.add_middleware(AuthGuard, failures=failures, known=ctx.auth.known)
    # the hot path, answered before FastAPI's layers, behind the same limiter
    route = PredictRoute(ctx, limits, app.exception_handlers)
    app.predict_route = AuthGuard(route, failures=failures, known=ctx.auth.known)
    return app


def _otel_loop(warden: Warden, tree: Settings) -> Any:
    """Governance events to OpenTelemetry while the server runs, when an endpoint is set."""
    if not tree.otel.endpoint:
        return None
    from mlwarden.audit.otel import ExportLoop, GovernanceExporter

    loop = ExportLoop(GovernanceExporter(warden.audit, tree.otel), tree.otel.interval_s)
    loop.start()
    return loop


def settings_tree(settings: Settings | ServerSettings | None, warden: Warden) -> Settings:
    """The whole tree for ``create_app``: given, or the warden's with ``settings`` as its
    server section (a ``ServerSettings`` alone, as callers have always passed)."""
    if isinstance(settings, Settings):
        return settings
    base = getattr(warden, "settings", None)
    tree = base if isinstance(base, Settings) else Settings()
    return tree if settings is None else tree.model_copy(update={"server": settings})


def _version() -> str:
    from mlwarden._version import __version__

    return __version__


def app_for(settings: Settings) -> FastAPI:
    """Uvicorn's factory in each process of ``mlwarden serve``: the app over a store opened
    from ``settings`` (the tree the command built, pickled into every worker)."""
    from mlwarden.client import Warden

    return create_app(settings, Warden(settings=settings))


def app_from_env() -> FastAPI:
    """Uvicorn factory (``uvicorn --factory mlwarden.server.app:app_from_env``): the settings
    tree from the environment (``MLWARDEN_*``)."""
    return app_for(Settings())
