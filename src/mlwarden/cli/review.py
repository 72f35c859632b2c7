"""``mlwarden review``: the human-oversight queue (EU AI Act Art. 14)."""

from __future__ import annotations

from typing import Any

import typer

from mlwarden.cli._common import (
    JsonOption,
    UriOption,
    console,
    handle_errors,
    open_warden,
    print_json,
)


def _open(uri: str | None) -> tuple[Any, Any]:
    """The store (local, PostgreSQL or a server over HTTP) and its oversight service."""
    wd = open_warden(uri)
    return wd, wd.oversight


app = typer.Typer(help="Review flagged predictions: confirm or override.", no_args_is_help=True)


@app.command("rule")
@handle_errors
def rule(
    model: str = typer.Argument(..., help="Model name."),
    expression: str = typer.Argument(..., help='CEL over output, score, inputs: "score < 0.6".'),
    uri: str | None = UriOption,
) -> None:
    """Set the rule that flags the model's predictions for review (admins)."""
    wd, oversight = _open(uri)
    oversight.set_rule(model, expression, actor=wd.actor)
    console.print(f"Review rule for {model}: {expression}")


@app.command("flag")
@handle_errors
def flag(model: str = typer.Argument(..., help="Model name."), uri: str | None = UriOption) -> None:
    """Queue the newest predictions the model's rule flags (each one once)."""
    wd, oversight = _open(uri)
    console.print(f"Queued {oversight.flag(model, actor=wd.actor)} prediction(s) for review")


@app.command("list")
@handle_errors
def list_(
    model: str = typer.Argument(..., help="Model name."),
    status: str = typer.Option("pending", help="pending, confirmed, overridden or all."),
    uri: str | None = UriOption,
    as_json: bool = JsonOption,
) -> None:
    """The review queue, oldest first, and the model's override rate."""
    wd, oversight = _open(uri)
    items = oversight.queue(model, actor=wd.actor, status=None if status == "all" else status)
    rate = oversight.override_rate(model)
    if as_json:
        print_json({"items": items, **rate})
        return
    for i in items:
        decided = f" -> {i['decided_output']}" if i["decided_output"] is not None else ""
        who = f" by {i['reviewer']}" if i["reviewer"] else ""
        typer.echo(
            f"{i['prediction_id']}  v{i['version']}  {i['output']}{decided}  {i['status']}{who}"
        )
    shown = "n/a" if rate["override_rate"] is None else f"{rate['override_rate']:.1%}"
    typer.echo(f"{rate['pending']} pending; override rate {shown}")


@app.command("confirm")
@handle_errors
def confirm(
    model: str = typer.Argument(..., help="Model name."),
    prediction_id: str = typer.Argument(..., help="The queued prediction."),
    comment: str | None = typer.Option(None, "--comment", "-m"),
    uri: str | None = UriOption,
) -> None:
    """Confirm the model's output (validators and admins; not the version's registrant)."""
    wd, oversight = _open(uri)
    oversight.decide(model, prediction_id, actor=wd.actor, comment=comment)
    console.print(f"Confirmed {prediction_id}")


@app.command("override")
@handle_errors
def override(
    model: str = typer.Argument(..., help="Model name."),
    prediction_id: str = typer.Argument(..., help="The queued prediction."),
    output: str = typer.Option(..., "--output", help="The reviewer's decision."),
    comment: str | None = typer.Option(None, "--comment", "-m"),
    uri: str | None = UriOption,
) -> None:
    """Override the model's output with the reviewer's decision (audited)."""
    wd, oversight = _open(uri)
    oversight.decide(model, prediction_id, actor=wd.actor, override=output, comment=comment)
    console.print(f"Overrode {prediction_id}: {output}")
