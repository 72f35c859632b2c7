"""Privacy commands: scan files for personal data, masking policies, data-subject requests."""

from __future__ import annotations

from pathlib import Path

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

retention_app = typer.Typer(help="Delete logged predictions after N days.", no_args_is_help=True)
masking_app = typer.Typer(help="Per-model masking policies.", no_args_is_help=True)


@handle_errors
def scan(
    path: Path = typer.Argument(..., exists=True, dir_okay=False, help="CSV or Parquet file"),
    as_json: bool = JsonOption,
) -> None:
    """Find personal data in a file's columns (validators, not bare regexes)."""
    import pandas as pd

    from mlwarden.privacy import scan as scan_frame

    frame = pd.read_parquet(path) if path.suffix in (".parquet", ".pq") else pd.read_csv(path)
    report = scan_frame(frame)
    if as_json:
        print_json(report.to_dict())
        return
    table = Table(title=f"Personal data in {path.name}")
    for col in ("column", "entity", "kind", "confidence", "validated", "evidence"):
        table.add_column(col)
    for f in report.findings:
        table.add_row(
            f.column, f.entity, f.kind, f"{f.confidence:.2f}", f"{f.fraction:.0%}", f.evidence
        )
    console.print(table if report.findings else "No personal data found.")


@handle_errors
def erase(
    subject: str = typer.Option(..., "--subject", help="the data subject's identifier"),
    reason: str | None = typer.Option(None, help="e.g. the request's reference"),
    vacuum: bool = typer.Option(
        False, "--vacuum", help="PostgreSQL: VACUUM the affected tables now (no dead copies)."
    ),
    uri: str | None = UriOption,
    as_json: bool = JsonOption,
) -> None:
    """GDPR erasure: shred the subject's logged payloads (the audit log still verifies)."""
    result = open_warden(uri).erase_subject(subject, reason=reason, vacuum=vacuum)
    if as_json:
        print_json(result)
    else:
        console.print(
            f"Erased subject {result['subject'][:12]}…: "
            f"{result['predictions']} predictions made unreadable"
        )


@handle_errors
def export(
    subject: str = typer.Option(..., "--subject", help="the data subject's identifier"),
    out: Path | None = typer.Option(None, help="write JSON here instead of stdout"),
    uri: str | None = UriOption,
) -> None:
    """GDPR access request: every logged prediction about the subject, as JSON."""
    import json

    from mlwarden._json import jsonable

    result = open_warden(uri).export_subject(subject)
    if out is None:
        print_json(result)
    else:
        out.write_text(json.dumps(jsonable(result), indent=2))
        console.print(f"{len(result['predictions'])} predictions written to {out}")


@retention_app.command("set")
@handle_errors
def retention_set(name: str, days: int, uri: str | None = UriOption) -> None:
    """Keep NAME's logged predictions for DAYS days."""
    open_warden(uri).set_retention(name, days)
    console.print(f"{name}: predictions kept {days} days (run `mlwarden retention apply`)")


@retention_app.command("apply")
@handle_errors
def retention_apply(uri: str | None = UriOption, as_json: bool = JsonOption) -> None:
    """Delete predictions older than each model's retention."""
    purged = open_warden(uri).apply_retention()
    if as_json:
        print_json(purged)
    else:
        for model, n in purged.items():
            console.print(f"{model}: {n} predictions deleted")


@masking_app.command("set")
@handle_errors
def masking_set(
    name: str,
    policy: Path = typer.Argument(..., exists=True, dir_okay=False, help="YAML policy"),
    uri: str | None = UriOption,
) -> None:
    """Mask NAME's logged inputs with a YAML policy."""
    open_warden(uri).set_masking_policy(name, policy.read_text())
    console.print(f"{name}: masking policy set from {policy}")
