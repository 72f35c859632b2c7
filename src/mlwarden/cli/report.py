"""``mlwarden report``: documents from evidence, signed evidence bundles, offline verification."""

from __future__ import annotations

from pathlib import Path

import typer

from mlwarden.cli._common import (
    JsonOption,
    UriOption,
    console,
    handle_errors,
    open_warden,
    print_json,
)

app = typer.Typer(
    help="Model cards, EU AI Act documentation, evidence bundles.", no_args_is_help=True
)

FormatOption = typer.Option(
    "md", "--format", "-f", help="md, html or pdf (pdf needs Chromium and --out)."
)
OutOption = typer.Option(None, "--out", "-o", help="Write to this file instead of stdout.")


def _emit(
    kind: str, ref: str, other: str | None, fmt: str, out: Path | None, uri: str | None
) -> None:
    wd = open_warden(uri)
    result = wd.report(kind, ref, other, format=fmt, out=out)
    if out is None:
        # Plain stdout, not Rich: the Markdown or HTML must come out byte for byte.
        typer.echo(result, nl=False)
    else:
        console.print(f"Wrote {result}")


def _document(kind: str, doc: str) -> None:
    @handle_errors
    def command(
        ref: str = typer.Argument(..., help="NAME@VERSION (or an alias)."),
        fmt: str = FormatOption,
        out: Path | None = OutOption,
        uri: str | None = UriOption,
    ) -> None:
        _emit(kind, ref, None, fmt, out, uri)

    command.__doc__ = doc
    app.command(kind)(command)


_document("card", "Model card (Model Card Toolkit sections, Hugging Face front matter).")
_document("annex-iv", "EU AI Act Annex IV technical documentation, sourced, with its gap report.")
_document("gaps", "What the Annex IV documentation is missing, and how to fill it.")
_document("instructions", "Draft Art. 13 instructions for use.")
_document("monitoring-plan", "Post-market monitoring plan.")
_document("art12", "EU AI Act Art. 12 logging duties mapped to audit events (recorded).")
_document("soa", "ISO/IEC 42001 Statement of Applicability (recorded).")
_document(
    "oversight", "EU AI Act Art. 14 human-oversight record: rule, queue, decisions (recorded)."
)


@app.command("diff")
@handle_errors
def diff(
    old: str = typer.Argument(..., help="NAME@V (from)."),
    new: str = typer.Argument(..., help="NAME@V (to)."),
    fmt: str = FormatOption,
    out: Path | None = OutOption,
    uri: str | None = UriOption,
) -> None:
    """Version-to-version diff: metrics, signature, lineage, fairness, importance."""
    _emit("diff", old, new, fmt, out, uri)


@app.command("ll144")
@handle_errors
def ll144(
    model: str = typer.Argument(..., help="NAME (all versions) or NAME@V."),
    since: str | None = typer.Option(None, help="ISO start of the period (inclusive)."),
    until: str | None = typer.Option(None, help="ISO end of the period (exclusive)."),
    sex: str = typer.Option("sex", help="Logged column holding sex."),
    race: str | None = typer.Option(
        None, help="Logged column holding race/ethnicity (default: race or ethnicity)."
    ),
    scoring: bool | None = typer.Option(
        None, "--scoring/--selection", help="Scoring rate (above the median) or selection rate."
    ),
    data_source: str | None = typer.Option(
        None, help="Explanation of the data (default: Warden's prediction log)."
    ),
    csv_out: Path | None = typer.Option(None, "--csv", help="Also write the tables as CSV."),
    fmt: str = FormatOption,
    out: Path | None = OutOption,
    uri: str | None = UriOption,
) -> None:
    """NYC Local Law 144 bias audit over logged predictions; recorded as `ll144` evidence."""
    from mlwarden.reports.ll144 import ll144_csv, ll144_markdown
    from mlwarden.reports.render import render

    wd = open_warden(uri)
    audit = wd.bias_audit(
        model, since=since, until=until, sex=sex, race=race, scoring=scoring,
        data_source=data_source,
    )  # fmt: skip
    if csv_out is not None:
        csv_out.write_text(ll144_csv(audit))
    result = render(ll144_markdown(audit), fmt, out)
    if out is None:
        typer.echo(result, nl=False)
    else:
        console.print(
            f"Wrote {result}; lowest impact ratio {audit['min_impact_ratio']} "
            f"(recorded on {audit['attached_to']})"
        )


@app.command("validation")
@handle_errors
def validation(
    ref: str = typer.Argument(..., help="NAME@V to validate."),
    challenger: str | None = typer.Option(None, help="NAME@V to benchmark against."),
    fmt: str = FormatOption,
    out: Path | None = OutOption,
    uri: str | None = UriOption,
) -> None:
    """Model validation report; its measurements are recorded as `validation` evidence."""
    wd = open_warden(uri)
    wd.validate(ref, challenger=challenger)
    result = wd.report("validation", ref, format=fmt, out=out)
    if out is None:
        typer.echo(result, nl=False)
    else:
        console.print(f"Wrote {result}")


@app.command("bundle")
@handle_errors
def bundle(
    ref: str = typer.Argument(..., help="NAME@VERSION."),
    out: Path | None = typer.Option(
        None, "--out", "-o", help="Zip to write (default NAME-vV-evidence.zip)."
    ),
    uri: str | None = UriOption,
    as_json: bool = JsonOption,
) -> None:
    """Write a signed evidence bundle (documents, evidence, decisions, approvals, proofs)."""
    wd = open_warden(uri)
    mv = wd.get_model_version(ref)
    path = wd.bundle(mv.ref, out or Path(f"{mv.name}-v{mv.version}-evidence.zip"))
    if as_json:
        print_json({"ref": mv.ref, "path": str(path)})
    else:
        console.print(f"Wrote {path} ({mv.ref}); check it with `mlwarden report verify {path}`")


@app.command("verify")
@handle_errors
def verify(
    path: Path = typer.Argument(..., help="The bundle zip."),
    pubkey: Path | None = typer.Option(
        None, "--pubkey", help="Pin the signer: the audit public key (PEM or base64)."
    ),
    as_json: bool = JsonOption,
) -> None:
    """Check a bundle offline; exit 1 naming each altered, missing or extra file."""
    from mlwarden.reports import verify_bundle

    result = verify_bundle(path, pubkey)
    if as_json:
        print_json(result.to_dict())
    else:
        typer.echo(result.summary())
    if not result.ok:
        raise typer.Exit(1)
