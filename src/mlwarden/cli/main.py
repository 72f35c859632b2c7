"""The ``mlwarden`` command."""

from __future__ import annotations

import typer

from mlwarden.cli import (
    access,
    agents,
    alerts,
    audit,
    db,
    findings,
    gateway,
    imports,
    models,
    permissions,
    policy,
    privacy,
    review,
    serve,
)
from mlwarden.cli import receipt as receipt_cli
from mlwarden.cli import report as report_cli
from mlwarden.cli._common import (
    JsonOption,
    UriOption,
    console,
    handle_errors,
    open_local,
    print_json,
)

app = typer.Typer(
    name="mlwarden",
    help="Warden: govern machine-learning models in production.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
app.add_typer(models.app, name="models")
app.add_typer(report_cli.app, name="report")
app.add_typer(findings.app, name="findings")
app.add_typer(review.app, name="review")
app.add_typer(db.app, name="db")
app.add_typer(imports.app, name="import")
app.add_typer(audit.app, name="audit")
app.add_typer(access.users_app, name="users")
app.add_typer(access.tokens_app, name="tokens")
app.command("approve")(access.approve)
app.command("approvals")(access.approvals)
app.command("login")(access.login)
app.add_typer(permissions.app, name="access")
app.add_typer(policy.app, name="policy")
app.command("promote")(policy.promote)
app.command("rollback")(policy.rollback)
app.command("serve")(serve.serve)
models.app.command("history")(policy.history)
# `monitor show|run`; a bare `monitor NAME` is `monitor show NAME` (cli/alerts.py)
app.add_typer(alerts.monitor_app, name="monitor")
app.add_typer(alerts.alerts_app, name="alerts")
models.app.command("block")(alerts.block)
models.app.command("unblock")(alerts.unblock)
app.command("scan")(privacy.scan)
app.command("erase")(privacy.erase)
app.command("receipt")(receipt_cli.receipt)
app.command("export")(privacy.export)
app.add_typer(privacy.retention_app, name="retention")
app.add_typer(privacy.masking_app, name="masking")
app.add_typer(gateway.app, name="gateway")
app.add_typer(agents.app, name="agent")


@app.command()
@handle_errors
def init(uri: str | None = UriOption, as_json: bool = JsonOption) -> None:
    """Create the store (database schema, artifact folder, audit signing key)."""
    from mlwarden.store.sql.audit import key_path, public_key_path

    wd = open_local(uri, "init")
    # Warden() creates the key on first use of an empty log; a log signed by another key
    # needs MLWARDEN_KEY_FILE pointed at that key (the error says so).
    if wd.audit.size == 0:
        wd.audit.checkpoint()  # pins this key to the store (a size-0 signed checkpoint)
    key = key_path(wd.settings)
    info = {
        "uri": wd.uri,
        "artifacts": wd.artifacts.root,
        "key_file": str(key),
        "public_key_file": str(public_key_path(key)),
    }
    if as_json:
        print_json(info)
    else:
        console.print(
            f"Warden store ready: {wd.uri}\nArtifacts: {wd.artifacts.root}\n"
            f"Audit signing key: {info['key_file']} (keep it out of database backups)\n"
            f"Public key: {info['public_key_file']} (give it to verifiers)"
        )


@app.command()
@handle_errors
def demo(
    story: str = typer.Argument("models", help="models (the default) or agent"),
    uri: str | None = UriOption,
    as_json: bool = JsonOption,
) -> None:
    """The governance story on Adult: a blocked candidate, an approved promotion, drift that
    fires an alert and rolls production back, and the audit trail. ``demo agent``: an AI
    agent's tool calls through the MCP gateway, masked, blocked, approved and proven."""
    from mlwarden.cli._common import err_console
    from mlwarden.demo import run_demo

    if story not in ("models", "agent"):
        raise typer.BadParameter("use models or agent", param_hint="STORY")
    wd = open_local(uri, "demo")
    if story == "agent":
        from mlwarden.gateway.demo import run_agent_demo

        out = run_agent_demo(wd.gateway, wd.audit, err_console if as_json else console)
        wd.close()
        if as_json:
            print_json(out)
        return
    results = run_demo(wd, console=err_console if as_json else console)
    if as_json:
        print_json(results)
        return
    name = results["model"]
    console.print(models.models_table(wd.list_models()))
    for table in models.version_tables(wd.get_model_version(f"{name}@production"))[:2]:
        console.print(table)
    console.print(f"\nStore: {wd.uri}. Next: `mlwarden alerts list`, `mlwarden audit verify`.")


@app.command()
def version() -> None:
    """Print the installed version."""
    from mlwarden._version import __version__

    console.print(__version__)


def main() -> None:
    app()
