"""``mlwarden audit …``: read, prove, checkpoint, export and verify the audit log."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer
from rich.table import Table

from mlwarden.cli._common import (
    JsonOption,
    UriOption,
    console,
    counting_bar,
    err_console,
    handle_errors,
    open_warden,
    print_json,
    show_list,
)
from mlwarden.errors import ValidationError

if TYPE_CHECKING:
    from mlwarden.api import WardenAPI
    from mlwarden.audit.log import AuditLog
    from mlwarden.audit.verify import VerificationResult
    from mlwarden.entities.audit import Checkpoint

app = typer.Typer(help="The tamper-evident audit log.", no_args_is_help=True)


def signed_checkpoint(wd: WardenAPI) -> Checkpoint:
    """The latest checkpoint, never signing anything new (``AuditLog.signed_checkpoint``)."""
    return _store_log(wd).signed_checkpoint()


def read_only(wd: WardenAPI, public_key: Any = None) -> AuditLog:
    """The store's log without its signer (trusting ``public_key`` if given)."""
    return _store_log(wd).read_only(public_key)


def _store_log(wd: WardenAPI) -> AuditLog:
    """The store's audit log: these commands check the store itself, never a server's
    word for it."""
    from mlwarden.audit.log import AuditLog

    if not isinstance(wd.audit, AuditLog):
        from mlwarden.errors import ValidationError

        raise ValidationError(
            "this command reads the audit store itself: give --uri the database "
            "(sqlite:///… or postgresql://…), not a server URL",
            field="uri",
        )
    return wd.audit


UNPINNED = (
    "[yellow]warning:[/] no public key pinned (--pubkey or MLWARDEN_AUDIT_PUBKEY): checked "
    "against the store's own key, so a swapped key and a re-signed log would read OK too"
)


def pinned_key(wd: WardenAPI, pubkey: str | None) -> str | None:
    """The key the verifier trusts: ``--pubkey``, else ``MLWARDEN_AUDIT_PUBKEY``; ``None``
    when neither is given (the store's own key is then all there is)."""
    return pubkey or wd.settings.audit_pubkey


def events_table(events: list) -> Table:  # type: ignore[type-arg]
    table = Table(title="Audit log")
    for col in ("seq", "time (UTC)", "actor", "action", "subject", "payload"):
        table.add_column(col, overflow="fold")
    for e in events:
        payload = "(erased)" if e.payload_json is None else e.payload_json
        if len(payload) > 80:
            payload = payload[:77] + "…"
        table.add_row(
            str(e.seq), e.time[:19].replace("T", " "), e.actor, e.action, e.subject, payload
        )
    return table


@app.command("log")
@handle_errors
def log(
    model: str | None = typer.Option(None, "--model", help="Only events about this model."),
    action: str | None = typer.Option(None, "--action", help="Only this action."),
    since: str | None = typer.Option(None, "--since", help="ISO time, e.g. 2026-11-30."),
    actor: str | None = typer.Option(None, "--actor", help="Only this actor."),
    limit: int = typer.Option(100, "--limit", help="At most this many (newest first)."),
    uri: str | None = UriOption,
    as_json: bool = JsonOption,
) -> None:
    """List audit events, newest first."""
    wd = open_warden(uri)
    events = wd.audit.events(
        model=model, action=action, since=since, actor=actor, limit=limit, newest_first=True
    )
    show_list(events, as_json, events_table, "No audit events match.")


@app.command("proof")
@handle_errors
def proof(
    seq: int = typer.Argument(..., help="Event seq."),
    uri: str | None = UriOption,
    as_json: bool = JsonOption,
) -> None:
    """Inclusion proof of one event in the latest signed checkpoint."""
    wd = open_warden(uri)
    p = wd.audit.prove(seq)
    event = wd.audit.get(seq)
    ok = p.verify_event(event, signed_checkpoint(wd), wd.audit.public_key)
    if as_json:
        print_json({**p.to_dict(), "event": event.to_dict(), "verified": ok})
        return
    console.print(
        f"event {seq} ({event.action} {event.subject}) is in the tree of size "
        f"{p.tree_size}, root {p.root_hash}"
    )
    console.print(f"leaf {p.leaf_hash}")
    for i, h in enumerate(p.path):
        console.print(f"  path[{i}] {h}")
    console.print("[green]proof verifies[/]" if ok else "[red]proof does NOT verify[/]")
    if not ok:
        raise typer.Exit(1)


@app.command("checkpoint")
@handle_errors
def checkpoint(
    out: Path | None = typer.Option(
        None, "--out", help="Also write it to this JSON file, for `audit consistency`."
    ),
    uri: str | None = UriOption,
    as_json: bool = JsonOption,
) -> None:
    """Print the latest signed checkpoint (publish it somewhere the store cannot reach)."""
    import json

    cp = signed_checkpoint(open_warden(uri))
    if out is not None:
        out.write_text(json.dumps(cp.to_dict(), indent=2) + "\n")
    if as_json:
        print_json(cp.to_dict())
    else:
        console.print(cp.signed_text() + f"— {cp.key_id} {cp.signature}", highlight=False)


