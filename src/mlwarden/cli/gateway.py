"""``mlwarden gateway``: the MCP gateway in front of an agent's tools, and its approvals."""

from __future__ import annotations

import sys
from functools import partial
from pathlib import Path

import typer
from rich.table import Table

from mlwarden.cli._common import (
    JsonOption,
    UriOption,
    console,
    handle_errors,
    open_local,
    print_json,
    show_list,
)

GIL_SWITCH_S = 0.0005
app = typer.Typer(help="Govern AI agents' tool calls (MCP).", no_args_is_help=True)
approvals_app = typer.Typer(help="Tool calls waiting for a person.", no_args_is_help=True)
app.add_typer(approvals_app, name="approvals")


@app.command("mcp")
@handle_errors
def mcp(
    upstream: str = typer.Option(
        ..., "--upstream", help="the MCP server: a command line (stdio) or an http(s):// URL"
    ),
    transport: str = typer.Option("stdio", help="how agents reach the gateway: stdio or http"),
    agent: str | None = typer.Option(
        None,
        "--agent",
        help="stdio: the agent's identity (over HTTP, its token's user); NAME@ALIAS or "
        "NAME@VERSION: a registered agent, whose allow-list and policies govern the calls",
    ),
    allow_tool: list[str] = typer.Option(
        [], "--allow-tool", help="the agents' tool allow-list (repeat; none: any tool)"
    ),
    policy: list[Path] = typer.Option(
        [], "--policy", exists=True, dir_okay=False, help="an agent policy file (repeat)"
    ),
    approval_timeout: float = typer.Option(
        300.0, "--approval-timeout", min=0.0, help="seconds a held call waits for people"
    ),
    masking: Path | None = typer.Option(
        None, "--masking", exists=True, dir_okay=False, help="masking policy (YAML) for calls"
    ),
    subject_arg: str | None = typer.Option(
        None, "--subject-arg", help="the argument naming the data subject (for erasure)"
    ),
    host: str = typer.Option(
        "127.0.0.1", help="interface to listen on (http, and stdio's --metrics-port)"
    ),
    port: int = typer.Option(8765, help="http: port to listen on"),
    metrics_port: int | None = typer.Option(
        None,
        "--metrics-port",
        min=1,
        max=65535,
        help="stdio: serve the per-agent Prometheus metrics at http://HOST:PORT/metrics",
    ),
    sdk_session: bool = typer.Option(
        False,
        "--sdk-session",
        help="stdio: serve through the mcp SDK's session instead of the frame relay",
    ),
    max_line_bytes: int | None = typer.Option(
        None,
        "--max-line-bytes",
        min=1024,
        help="stdio relay: the longest message accepted, in bytes (default 8 MiB)",
    ),
    uri: str | None = UriOption,
) -> None:
    """Run an MCP gateway: every tools/call checked by policies, masked, logged, audited."""
    import anyio

    from mlwarden.gateway.policy import load

    try:
        from mlwarden.gateway.proxy import Gateway, http_app, http_identity, log, serve_stdio
    except ImportError as exc:
        raise typer.BadParameter(
            f"the MCP gateway needs the mcp SDK ({exc}): pip install 'mlwarden[agents]'"
        ) from None
    from mlwarden.errors import PermissionDenied
    from mlwarden.gateway.service import AgentIdentity

    if transport not in ("stdio", "http"):
        raise typer.BadParameter("use stdio or http", param_hint="--transport")
    if transport == "http" and metrics_port is not None:
        raise typer.BadParameter(
            "over http the gateway serves /metrics on its own port", param_hint="--metrics-port"
        )
    # The log writer thread masks and signs batches while holding the GIL; a call arriving
    # meanwhile waits for the switch interval (5 ms by default). 0.5 ms bounds that wait.
    sys.setswitchinterval(GIL_SWITCH_S)
    tools = tuple(allow_tool)
    wd = open_local(uri, "the MCP gateway")
    registered = None
    if agent is not None and "@" in agent:
        # the registered version is the authority: its allow-list and policies, no flags
        if policy or allow_tool:
            wd.close()
            raise typer.BadParameter(
                "a registered agent brings its own allow-list and policies: "
                "drop --policy and --allow-tool (register a new version to change them)",
                param_hint="--agent",
            )
        try:
            registered = wd.get_agent(agent)
        except BaseException:
            wd.close()
            raise
        wd.gateway.policies = wd.agents.policies(registered)
        tools = registered.tools
        log(
            f"agent {registered.ref} ({agent}): {len(tools)} tools, policies "
            f"{list(registered.policy_names)}"
        )
    else:
        wd.gateway.policies = tuple(load(p) for p in policy)
    wd.gateway.server = upstream

    def identity_of(name: str) -> AgentIdentity:
        if registered is None:
            return AgentIdentity(name, tools)
        return AgentIdentity(name, tools, registered.version, registered.model)

    if masking is not None:
        from mlwarden.privacy.masking import MaskingPolicy

        wd.gateway.default_masking = MaskingPolicy.from_yaml(masking, keyring=wd.masking.keyring)
    try:
        if transport == "stdio":
            identity = identity_of(registered.name if registered else agent or wd.actor)
            if metrics_port is not None:
                try:
                    wd.gateway.metrics.serve(host, metrics_port)
                except OSError as exc:
                    raise typer.BadParameter(
                        f"cannot listen on {host}:{metrics_port}: {exc.strerror}",
                        param_hint="--metrics-port",
                    ) from None
                log(f"metrics on http://{host}:{metrics_port}/metrics")
            gateway = Gateway(
                wd.gateway,
                identify=lambda ctx: identity,
                approval_timeout_s=approval_timeout,
                subject_arg=subject_arg,
            )
            anyio.run(
                partial(serve_stdio, relay=not sdk_session, max_line_bytes=max_line_bytes),
                gateway,
                upstream,
            )
            return
        import uvicorn

        from mlwarden.server.auth import Authenticator
        from mlwarden.settings import ServerSettings

        # as in the server: a token accepted is trusted for auth_ttl_s without a look-up
        auth = Authenticator(wd.access, ServerSettings().auth_ttl_s)

        def served(user: str) -> AgentIdentity:
            if registered is not None and user != registered.name:
                raise PermissionDenied(
                    f"this gateway serves agent {registered.name!r}; the token is {user!r}'s",
                    actor=user,
                )
            return identity_of(user)

        def authenticate(token: str) -> AgentIdentity:
            return served(auth.authenticate(token).name)

        def cached(token: str) -> AgentIdentity | None:
            user = auth.cached(token)
            return None if user is None else served(user.name)

        gateway = Gateway(
            wd.gateway,
            identify=http_identity,
            approval_timeout_s=approval_timeout,
            subject_arg=subject_arg,
        )
        app_ = http_app(gateway, upstream, authenticate=authenticate, cached=cached)
        log(f"MCP gateway on http://{host}:{port}/mcp -> {upstream}")
        uvicorn.run(app_, host=host, port=port, log_level="warning")
    finally:
        wd.close()


