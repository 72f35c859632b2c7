"""``mlwarden db …``: schema migrations for shared databases."""

from __future__ import annotations

import typer

from mlwarden.cli._common import JsonOption, UriOption, console, handle_errors, print_json

app = typer.Typer(help="Database schema.", no_args_is_help=True)


def _engine(uri: str | None):  # type: ignore[no-untyped-def]
    from mlwarden.settings import Settings
    from mlwarden.store.sql.engine import make_engine

    return make_engine(Settings(uri=uri).resolved_uri() if uri else Settings().resolved_uri())


@app.command("upgrade")
@handle_errors
def upgrade(uri: str | None = UriOption, as_json: bool = JsonOption) -> None:
    """Apply every pending migration."""
    from mlwarden.store.sql import migrate

    engine = _engine(uri)
    before = migrate.current_revision(engine)
    migrate.upgrade(engine)
    after = migrate.current_revision(engine)
    if as_json:
        print_json({"from": before, "to": after})
    else:
        console.print(f"Schema upgraded: {before or 'empty'} → {after}")


@app.command("current")
@handle_errors
def current(uri: str | None = UriOption, as_json: bool = JsonOption) -> None:
    """Show the schema revision and the one this Warden needs."""
    from mlwarden.store.sql import migrate

    engine = _engine(uri)
    info = {"current": migrate.current_revision(engine), "head": migrate.head_revision()}
    if as_json:
        print_json(info)
    else:
        console.print(f"current {info['current'] or 'empty'}, head {info['head']}")
