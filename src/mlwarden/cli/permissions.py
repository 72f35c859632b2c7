"""``mlwarden access …``: teams, the models they own, grants per team and model, and
``explain`` (docs/access.md). Through ``mlwarden.connect``: on the store, or on a server
(``--uri http://…``, ``/v1/access/…``)."""

from __future__ import annotations

import typer

from mlwarden.cli._common import (
    JsonOption,
    UriOption,
    console,
    handle_errors,
    open_warden,
    print_json,
)

app = typer.Typer(help="Permissions per team and model.", no_args_is_help=True)
TeamOption = typer.Option(None, "--team", help="On every model this team owns.")
ModelOption = typer.Option(None, "--model", help="On this model.")


@app.command("explain")
@handle_errors
def explain(
    user: str = typer.Argument(..., help="User name."),
    model: str = typer.Argument(..., help="Model name."),
    action: str = typer.Argument(..., help="Action, e.g. model.promote or read."),
    uri: str | None = UriOption,
    as_json: bool = JsonOption,
) -> None:
    """The effective permission of USER for ACTION on MODEL, and the rule that decided."""
    decision = open_warden(uri).explain(user, model, action)
    if as_json:
        print_json({"user": user, "model": model, "action": action, **decision.to_dict()})
    else:
        verdict = "[green]allowed[/]" if decision.allowed else "[red]denied[/]"
        console.print(f"{verdict} ({decision.rule}): {decision.reason}")
    if not decision.allowed:
        raise typer.Exit(1)


@app.command("team-add")
@handle_errors
def team_add(name: str = typer.Argument(...), uri: str | None = UriOption) -> None:
    """Create a team (admins; audited)."""
    console.print(f"Team {open_warden(uri).create_team(name)} created")


@app.command("assign")
@handle_errors
def assign(
    model: str = typer.Argument(...), team: str = typer.Argument(...), uri: str | None = UriOption
) -> None:
    """Make TEAM the owner of MODEL (admins; audited)."""
    open_warden(uri).assign_team(model, team)
    console.print(f"{model} is owned by team {team}")


@app.command("grant")
@handle_errors
def grant(
    user: str = typer.Argument(...),
    role: str = typer.Argument(..., help="viewer, developer, validator or admin."),
    team: str | None = TeamOption,
    model: str | None = ModelOption,
    uri: str | None = UriOption,
    as_json: bool = JsonOption,
) -> None:
    """Grant USER a ROLE on a team's models or on one model (admins; audited)."""
    g = open_warden(uri).grant(user, role, team=team, model=model)
    print_json(g.to_dict()) if as_json else console.print(f"{user}: {role} on {g.where}")


@app.command("deny")
@handle_errors
def deny(
    user: str = typer.Argument(...),
    action: str = typer.Argument(..., help="An action (model.promote, read, …) or *."),
    team: str | None = TeamOption,
    model: str | None = ModelOption,
    uri: str | None = UriOption,
    as_json: bool = JsonOption,
) -> None:
    """Deny USER an ACTION on a team's models or one model; a deny wins over every role."""
    g = open_warden(uri).deny(user, action, team=team, model=model)
    print_json(g.to_dict()) if as_json else console.print(f"{user}: {action} denied on {g.where}")


@app.command("revoke")
@handle_errors
def revoke(
    user: str = typer.Argument(...),
    what: str = typer.Argument(..., help="The role granted, or the action denied."),
    deny_: bool = typer.Option(False, "--deny", help="Remove a deny, not a role."),
    team: str | None = TeamOption,
    model: str | None = ModelOption,
    uri: str | None = UriOption,
) -> None:
    """Remove a grant (or with --deny a deny) (admins; audited)."""
    where = f"team:{team}" if team is not None else f"model:{model}"
    if not open_warden(uri).revoke_grant(user, what, deny=deny_, team=team, model=model):
        console.print(f"no such grant on {where}")
        raise typer.Exit(1)
    console.print(f"removed from {where}")


@app.command("list")
@handle_errors
def list_grants(
    user: str | None = typer.Option(None, "--user"),
    uri: str | None = UriOption,
    as_json: bool = JsonOption,
) -> None:
    """Grants and denies per team and model."""
    grants = open_warden(uri).list_grants(user)
    if as_json:
        print_json([g.to_dict() for g in grants])
        return
    for g in grants:
        console.print(f"{g.user}\t{g.effect}\t{g.what}\t{g.where}")
