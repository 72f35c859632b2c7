"""``mlwarden serve``: the HTTP API and the governed prediction service."""

from __future__ import annotations

import os
import sys
from typing import TYPE_CHECKING

import typer

from mlwarden.cli._common import UriOption, handle_errors

if TYPE_CHECKING:  # FastAPI arrives with mlwarden.server: only `serve` itself needs it
    from mlwarden.server.settings import ServerSettings


def run(settings: ServerSettings) -> None:
    """Run uvicorn on the app factory. Settings travel through the environment, so every
    worker process (``--workers N``) builds the same app from them."""
    import uvicorn

    _check_keys()
    for name, value in settings.model_dump().items():
        os.environ[f"MLWARDEN_SERVE_{name.upper()}"] = str(value)
    uvicorn.run(
        "mlwarden.server.app:app_from_env",
        factory=True,
        host=settings.host,
        port=settings.port,
        workers=settings.workers,
        # the access log has the request line and status only: never headers (tokens) or
        # bodies (inputs)
        access_log=settings.access_log,
        log_level="info",
        timeout_graceful_shutdown=10,
    )


def _check_keys() -> None:
    """Fail fast, with one line and no traceback, when this host's keys are not the store's
    (uvicorn would print a traceback per worker and keep the port)."""
    from mlwarden.errors import WardenError
    from mlwarden.settings import Settings
    from mlwarden.store.sql.keycheck import preflight

    try:
        preflight(Settings())
    except WardenError as exc:
        if os.environ.get("MLWARDEN_DEBUG"):
            raise
        sys.stderr.write(f"error: {exc.message}\n")
        raise SystemExit(1) from None


@handle_errors
def serve(
    host: str = typer.Option("127.0.0.1", help="Interface to listen on."),
    port: int = typer.Option(8080, help="Port."),
    workers: int = typer.Option(1, min=1, help="Server processes."),
    uri: str | None = UriOption,
    durability: str = typer.Option(
        "sync", help="sync: answer once logged durably; async: faster, may lose the last batch."
    ),
    log_predictions: bool = typer.Option(True, help="Store every served prediction."),
    strict_categories: bool = typer.Option(False, help="Refuse unseen categories (422)."),
    max_body_bytes: int = typer.Option(8 * 1024 * 1024, help="Larger bodies get 413."),
    access_log: bool = typer.Option(True, help="Log one line per request."),
) -> None:
    """Serve the API (the SDK over HTTP) and governed predictions. Every endpoint but
    /healthz and /readyz needs a bearer token (`mlwarden tokens create USER`)."""
    from mlwarden.server.settings import ServerSettings

    if uri:
        os.environ["MLWARDEN_URI"] = uri
    settings = ServerSettings(
        host=host,
        port=port,
        workers=workers,
        durability=durability,  # type: ignore[arg-type]
        log_predictions=log_predictions,
        strict_categories=strict_categories,
        max_body_bytes=max_body_bytes,
        access_log=access_log,
    )
    run(settings)
