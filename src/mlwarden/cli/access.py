"""``mlwarden users …``, ``mlwarden tokens …``, ``mlwarden approve`` and ``approvals``."""

from __future__ import annotations

import typer
from rich.table import Table

from mlwarden.cli._common import (
    JsonOption,
    UriOption,
    console,
    err_console,
    handle_errors,
    open_warden,
    print_json,
)

users_app = typer.Typer(help="Users and their roles.", no_args_is_help=True)
tokens_app = typer.Typer(help="API tokens (for the server).", no_args_is_help=True)


def _when(value) -> str:  # type: ignore[no-untyped-def]
    return "—" if value is None else value.strftime("%Y-%m-%d %H:%M")


@users_app.command("add")
@handle_errors
def users_add(
    name: str = typer.Argument(..., help="User name (for you: your OS user name)."),
    role: str = typer.Option(..., "--role", help="viewer, developer, validator, admin or none."),
    uri: str | None = UriOption,
    as_json: bool = JsonOption,
) -> None:
    """Add a user. The first user must be an admin: it turns role enforcement on."""
    user = open_warden(uri).create_user(name, role)
    if as_json:
        print_json(user.to_dict())
    else:
        console.print(f"User {user.name} added with role {user.role}")


@users_app.command("set-role")
@handle_errors
def users_set_role(
    name: str = typer.Argument(..., help="User name."),
    role: str = typer.Option(..., "--role", help="viewer, developer, validator, admin or none."),
    uri: str | None = UriOption,
    as_json: bool = JsonOption,
) -> None:
    """Change a user's role (admins only; audited). `none` takes every permission away."""
    user = open_warden(uri).set_role(name, role)
    if as_json:
        print_json(user.to_dict())
    else:
        console.print(f"User {user.name} now has role {user.role}")


@users_app.command("list")
@handle_errors
def users_list(uri: str | None = UriOption, as_json: bool = JsonOption) -> None:
    """List users."""
    users = open_warden(uri).list_users()
    if as_json:
        print_json([u.to_dict() for u in users])
        return
    if not users:
        console.print("No users: single-user mode (every actor has every role).")
        return
    table = Table(title="Users")
    for col in ("name", "role", "created", "by", "disabled"):
        table.add_column(col)
    for u in users:
        table.add_row(
            u.name, u.role, _when(u.created_at), u.created_by, "yes" if u.disabled else ""
        )
    console.print(table)


@tokens_app.command("create")
@handle_errors
def tokens_create(
    name: str = typer.Argument(..., help="The user the token acts as."),
    expires_in: str | None = typer.Option(
        None, "--expires-in", "--expires", help="e.g. 30d, 12h, 2w."
    ),
    description: str | None = typer.Option(None, "--description", help="What it is for."),
    scope: str | None = typer.Option(
        None,
        "--scope",
        help="A service token: only these models and actions, e.g. "
        "'model:credit-risk:read,predict' (clauses separated by ;).",
    ),
    uri: str | None = UriOption,
    as_json: bool = JsonOption,
) -> None:
    """Create an API token. It is printed once and cannot be shown again."""
    new = open_warden(uri).create_token(
        name, expires_in=expires_in, description=description, scope=scope
    )
    if as_json:
        print_json({**new.info.to_dict(), "token": new.token})
        return
    err_console.print(
        f"Token {new.info.id} for {name} (expires {_when(new.info.expires_at)}). "
        "Copy it now: it is stored only as a hash and will not be shown again."
    )
    typer.echo(new.token)


@tokens_app.command("revoke")
@handle_errors
def tokens_revoke(
    token_id: int = typer.Argument(..., help="Token id (from `mlwarden tokens list`)."),
    uri: str | None = UriOption,
    as_json: bool = JsonOption,
) -> None:
    """Revoke a token; it stops working at once."""
    token = open_warden(uri).revoke_token(token_id)
    if as_json:
        print_json(token.to_dict())
    else:
        console.print(f"Token {token.id} ({token.prefix}…) of {token.user} revoked")


@tokens_app.command("list")
@handle_errors
def tokens_list(
    user: str | None = typer.Option(None, "--user", help="Only this user's tokens."),
    uri: str | None = UriOption,
    as_json: bool = JsonOption,
) -> None:
    """List tokens (ids and prefixes only; secrets are never stored)."""
    tokens = open_warden(uri).list_tokens(user)
    if as_json:
        print_json([t.to_dict() for t in tokens])
        return
    table = Table(title="API tokens")
    cols = ("id", "user", "prefix", "created", "expires", "revoked", "last used", "scope", "about")
    for col in cols:
        table.add_column(col)
    for t in tokens:
        table.add_row(
            str(t.id),
            t.user,
            t.prefix + "…",
            _when(t.created_at),
            _when(t.expires_at),
            _when(t.revoked_at),
            _when(t.last_used_at),
            t.scope or "",
            t.description or "",
        )
    console.print(table)


@handle_errors
def approve(
    ref: str = typer.Argument(..., help="Version to approve, e.g. credit-risk@3."),
    comment: str | None = typer.Option(None, "--comment", help="Why you approve."),
    uri: str | None = UriOption,
    as_json: bool = JsonOption,
) -> None:
    """Approve a version (validators and admins; never the one who registered it)."""
    wd = open_warden(uri)
    approval = wd.approve(ref, comment=comment)
    status = wd.approval_status(approval.ref)
    if as_json:
        print_json({"approval": approval.to_dict(), "status": status.to_dict()})
    else:
        console.print(
            f"{approval.ref} approved by {approval.approver} ({approval.role}): "
            f"{status.have}/{status.required} approvals, {status.missing} missing"
        )


@handle_errors
def approvals(
    ref: str = typer.Argument(..., help="Version, e.g. credit-risk@3 or credit-risk@staging."),
    uri: str | None = UriOption,
    as_json: bool = JsonOption,
) -> None:
    """Show a version's approvals and how many its risk tier still needs."""
    wd = open_warden(uri)
    status = wd.approval_status(ref)
    items = wd.approvals(ref)
    if as_json:
        print_json({"status": status.to_dict(), "approvals": [a.to_dict() for a in items]})
        return
    table = Table(title=f"Approvals of {status.ref} (risk tier {status.risk_tier})")
    for col in ("approver", "role", "when", "comment"):
        table.add_column(col)
    for a in items:
        table.add_row(a.approver, a.role, _when(a.created_at), a.comment or "")
    console.print(table)
    console.print(
        f"required {status.required}, have {status.have}, missing {status.missing} "
        f"(registered by {status.registered_by})"
    )


@handle_errors
def login(as_json: bool = JsonOption) -> None:
    """Sign in through the identity provider (device authorization grant) and cache the access
    token (oidc.token_cache, mode 0600) for the CLI and SDK."""
    from mlwarden.access.oidc_login import device_login
    from mlwarden.settings import Settings

    settings = Settings().oidc

    def prompt(grant: dict) -> None:  # type: ignore[type-arg]
        url = grant.get("verification_uri_complete") or grant["verification_uri"]
        # stderr, flushed: a script (or a test) reads it while this command waits
        err_console.print(f"Open {url} and confirm the code {grant['user_code']}", soft_wrap=True)

    record = device_login(settings, prompt)
    if as_json:
        print_json({"issuer": record["issuer"], "expires_at": record["expires_at"]})
    else:
        console.print(f"Signed in at {record['issuer']}; token cached in {settings.token_cache}")
