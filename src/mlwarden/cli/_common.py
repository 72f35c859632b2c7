"""What every command shares: the Warden it talks to, JSON output, one-line errors."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from functools import wraps
from typing import TYPE_CHECKING, Any, TypeVar

import typer
from rich.console import Console

from mlwarden.errors import WardenError

if TYPE_CHECKING:
    from mlwarden.api import WardenAPI
    from mlwarden.client import Warden

console = Console()
err_console = Console(stderr=True)

F = TypeVar("F", bound=Callable[..., Any])


def _clean_type_column() -> None:
    """Typer 0.29's help prints a type beside every parameter: ``--json <bool>``, ``--help
    <bool>``, ``--uri <str>``. A flag takes no value, so it gets none; a string option shows
    its name as the metavar (``--uri URI``), an argument only its name. Other types (``<int>``,
    choices, paths) stay: they say something. Older Typers have no such column: nothing to do."""
    from typer.core import TyperArgument, TyperOption

    for cls in (TyperArgument, TyperOption):
        original = getattr(cls, "display_type_rich", None)
        if original is None or getattr(original, "_mlwarden", False):
            continue

        def display_type_rich(self: Any, ctx: Any, _original: Any = original) -> str | None:
            if self.metavar is None and (
                getattr(self, "is_flag", False) or getattr(self, "count", False)
            ):
                return None
            label = _original(self, ctx)
            if label == "<str>" and self.metavar is None:
                return self.name.upper() if isinstance(self, TyperOption) and self.name else None
            return label  # type: ignore[no-any-return]

        display_type_rich._mlwarden = True  # type: ignore[attr-defined]
        cls.display_type_rich = display_type_rich  # type: ignore[method-assign]


_clean_type_column()

JsonOption = typer.Option(False, "--json", help="Print machine-readable JSON.")
UriOption = typer.Option(None, "--uri", envvar="MLWARDEN_URI", help="Store URI.")


def open_warden(uri: str | None = None) -> WardenAPI:
    from mlwarden.backends import connect

    return connect(uri)


def open_local(uri: str | None = None, what: str = "this command") -> Warden:
    """For the few commands that work on the store itself (its files, its services)."""
    from mlwarden.client import Warden
    from mlwarden.errors import ValidationError

    wd = open_warden(uri)
    if not isinstance(wd, Warden):
        wd.close()
        raise ValidationError(
            f"{what} needs a local store (sqlite:// or postgresql://), not {wd.uri}", field="uri"
        )
    return wd


def print_json(data: Any) -> None:
    from mlwarden._json import jsonable  # numpy: only when there is JSON to print

    sys.stdout.write(json.dumps(jsonable(data), indent=2) + "\n")


def show_list(
    items: list[Any], as_json: bool, table: Callable[[list[Any]], Any], empty: str
) -> None:
    """A listing command's output: JSON records, a one-line note when empty, else a table."""
    if as_json:
        print_json([item.to_dict() for item in items])
    elif not items:
        console.print(empty)
    else:
        console.print(table(items))


def fail(message: str, code: int = 1) -> None:
    err_console.print(f"[bold red]error:[/] {message}", highlight=False, soft_wrap=True)
    raise typer.Exit(code)


def debug_enabled() -> bool:
    """``MLWARDEN_DEBUG``, read through the settings (False when they do not parse: the error
    being reported may be that very one)."""
    from mlwarden.settings import Settings

    try:
        return Settings().debug
    except ValueError:
        return False


def handle_errors(fn: F) -> F:
    """Warden errors (and anything unexpected) end as one readable line and a non-zero
    exit; ``MLWARDEN_DEBUG=1`` shows the traceback instead."""

    @wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except typer.Exit:
            raise
        except WardenError as exc:
            if debug_enabled():
                raise
            fail(exc.message, 1)
        except (OSError, ValueError, KeyError) as exc:
            if debug_enabled():
                raise
            fail(f"{type(exc).__name__}: {exc}", 2)
        except Exception as exc:
            if debug_enabled():
                raise
            fail(f"{type(exc).__name__}: {exc} (MLWARDEN_DEBUG=1 shows the traceback)", 1)

    return wrapper  # type: ignore[return-value]


def counting_bar(console: Console, *, disable: bool) -> Any:
    """A transient Rich bar counting done of total (total may stay unknown), on ``console``;
    off for JSON output."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        console=console,
        transient=True,
        disable=disable,
    )
