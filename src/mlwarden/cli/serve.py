"""``mlwarden serve``: the HTTP API and the governed prediction service.

The command's options are derived from :class:`~mlwarden.settings.ServerSettings`, one per
field (``batch_wait_ms`` is ``--batch-wait-ms``), with the field's description and default: a
setting added there is an option here. An option left out keeps what the environment
(``MLWARDEN_SERVE_*``) or the default says. The whole settings tree then travels to every
worker process as an argument of the app factory, never through environment variables.
"""

from __future__ import annotations

import inspect
from typing import Any, Literal, get_args, get_origin

import typer
from pydantic import ValidationError as PydanticError

from mlwarden.cli._common import UriOption, handle_errors
from mlwarden.errors import ValidationError
from mlwarden.settings import ServerSettings, Settings


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
    from mlwarden.server.run import run  # the server package loads FastAPI: only when serving

    run(tree.model_copy(update={"server": server, **({"uri": uri} if uri else {})}))


# Typer reads the options from the signature: --uri, then one per server setting.
_params = [inspect.signature(serve).parameters["uri"], *_server_options()]
serve.__signature__ = inspect.Signature(_params)  # type: ignore[attr-defined]
serve.__annotations__ = {p.name: p.annotation for p in _params}
serve.__annotations__["return"] = None

__all__ = ["serve"]
