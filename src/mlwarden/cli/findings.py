"""``mlwarden findings``: the model-validation findings register (every change audited)."""

from __future__ import annotations

import typer
from rich.table import Table

from mlwarden.cli._common import (
    JsonOption,
    UriOption,
    console,
    handle_errors,
    open_warden,
    print_json,
)

app = typer.Typer(help="Validation findings: owner, severity, status.", no_args_is_help=True)


@app.command("add")
@handle_errors
def add(
    ref: str = typer.Argument(..., help="NAME (model-wide) or NAME@V."),
    title: str = typer.Option(..., "--title", help="What was found."),
    severity: str = typer.Option(..., "--severity", help="low, medium, high or critical."),
    owner: str = typer.Option(..., "--owner", help="Who must remediate it."),
    description: str | None = typer.Option(None, "--description", help="Details."),
    uri: str | None = UriOption,
    as_json: bool = JsonOption,
) -> None:
    """Record a finding (audited as finding.add)."""
    wd = open_warden(uri)
    finding = wd.findings.add(
        ref, title=title, severity=severity, owner=owner, description=description, actor=wd.actor
    )
    if as_json:
        print_json(finding.to_dict())
    else:
        console.print(
            f"Finding #{finding.id} on {finding.ref}: {finding.severity}, {finding.status}"
        )


@app.command("update")
@handle_errors
def update(
    finding_id: int = typer.Argument(..., help="The finding's number."),
    status: str | None = typer.Option(
        None, "--status", help="open, in_progress, remediated, accepted or closed."
    ),
    severity: str | None = typer.Option(None, "--severity"),
    owner: str | None = typer.Option(None, "--owner"),
    title: str | None = typer.Option(None, "--title"),
    description: str | None = typer.Option(None, "--description"),
    uri: str | None = UriOption,
    as_json: bool = JsonOption,
) -> None:
    """Change a finding (audited as finding.update with the fields before and after)."""
    wd = open_warden(uri)
    finding = wd.findings.update(
        finding_id, actor=wd.actor, status=status, severity=severity, owner=owner, title=title,
        description=description,
    )  # fmt: skip
    if as_json:
        print_json(finding.to_dict())
    else:
        console.print(f"Finding #{finding.id}: {finding.severity}, {finding.status}")


@app.command("list")
@handle_errors
def list_(
    ref: str = typer.Argument(..., help="NAME or NAME@V (with the model-wide findings)."),
    uri: str | None = UriOption,
    as_json: bool = JsonOption,
) -> None:
    """The findings of a model or version."""
    wd = open_warden(uri)
    found = wd.findings.list(ref)
    if as_json:
        print_json([f.to_dict() for f in found])
        return
    table = Table("#", "On", "Severity", "Status", "Owner", "Title", "Updated")
    for f in found:
        table.add_row(
            str(f.id), f.ref, f.severity, f.status, f.owner, f.title, f.updated_at.isoformat()
        )
    console.print(table)
