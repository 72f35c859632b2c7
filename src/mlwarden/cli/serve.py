"""``mlwarden serve``: the HTTP API and the governed prediction service.

The command's options are derived from :class:`~mlwarden.settings.ServerSettings`, one per
field (``batch_wait_ms`` is ``--batch-wait-ms``), with the field's description and default: a
setting added there is an option here. An option left out keeps what the environment
(``MLWARDEN_SERVE_*``) or the default says. The whole settings tree then travels to every
worker process as an argument of the app factory, never through environment variables.
"""

from __future__ import annotations

import contextlib
import functools
import inspect
import sys
from typing import Any, Literal, get_args, get_origin

import typer
from pydantic import ValidationError as PydanticError

from mlwarden.cli._common import UriOption, handle_errors
from mlwarden.errors import ValidationError
from mlwarden.settings import ServerSettings, Settings


def run(settings: Settings | ServerSettings) -> None:
    """Run uvicorn on ``settings`` (the tree, or its server section over the environment's
    tree). Each worker process (``--workers N``) builds the app from the same tree: it is
    pickled into the factory uvicorn calls there."""
    import uvicorn

    from mlwarden.server.app import app_for

    tree = settings if isinstance(settings, Settings) else Settings(server=settings)
    _check_keys(tree)
    server = tree.server
    config = uvicorn.Config(
        functools.partial(app_for, tree),
        factory=True,
        host=server.host,
        port=server.port,
        workers=server.workers,
        # the access log has the request line and status only: never headers (tokens) or
        # bodies (inputs)
        access_log=server.access_log,
        log_level="info",
        timeout_graceful_shutdown=10,
        **_worker_startup_timeout(uvicorn.Config),
    )
    if server.workers > 1:
        # uvicorn.run insists on an import string here; its supervisor takes any picklable app
        from uvicorn.supervisors import Multiprocess

        Multiprocess(config, sockets=[config.bind_socket()]).run()
        return
    runner = uvicorn.Server(config)
    with contextlib.suppress(KeyboardInterrupt):
        runner.run()
    if not runner.started:
        raise SystemExit(3)  # uvicorn's start-up failure status


#: seconds a new worker may take to import and build the app. uvicorn's default (5 s) is less
#: than a loaded two-core machine needs for pandas, scikit-learn and the app: it killed and
#: restarted every worker of ``--workers 2`` in a loop (bench/serve.py --workers 2).
WORKER_STARTUP_S = 120


def _worker_startup_timeout(config: type) -> dict[str, Any]:
    params = inspect.signature(config).parameters
    return (
        {"timeout_worker_healthcheck": WORKER_STARTUP_S}
        if "timeout_worker_healthcheck" in params
        else {}
    )


def _check_keys(settings: Settings) -> None:
    """Fail fast, with one line and no traceback, when this host's keys are not the store's
    (uvicorn would print a traceback per worker and keep the port)."""
    from mlwarden.errors import WardenError
    from mlwarden.store.sql.keycheck import preflight

    try:
        preflight(settings)
    except WardenError as exc:
        if settings.debug:
            raise
        sys.stderr.write(f"error: {exc.message}\n")
        raise SystemExit(1) from None


def _option_type(annotation: Any) -> type:
    if get_origin(annotation) is Literal:
        return type(get_args(annotation)[0])
    return annotation if annotation in (bool, int, float) else str


def _server_options() -> list[inspect.Parameter]:
    """One keyword parameter per ``ServerSettings`` field, ``None`` meaning "not given"."""
    params = []
    for name, field in ServerSettings.model_fields.items():
        typ = _option_type(field.annotation)
        flag = "--" + name.replace("_", "-")
        default = field.get_default(call_default_factory=True)
        choices = get_args(field.annotation) if get_origin(field.annotation) is Literal else ()
        help_text = (field.description or name.replace("_", " ")).rstrip(".")
        if choices:
            help_text += f" ({', '.join(map(str, choices))})"
        help_text += f". Default {default!r}, env MLWARDEN_SERVE_{name.upper()}."
        decls = [f"{flag}/--no-{flag[2:]}"] if typ is bool else [flag]
        option = typer.Option(None, *decls, help=help_text, show_default=False)
        params.append(
            inspect.Parameter(
                name, inspect.Parameter.KEYWORD_ONLY, default=option, annotation=typ | None
            )
        )
    return params


@handle_errors
def serve(uri: str | None = UriOption, **options: Any) -> None:
    """Serve the API (the SDK over HTTP) and governed predictions. Every endpoint but
    /healthz and /readyz needs a bearer token (`mlwarden tokens create USER`)."""
    given = {k: v for k, v in options.items() if v is not None}
    tree = Settings()
    try:
        server = ServerSettings.model_validate({**tree.server.model_dump(), **given})
    except PydanticError as exc:  # one line naming the option
        errors = exc.errors()
        field = str(errors[0]["loc"][0]) if errors else "options"
        message = errors[0]["msg"] if errors else str(exc)
        raise ValidationError(f"--{field.replace('_', '-')}: {message}", field=field) from None
    run(tree.model_copy(update={"server": server, **({"uri": uri} if uri else {})}))


# Typer reads the options from the signature: --uri, then one per server setting.
_params = [inspect.signature(serve).parameters["uri"], *_server_options()]
serve.__signature__ = inspect.Signature(_params)  # type: ignore[attr-defined]
serve.__annotations__ = {p.name: p.annotation for p in _params}
serve.__annotations__["return"] = None

__all__ = ["run", "serve"]
