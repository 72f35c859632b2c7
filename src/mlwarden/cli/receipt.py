"""``mlwarden receipt ID`` (a signed decision receipt) and ``mlwarden receipt verify FILE``."""

from __future__ import annotations

from pathlib import Path

import typer

from mlwarden.cli._common import UriOption, console, handle_errors, open_warden, print_json
from mlwarden.errors import ValidationError


@handle_errors
def receipt(
    target: str = typer.Argument(..., help="A prediction id, or `verify`."),
    file: Path | None = typer.Argument(None, help="With `verify`: the receipt to check."),
    fmt: str = typer.Option("md", "--format", "-f", help="md, html, json or pdf (needs --out)."),
    out: Path | None = typer.Option(None, "--out", "-o", help="Write here instead of stdout."),
    pubkey: Path | None = typer.Option(
        None, "--pubkey", help="verify: pin the signer, the audit public key (PEM or base64)."
    ),
    uri: str | None = UriOption,
    as_json: bool = typer.Option(False, "--json", help="verify: the result as JSON."),
) -> None:
    """A signed decision receipt for one prediction (inputs as masked, version and approvals,
    reason codes and a counterfactual without protected attributes, the audit proof); or
    `mlwarden receipt verify FILE --pubkey KEY` to check one offline (exit 1 if it fails)."""
    from mlwarden import reports

    if target == "verify":
        if file is None:
            raise ValidationError("receipt verify needs the receipt file", field="file")
        problems = reports.verify_receipt(file, pubkey)
        if as_json:
            print_json({"path": str(file), "ok": not problems, "problems": problems})
        elif problems:
            typer.echo(f"FAILED: {file}: " + "; ".join(problems))
        else:
            pinned = "" if pubkey else " (its own key; pass --pubkey to pin the signer)"
            typer.echo(f"OK: {file} verifies{pinned}")
        if problems:
            raise typer.Exit(1)
        return
    if file is not None:
        raise ValidationError("give one prediction id (or `verify FILE`)", field="file")
    signed = open_warden(uri).receipt(target)
    result = reports.render_receipt(signed, fmt, out)
    if out is None:
        typer.echo(result, nl=False)  # byte for byte: the signed JSON is inside
    else:
        console.print(f"Wrote {result}")
