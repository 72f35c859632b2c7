"""``mlwarden access …``: teams, the models they own, grants per team and model, and
``explain`` (docs/access.md). On the store itself: the server has no routes for them yet."""

from __future__ import annotations

import typer

from mlwarden.cli._common import (
    JsonOption,
    UriOption,
    console,
    handle_errors,
    open_local,
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
    wd = open_local(uri, "access explain")
    decision = wd.permissions.explain(user, model, action)
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
    wd = open_local(uri, "access team-add")
    console.print(f"Team {wd.permissions.create_team(name, actor=wd.actor)} created")


@app.command("assign")
@handle_errors
def assign(
    model: str = typer.Argument(...), team: str = typer.Argument(...), uri: str | None = UriOption
) -> None:
    """Make TEAM the owner of MODEL (admins; audited)."""
    wd = open_local(uri, "access assign")
    wd.permissions.assign(model, team, actor=wd.actor)
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
    wd = open_local(uri, "access grant")
    g = wd.permissions.grant(user, role, actor=wd.actor, team=team, model=model)
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
    wd = open_local(uri, "access deny")
    g = wd.permissions.deny(user, action, actor=wd.actor, team=team, model=model)
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
    from mlwarden.access.permissions import scope_of
    from mlwarden.entities.access import Grant

    wd = open_local(uri, "access revoke")
    scope, target = scope_of(team, model)
    g = Grant(user, scope, target, "deny" if deny_ else "allow", what)
    if not wd.permissions.revoke(g, actor=wd.actor):
        console.print(f"no such grant on {g.where}")
        raise typer.Exit(1)
    console.print(f"removed from {g.where}")


@app.command("list")
@handle_errors
def list_grants(
    user: str | None = typer.Option(None, "--user"),
    uri: str | None = UriOption,
    as_json: bool = JsonOption,
) -> None:
    """Grants and denies per team and model."""
    grants = open_local(uri, "access list").permissions.list_grants(user)
    if as_json:
        print_json([g.to_dict() for g in grants])
        return
    for g in grants:
        console.print(f"{g.user}\t{g.effect}\t{g.what}\t{g.where}")
