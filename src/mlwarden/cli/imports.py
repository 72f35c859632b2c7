"""``mlwarden import mlflow``: mirror an MLflow registry (docs/integrations.md)."""

from __future__ import annotations

import typer

from mlwarden.cli._common import (
    JsonOption,
    UriOption,
    console,
    handle_errors,
    open_local,
    print_json,
)

app = typer.Typer(help="Bring models in from other registries.", no_args_is_help=True)


@app.command("mlflow")
@handle_errors
def mlflow(
    tracking_uri: str = typer.Option(..., "--tracking-uri", help="MLflow tracking server URL."),
    model: str | None = typer.Option(None, "--model", help="Only this registered model."),
    watch: bool = typer.Option(False, "--watch", help="Keep following new versions."),
    interval: float = typer.Option(30.0, "--interval", min=1.0, help="Seconds between syncs."),
    trust_pickle: bool = typer.Option(
        False, "--trust-pickle", help="Admins: load pickle-only models to convert them (audited)."
    ),
    uri: str | None = UriOption,
    as_json: bool = JsonOption,
) -> None:
    """Mirror MLflow's registered models, versions, aliases, tags, descriptions and runs."""
    from mlwarden.registry.mlflow_import import SyncReport, import_mlflow
    from mlwarden.registry.mlflow_import import watch as follow

    wd = open_local(uri)

    def show(report: SyncReport) -> None:
        if as_json:
            print_json(report.to_dict())
            return
        for line in report.imported:
            console.print(f"imported {line}")
        for line in report.aliases:
            console.print(f"alias {line}")
        for line in report.refused:
            console.print(f"[yellow]refused[/] {line}")
        console.print(
            f"{len(report.imported)} imported, {len(report.skipped)} already mirrored, "
            f"{len(report.refused)} refused"
        )

    def sync() -> SyncReport:
        return import_mlflow(wd, tracking_uri, model=model, trust_pickle=trust_pickle)

    try:
        follow(sync, interval, show, rounds=None if watch else 1)
    except KeyboardInterrupt:
        pass
    finally:
        wd.close()
