"""``mlwarden monitor NAME``: drift, quality and performance per window, as a table."""

from __future__ import annotations

import dataclasses
from datetime import datetime
from pathlib import Path

import typer
from rich.table import Table

from mlwarden.cli._common import (
    JsonOption,
    UriOption,
    console,
    counting_bar,
    handle_errors,
    open_local,
    print_json,
)


def _when(value: str | None, field: str) -> datetime | None:
    if value is None:
        return None
    try:
        return datetime.fromisoformat(value)
    except ValueError as exc:
        raise typer.BadParameter(f"{value!r} is not an ISO date/time", param_hint=field) from exc


def _fmt(value: object) -> str:
    return "—" if value is None else f"{value:.3f}" if isinstance(value, float) else str(value)


@handle_errors
def monitor(
    name: str = typer.Argument(..., help="model name"),
    window: str = typer.Option("1d", help="window: 1h, 1d, 1w, or N rows (500rows)"),
    since: str | None = typer.Option(None, help="ISO start (inclusive)"),
    until: str | None = typer.Option(None, help="ISO end (exclusive)"),
    segment_by: str | None = typer.Option(None, help="also report per value of this column"),
    version: int | None = typer.Option(None, help="default: production, else latest"),
    html: Path | None = typer.Option(None, help="write a standalone HTML report here"),
    uri: str | None = UriOption,
    as_json: bool = JsonOption,
) -> None:
    """Compare each window of the prediction log with the version's reference."""
    wd = open_local(uri, "monitor run")
    mv, note = wd.monitored_version(
        name, version, since=_when(since, "--since"), until=_when(until, "--until")
    )
    with counting_bar(console, disable=as_json) as bar:
        task = bar.add_task(f"Monitoring {mv.ref}", total=None)
        report = wd.monitoring.run(
            mv,
            since=_when(since, "--since"),
            until=_when(until, "--until"),
            window=window,
            segment_by=segment_by,
            progress=lambda done, total: bar.update(task, completed=done, total=total),
        )
    if html is not None:
        report.to_html(html)
    if note:
        report = dataclasses.replace(report, note=note)
    if as_json:
        print_json(report.to_dict())
        return
    serving = wd.get_model(name).aliases.get("production")
    role = " (production)" if serving == mv.version else ""
    console.print(f"Monitoring {mv.ref}{role}")
    if note:
        console.print(f"[yellow]{note}[/]", soft_wrap=True)
    if not report.windows:
        console.print(f"No logged predictions for {mv.ref} in that range.")
        return
    table = Table(title=f"{mv.ref} — window {window}")
    for col in (
        "start",
        "segment",
        "rows",
        "labelled",
        "drift share",
        "drifted",
        "quality",
        "accuracy",
        "est. accuracy",
    ):
        table.add_column(col)
    for w in report.windows:
        share = w.drift.get("share_drifted")
        table.add_row(
            f"{w.start:%Y-%m-%d %H:%M}",
            w.segment,
            str(w.rows),
            str(w.labelled),
            f"[red]{share:.2f}[/]" if w.drift.get("dataset_drifted") else _fmt(share),
            ", ".join(w.drift.get("drifted_columns", [])) or "—",
            f"{w.quality.get('failed', 0)} failed" if w.quality.get("failed") else "ok",
            _fmt(w.performance.get("accuracy")),
            _fmt(w.estimated.get("accuracy")),
        )
    console.print(table)
    if html is not None:
        console.print(f"Report written to {html}")