@app.command("export")
@handle_errors
def export(
    file: Path = typer.Argument(..., help="JSON Lines file to write."),
    fmt: str = typer.Option(
        "warden",
        "--format",
        help="warden: the signed log for offline verification; ocsf: OCSF API Activity "
        "JSON lines; syslog: RFC 5424 lines (for SIEMs).",
    ),
    uri: str | None = UriOption,
    as_json: bool = JsonOption,
) -> None:
    """Write the whole log (events, payloads, checkpoints) for offline verification, or the
    event stream for a SIEM (--format ocsf|syslog)."""
    if fmt not in ("warden", "ocsf", "syslog"):
        raise ValidationError(
            f"--format must be warden, ocsf or syslog, got {fmt!r}", field="format"
        )
    wd = open_warden(uri)
    if fmt != "warden":
        n = _export_siem(wd, file, fmt)
        if as_json:
            print_json({"file": str(file), "events": n, "format": fmt})
        else:
            console.print(f"Wrote {n:,} events to {file} ({fmt})")
        return
    signed_checkpoint(wd)
    # Read-only: the export carries exactly what is stored and signed, nothing signed now.
    n = read_only(wd).export(file)
    if as_json:
        print_json({"file": str(file), "events": n})
    else:
        console.print(f"Wrote {n:,} events to {file}")


def _export_siem(wd, file: Path, fmt: str) -> int:  # type: ignore[no-untyped-def]
    import socket

    from mlwarden import __version__
    from mlwarden.audit.siem import export_lines

    options = (
        {"product_version": __version__} if fmt == "ocsf" else {"hostname": socket.gethostname()}
    )
    n, page = 0, 1000
    with file.open("w", encoding="utf-8") as out:
        while True:  # in pages: the log may be far larger than memory
            events = wd.audit.events(limit=page, offset=n)
            for line in export_lines(events, fmt, **options):
                out.write(line + "\n")
            n += len(events)
            if len(events) < page:
                return n


@app.command("verify")
@handle_errors
def verify(
    export_file: Path | None = typer.Option(
        None, "--export", help="Verify this export file offline instead of the store."
    ),
    pubkey: str | None = typer.Option(
        None, "--pubkey", help="Trusted public key (PEM file or base64). Default: this store's."
    ),
    workers: int | None = typer.Option(
        None,
        "--workers",
        min=1,
        help="Processes that verify a large log (default: MLWARDEN_AUDIT_VERIFY_WORKERS, "
        "else one per CPU; 1: one scan).",
    ),
    uri: str | None = UriOption,
    as_json: bool = JsonOption,
) -> None:
    """Recompute the log and check every signature: OK, or the first bad seq and why."""
    from mlwarden.audit import verify_export

    if export_file is not None:
        key = pubkey
        if key is None:
            err_console.print(
                "[yellow]warning:[/] no --pubkey: trusting the key in the export's header "
                "only shows the file is self-consistent"
            )
        result = verify_export(export_file, key)
    else:
        wd = open_warden(uri)
        key = pinned_key(wd, pubkey)
        result = _verify_store(read_only(wd, key), workers, as_json)
    if key is None and export_file is None:
        err_console.print(UNPINNED, highlight=False)
    if as_json:
        print_json({**result.to_dict(), "key_pinned": key is not None})
    elif result.ok:
        console.print(
            f"[green]OK[/] {result.message} (tree size {result.tree_size}, root {result.root_hash})"
        )
    else:
        console.print(
            f"[red]FAILED[/] at seq {result.first_bad_seq}: {result.problem} — {result.message}",
            highlight=False,
        )
    if not result.ok:
        raise typer.Exit(1)


def _verify_store(log: AuditLog, workers: int | None, as_json: bool) -> VerificationResult:
    """The store's log verified online, with a progress bar where it runs long (a large log,
    checked in parallel ranges)."""

    from mlwarden.audit.sql_log import SqlAuditLog

    if not isinstance(log, SqlAuditLog):
        return log.verify()
    if workers is not None:
        log.verify_workers = workers
    with counting_bar(err_console, disable=as_json) as bar:
        task = bar.add_task("Verifying events", total=None)
        return log.verify(
            progress=lambda done, total: bar.update(task, completed=done, total=total)
        )


@app.command("consistency")
@handle_errors
def consistency(
    checkpoint_file: Path = typer.Option(
        ..., "--checkpoint", help="A checkpoint published earlier (`audit checkpoint --out`)."
    ),
    pubkey: str | None = typer.Option(
        None, "--pubkey", help="Trusted public key (PEM file or base64). Default: pinned."
    ),
    uri: str | None = UriOption,
    as_json: bool = JsonOption,
) -> None:
    """Check that the log still holds a published checkpoint's history, unchanged."""
    from mlwarden.audit.consistency import check_consistency, read_checkpoint

    published = read_checkpoint(checkpoint_file)
    wd = open_warden(uri)
    key = pinned_key(wd, pubkey)
    if key is None:
        err_console.print(UNPINNED, highlight=False)
    log = read_only(wd, key)
    if log.public_key is None:
        from mlwarden.cli._common import fail

        fail("no public key to check against: pass --pubkey or set MLWARDEN_AUDIT_PUBKEY")
        return
    result = check_consistency(log, published, log.public_key)
    if as_json:
        print_json({**result.to_dict(), "key_pinned": key is not None})
    elif result.ok:
        console.print(
            f"[green]OK[/] {result.message} (now size {result.tree_size}, root {result.root_hash})"
        )
    else:
        console.print(f"[red]FAILED[/] {result.message}", highlight=False)
    if not result.ok:
        raise typer.Exit(1)


@app.command("pubkey")
@handle_errors
def pubkey(
    b64: bool = typer.Option(False, "--base64", help="Raw key in base64 instead of PEM."),
    uri: str | None = UriOption,
) -> None:
    """Print the public key that verifies this store's checkpoints."""
    from mlwarden.audit.signing import public_key_b64, public_key_pem

    key = open_warden(uri).audit.public_key
    if key is None:
        from mlwarden.cli._common import fail

        fail("this store has no audit key: run `mlwarden init` or set MLWARDEN_KEY_FILE")
        return
    typer.echo(public_key_b64(key) if b64 else public_key_pem(key).rstrip())
