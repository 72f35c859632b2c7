"""``mlwarden monitor run|show``, ``mlwarden alerts …`` and ``models block|unblock``.

``mlwarden monitor NAME`` still works: an unknown first word is taken as ``show NAME``.
Exit codes: 0 done, 1 a Warden error (an invalid policy, an unknown model), 2 unexpected.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer
from rich.markup import escape
from rich.table import Table
from typer.core import TyperGroup

from mlwarden.cli import monitor as monitor_cli
from mlwarden.cli._common import (
    JsonOption,
    UriOption,
    console,
    handle_errors,
    open_local,
    open_warden,
    print_json,
    show_list,
)


class _ShowByDefault(TyperGroup):
    """``mlwarden monitor credit-risk`` means ``mlwarden monitor show credit-risk``."""

    def resolve_command(self, ctx: Any, args: list[str]) -> Any:
        if args and args[0] not in self.commands and not args[0].startswith("-"):
            args = ["show", *args]
        return super().resolve_command(ctx, args)


monitor_app = typer.Typer(
    cls=_ShowByDefault,
    help="Monitoring: windows of the prediction log, and monitoring policies over them.",
    no_args_is_help=True,
)
monitor_app.command("show")(monitor_cli.monitor)
alerts_app = typer.Typer(
    help="Alerts raised by monitoring policies, their deliveries, installed policies.",
    no_args_is_help=True,
)

_STATE_STYLE = {"firing": "bold red", "pending": "yellow", "ok": "green", "no-data": "dim"}


@monitor_app.command("run")
@handle_errors
def run(
    policy: list[Path] | None = typer.Option(
        None, "--policy", "-p", help="Monitoring policy file (repeatable); default: installed."
    ),
    model: list[str] | None = typer.Option(None, "--model", "-m", help="Only these models."),
    refresh: bool = typer.Option(
        False, "--refresh", help="Compute new monitoring windows from the log first."
    ),
    uri: str | None = UriOption,
    as_json: bool = JsonOption,
) -> None:
    """Evaluate monitoring policies once over the newest stored windows; fire, resolve,
    roll back, block and notify as the rules say."""
    wd = open_warden(uri)
    evaluation = wd.evaluate_monitoring(
        [str(p) for p in policy] if policy else None, names=model or None, refresh=refresh
    )
    if as_json:
        print_json(evaluation.to_dict())
        return
    if not evaluation.outcomes:
        console.print(
            "No monitoring policy applies to any model (install one with "
            "`mlwarden alerts install FILE`, or pass --policy)."
        )
        return
    table = Table(title=f"Monitoring policies ({evaluation.duration_s * 1000:.0f} ms)")
    for col in ("policy", "rule", "model", "state", "change", "values / reason"):
        table.add_column(col, overflow="fold")
    for o in evaluation.outcomes:
        style = _STATE_STYLE.get(o.state, "")
        detail = ", ".join(f"{k}={v}" for k, v in o.values.items()) or o.message
        table.add_row(
            o.policy,
            o.rule,
            f"{o.model}@{o.version}" if o.version else o.model,
            f"[{style}]{o.state}[/]" if style else o.state,
            o.change or "",
            escape(detail),
        )
    console.print(table)


def alerts_table(alerts: list[Any]) -> Table:
    table = Table(title="Alerts")
    for col in ("id", "status", "severity", "version", "policy/rule", "started", "actions"):
        table.add_column(col, overflow="fold")
    for a in alerts:
        status = "[bold red]firing[/]" if a.status == "firing" else "[green]resolved[/]"
        actions = ", ".join(
            f"{x['action']}{'' if x.get('ok') else ' (failed)'}"
            for x in a.actions
            if x.get("action") != "alert"
        )
        table.add_row(
            str(a.id),
            status,
            a.severity,
            a.ref,
            f"{a.policy}/{a.rule}",
            f"{a.started_at:%Y-%m-%d %H:%M:%S}",
            actions or "—",
        )
    return table


@alerts_app.command("list")
@handle_errors
def list_alerts(
    model: str | None = typer.Option(None, "--model", "-m", help="Only this model."),
    status: str | None = typer.Option(None, help="firing or resolved"),
    limit: int = typer.Option(50, help="At most this many, newest first."),
    uri: str | None = UriOption,
    as_json: bool = JsonOption,
) -> None:
    """Alerts, newest first."""
    alerts = open_warden(uri).alerts(model, status=status, limit=limit)
    show_list(alerts, as_json, alerts_table, "No alerts.")


@alerts_app.command("deliveries")
@handle_errors
def deliveries(
    alert: int | None = typer.Option(None, "--alert", help="Only this alert's deliveries."),
    failed: bool = typer.Option(False, "--failed", help="Only failed attempts."),
    limit: int = typer.Option(50, help="At most this many, newest first."),
    uri: str | None = UriOption,
    as_json: bool = JsonOption,
) -> None:
    """Every attempt to send an alert to a channel."""
    items = open_warden(uri).alert_deliveries(alert, failed=True if failed else None, limit=limit)
    if as_json:
        print_json([d.to_dict() for d in items])
        return
    table = Table(title="Alert deliveries")
    for col in ("id", "alert", "event", "channel", "attempt", "result", "ms", "at"):
        table.add_column(col, overflow="fold")
    for d in items:
        result = "[green]ok[/]" if d.ok else f"[red]{escape(d.error or 'failed')}[/]"
        table.add_row(
            str(d.id),
            str(d.alert_id),
            d.event,
            f"{d.channel} ({d.format})",
            str(d.attempt),
            result,
            str(d.duration_ms),
            f"{d.created_at:%H:%M:%S}",
        )
    console.print(table)


@alerts_app.command("install")
@handle_errors
def install(
    path: Path = typer.Argument(..., help="Monitoring policy file (kind: monitoring)."),
    uri: str | None = UriOption,
    as_json: bool = JsonOption,
) -> None:
    """Install (or replace, by name) a monitoring policy: `mlwarden serve` runs it."""
    pol = open_warden(uri).install_monitoring_policy(path)
    if as_json:
        print_json(pol.to_dict())
    else:
        console.print(f"Installed monitoring policy {pol.name} (sha256 {pol.sha256[:12]}…)")


@alerts_app.command("policies")
@handle_errors
def policies(uri: str | None = UriOption, as_json: bool = JsonOption) -> None:
    """Installed monitoring policies."""
    pols = open_warden(uri).monitoring_policies()
    if as_json:
        print_json([p.to_dict() for p in pols])
        return
    table = Table(title="Monitoring policies")
    for col in ("name", "alias", "rules", "applies to", "sha256"):
        table.add_column(col, overflow="fold")
    for p in pols:
        table.add_row(
            p.name,
            p.alias,
            ", ".join(f"{r.id} ({'+'.join(r.actions)})" for r in p.rules),
            str(p.applies_to or "all models"),
            p.sha256[:12],
        )
    console.print(table)


@alerts_app.command("uninstall")
@handle_errors
def uninstall(name: str = typer.Argument(...), uri: str | None = UriOption) -> None:
    """Remove an installed monitoring policy."""
    wd = open_local(uri, "alerts uninstall")
    wd.alerting.uninstall(name, actor=wd.actor)
    console.print(f"Removed monitoring policy {name}")


channels_app = typer.Typer(
    help="Alert channels (admins): the only places alerts go; policies name them.",
    no_args_is_help=True,
)
alerts_app.add_typer(channels_app, name="channels")


@channels_app.command("add")
@handle_errors
def add_channel(
    name: str = typer.Argument(..., help="Channel name, as policies write it."),
    url: str | None = typer.Option(None, "--url", help="http(s) URL (not for format log)."),
    fmt: str = typer.Option("json", "--format", help="json, slack, alertmanager or log."),
    secret_env: str | None = typer.Option(
        None, "--secret-env", help="Variable holding the HMAC key: MLWARDEN_WEBHOOK_SECRET_…"
    ),
    uri: str | None = UriOption,
    as_json: bool = JsonOption,
) -> None:
    """Install (or replace) an alert channel."""
    channel = open_warden(uri).install_alert_channel(name, url, format=fmt, secret_env=secret_env)
    if as_json:
        print_json(channel.to_dict())
    else:
        console.print(f"Installed alert channel {channel.name} ({channel.format})")


@channels_app.command("list")
@handle_errors
def list_channels(uri: str | None = UriOption, as_json: bool = JsonOption) -> None:
    """Installed alert channels."""
    items = open_warden(uri).alert_channels()
    if as_json:
        print_json([c.to_dict() for c in items])
        return
    table = Table(title="Alert channels")
    for col in ("name", "format", "url", "secret_env", "by"):
        table.add_column(col, overflow="fold")
    for c in items:
        table.add_row(c.name, c.format, c.url or "—", c.secret_env or "—", c.created_by or "")
    console.print(table)


@channels_app.command("remove")
@handle_errors
def remove_channel(name: str = typer.Argument(...), uri: str | None = UriOption) -> None:
    """Remove an alert channel no installed policy names."""
    open_warden(uri).remove_alert_channel(name)
    console.print(f"Removed alert channel {name}")


@handle_errors
def block(
    ref: str = typer.Argument(..., help="Version, e.g. credit-risk@3"),
    reason: str = typer.Option(..., "--reason", "-r"),
    uri: str | None = UriOption,
) -> None:
    """Block a version: promotions to it are refused until it is unblocked."""
    mv = open_warden(uri).block(ref, reason=reason)
    console.print(f"{mv.ref} is blocked")


@handle_errors
def unblock(
    ref: str = typer.Argument(..., help="Version, e.g. credit-risk@3"),
    reason: str = typer.Option(..., "--reason", "-r"),
    uri: str | None = UriOption,
) -> None:
    """Lift a block (validators and admins)."""
    mv = open_warden(uri).unblock(ref, reason=reason)
    console.print(f"{mv.ref} is unblocked (status {mv.status})")
