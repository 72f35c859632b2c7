"""``mlwarden agent``: AI agents in the registry (instructions, tool allow-list, model,
policies), versioned, aliased and promoted like models; works on a local store or a server."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.markup import escape
from rich.table import Table

from mlwarden.cli._common import (
    JsonOption,
    UriOption,
    console,
    handle_errors,
    open_warden,
    print_json,
    show_list,
)
from mlwarden.cli.policy import promote

app = typer.Typer(help="AI agents in the registry.", no_args_is_help=True)
# the models' promotion: the same gates, approvals, compare-and-set and audit events
app.command("promote")(promote)


@app.command("register")
@handle_errors
def register(
    name: str = typer.Argument(..., help="the agent's name (its identity at the gateway)"),
    instructions: Path | None = typer.Option(
        None, "--instructions", exists=True, dir_okay=False, help="the system prompt (a file)"
    ),
    tool: list[str] = typer.Option([], "--tool", help="a tool it may call (repeat; none: any)"),
    model: str | None = typer.Option(None, "--model", help="the LLM it runs on"),
    policy: list[Path] = typer.Option(
        [], "--policy", exists=True, dir_okay=False, help="a kind: agent policy file (repeat)"
    ),
    owner: str | None = typer.Option(None, help="who answers for it"),
    risk_tier: str | None = typer.Option(None, "--risk-tier", help="low, medium or high"),
    description: str | None = typer.Option(None, help="what it is for"),
    uri: str | None = UriOption,
    as_json: bool = JsonOption,
) -> None:
    """Register the agent's next version (its policies are checked before anything is stored)."""
    text = instructions.read_text(encoding="utf-8") if instructions is not None else ""
    with open_warden(uri) as wd:
        av = wd.register_agent(
            name,
            instructions=text,
            tools=tool,
            model=model,
            policies=list(policy),
            owner=owner,
            risk_tier=risk_tier,
            description=description,
        )
    if as_json:
        print_json(av.to_dict())
    else:
        console.print(
            f"registered {av.ref}: {len(av.tools) or 'any'} tools, "
            f"policies {list(av.policy_names) or 'none'}"
        )


@app.command("list")
@handle_errors
def list_agents(uri: str | None = UriOption, as_json: bool = JsonOption) -> None:
    """Registered agents with their latest version and aliases."""

    def table(items: list) -> Table:
        t = Table()
        for col in ("name", "latest", "aliases", "owner", "risk tier"):
            t.add_column(col)
        for m in items:
            aliases = ", ".join(f"{a}→{v}" for a, v in sorted(m.aliases.items()))
            t.add_row(m.name, str(m.latest_version), aliases, m.owner or "", m.risk_tier)
        return t

    with open_warden(uri) as wd:
        show_list(wd.list_agents(), as_json, table, "No agents registered.")


@app.command("show")
@handle_errors
def show(
    ref: str = typer.Argument(..., help="NAME, NAME@VERSION or NAME@ALIAS"),
    uri: str | None = UriOption,
    as_json: bool = JsonOption,
) -> None:
    """One agent version: model, tools, policies, instructions."""
    with open_warden(uri) as wd:
        av = wd.get_agent(ref)
    if as_json:
        print_json(av.to_dict())
        return
    console.print(f"[bold]{av.ref}[/] aliases: {', '.join(av.aliases) or '—'}")
    console.print(f"model: {escape(av.model or '—')}")
    console.print(f"tools: {escape(', '.join(av.tools) or 'any')}")
    console.print(f"policies: {escape(', '.join(av.policy_names) or 'none')}")
    console.print(f"registered by {av.created_by} at {av.created_at.isoformat()}")
    if av.instructions:
        console.print("instructions:")
        console.print(escape(av.instructions), highlight=False)