def _calls_table(calls: list) -> Table:
    table = Table()
    for col in ("id", "agent", "tool", "decision", "status", "needs", "arguments"):
        table.add_column(col)
    for c in calls:
        table.add_row(
            c.id,
            c.agent,
            c.tool,
            c.decision,
            c.status,
            str(c.approvals_needed),
            str(c.arguments)[:80],
        )
    return table


@app.command("calls")
@handle_errors
def calls(
    agent: str | None = typer.Option(None, help="one agent's calls"),
    status: str | None = typer.Option(None, help="pending, approved, denied, done, error, …"),
    limit: int = typer.Option(50, min=1, max=10_000),
    uri: str | None = UriOption,
    as_json: bool = JsonOption,
) -> None:
    """Logged tool calls, newest first (arguments and results as masked)."""
    with open_local(uri, "gateway calls") as wd:
        items = wd.gateway.calls(agent=agent, status=status, limit=limit)
        show_list(items, as_json, _calls_table, "No tool calls logged.")


@approvals_app.command("list")
@handle_errors
def approvals_list(uri: str | None = UriOption, as_json: bool = JsonOption) -> None:
    """Tool calls waiting for approval."""
    with open_local(uri, "gateway approvals") as wd:
        items = wd.gateway.calls(status="pending", limit=1000)
        show_list(items, as_json, _calls_table, "No tool call waits for approval.")


def _verdict(call_id: str, approve: bool, comment: str | None, uri: str | None, as_json: bool):
    with open_local(uri, "gateway approvals") as wd:
        call = wd.gateway.decide_pending(call_id, actor=wd.actor, approve=approve, comment=comment)
        if as_json:
            print_json(call.to_dict())
        else:
            console.print(f"tool call {call.id} ({call.agent}: {call.tool}) is {call.status}")


@approvals_app.command("approve")
@handle_errors
def approve(
    call_id: str = typer.Argument(..., help="the call's id (gateway approvals list)"),
    comment: str | None = typer.Option(None, help="why"),
    uri: str | None = UriOption,
    as_json: bool = JsonOption,
) -> None:
    """Approve a held tool call (as MLWARDEN_ACTOR); some need two different people."""
    _verdict(call_id, True, comment, uri, as_json)


@approvals_app.command("deny")
@handle_errors
def deny(
    call_id: str = typer.Argument(..., help="the call's id"),
    comment: str | None = typer.Option(None, help="why"),
    uri: str | None = UriOption,
    as_json: bool = JsonOption,
) -> None:
    """Deny a held tool call: the agent gets an MCP error."""
    _verdict(call_id, False, comment, uri, as_json)
