"""``mlwarden models …``: list, show and register versions."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer
from rich.table import Table

from mlwarden.cli._common import (
    JsonOption,
    UriOption,
    console,
    handle_errors,
    open_warden,
    print_json,
    show_list,
)

if TYPE_CHECKING:  # pandas arrives with the entities: keep it out of `mlwarden --help`
    from mlwarden.entities import Model, ModelVersion

app = typer.Typer(help="Registered models and their versions.", no_args_is_help=True)


def models_table(models: list[Model]) -> Table:
    table = Table(title="Models")
    for col in ("name", "risk tier", "owner", "latest", "aliases", "created"):
        table.add_column(col)
    for m in models:
        table.add_row(
            m.name,
            m.risk_tier,
            m.owner or "—",
            str(m.latest_version or "—"),
            ", ".join(f"{a}→{v}" for a, v in m.aliases.items()) or "—",
            m.created_at.strftime("%Y-%m-%d %H:%M"),
        )
    return table


def version_tables(mv: ModelVersion) -> list[Table]:
    head = Table(title=f"{mv.ref}", show_header=False)
    head.add_column(style="bold")
    head.add_column()
    lineage = mv.lineage
    code = lineage.get("code") or {}
    for key, value in (
        ("flavor", mv.flavor),
        ("status", mv.status),
        ("aliases", ", ".join(mv.aliases) or "—"),
        ("artifact", f"sha256:{mv.artifact_sha256} ({mv.artifact_size:,} bytes)"),
        ("estimator", lineage.get("estimator", "—")),
        ("registered", f"{mv.created_at:%Y-%m-%d %H:%M:%S} by {mv.created_by}"),
        ("commit", f"{code.get('commit', '—')}{' (dirty)' if code.get('dirty') else ''}"),
        ("python", lineage.get("environment", {}).get("python", "—")),
        ("sensitive", ", ".join(lineage.get("sensitive_features", [])) or "—"),
        (
            "evidence",
            ", ".join(
                f"{k} (asserted)" if mv.provenance_of(k) == "asserted" else k for k in mv.evidence
            )
            or "—",
        ),
    ):
        head.add_row(key, str(value))
    metrics = Table(title="Metrics")
    metrics.add_column("metric")
    metrics.add_column("value", justify="right")
    metrics.add_column("provenance")  # measured by the store's owner, or only asserted
    for k, v in mv.metrics.items():
        metrics.add_row(k, "—" if v is None else f"{v:.4f}", mv.provenance_of(f"metrics.{k}"))
    data = Table(title="Datasets")
    for col in ("role", "name", "rows", "columns", "sha256"):
        data.add_column(col)
    for role, ds in lineage.get("datasets", {}).items():
        data.add_row(
            role, str(ds["name"]), f"{ds['rows']:,}", str(ds["columns"]), ds["sha256"][:16]
        )
    sig = Table(title="Signature (inputs)")
    for col in ("column", "type", "nullable", "sensitive"):
        sig.add_column(col)
    for spec in mv.signature.get("inputs", []):
        sig.add_row(
            spec["name"],
            spec["type"],
            str(spec["nullable"]),
            "yes" if spec.get("sensitive") else "",
        )
    return [head, metrics, data, sig]


@app.command("list")
@handle_errors
def list_models(uri: str | None = UriOption, as_json: bool = JsonOption) -> None:
    """List every registered model."""
    models = open_warden(uri).list_models()
    show_list(models, as_json, models_table, "No models registered yet. Try `mlwarden demo`.")


@app.command("show")
@handle_errors
def show(
    ref: str = typer.Argument(..., help="NAME, NAME@VERSION or NAME@ALIAS"),
    uri: str | None = UriOption,
    as_json: bool = JsonOption,
) -> None:
    """Show a version's lineage, metrics, datasets and signature."""
    mv = open_warden(uri).get_model_version(ref)
    if as_json:
        print_json(mv.to_dict())
        return
    for table in version_tables(mv):
        console.print(table)


@app.command("update")
@handle_errors
def update(
    name: str = typer.Argument(..., help="model name"),
    owner: str | None = typer.Option(None),
    description: str | None = typer.Option(None),
    intended_use: str | None = typer.Option(None),
    tag: list[str] = typer.Option([], help="KEY=VALUE to set (repeatable)"),
    remove_tag: list[str] = typer.Option([], help="KEY to remove (repeatable)"),
    uri: str | None = UriOption,
    as_json: bool = JsonOption,
) -> None:
    """Change a model's owner, description, intended use or tags (audited). The risk tier
    changes with `mlwarden models risk-tier`."""
    tags: dict[str, str | None] = {}
    for item in tag:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise typer.BadParameter(f"{item!r}: expected KEY=VALUE", param_hint="--tag")
        tags[key] = value
    tags.update({key: None for key in remove_tag})
    model = open_warden(uri).update_model(
        name, owner=owner, description=description, intended_use=intended_use, tags=tags or None
    )
    if as_json:
        print_json(model.to_dict())
    else:
        console.print(models_table([model]))


def _read_table(path: Path) -> Any:
    import pandas as pd

    if path.suffix in (".parquet", ".pq"):
        return pd.read_parquet(path)
    if path.suffix in (".csv", ".txt", ".gz"):
        return pd.read_csv(path)
    raise typer.BadParameter(f"{path}: expected a .csv or .parquet file")


def _load_model_file(path: Path) -> Any:
    """Open a model file the user produced locally, by its native format."""
    suffix = path.suffix.lower()
    if suffix == ".skops":
        import skops.io as sio

        return sio.load(path, trusted=sio.get_untrusted_types(file=path))
    if suffix == ".onnx":
        import onnx

        return onnx.load(path)
    if suffix in (".ubj", ".json"):
        import xgboost as xgb

        model = xgb.Booster()
        model.load_model(path)
        return model
    if suffix == ".txt":
        import lightgbm as lgb

        return lgb.Booster(model_file=str(path))
    raise typer.BadParameter(
        f"{path}: unknown model format (use .skops, .onnx, LightGBM .txt or XGBoost .ubj/.json)"
    )


@app.command("risk-tier")
@handle_errors
def risk_tier_cmd(
    name: str = typer.Argument(..., help="Model name."),
    tier: str = typer.Argument(..., help="low, medium or high"),
    reason: str = typer.Option(..., "--reason", "-r", help="Why (recorded and audited)."),
    uri: str | None = UriOption,
    as_json: bool = JsonOption,
) -> None:
    """Change a model's risk tier (validators and admins; audited)."""
    change = open_warden(uri).set_risk_tier(name, tier, reason=reason)
    if as_json:
        print_json(change)
    else:
        console.print(f"{name}: risk tier {change['from']} → {change['to']}")


@app.command("register")
@handle_errors
def register(
    name: str = typer.Argument(..., help="model name"),
    model_file: Path = typer.Option(
        ...,
        "--model-file",
        exists=True,
        dir_okay=False,
        help=".skops, .onnx, LightGBM .txt or XGBoost .ubj/.json",
    ),
    train: Path | None = typer.Option(None, exists=True, dir_okay=False, help="CSV or Parquet"),
    eval_: Path | None = typer.Option(
        None, "--eval", exists=True, dir_okay=False, help="CSV or Parquet"
    ),
    target: str | None = typer.Option(None, help="label column in the data files"),
    sensitive: str | None = typer.Option(None, help="comma-separated sensitive columns"),
    owner: str | None = typer.Option(None),
    risk_tier: str | None = typer.Option(
        None, help="low, medium or high (validators and admins; others get the default tier)"
    ),
    intended_use: str | None = typer.Option(None),
    description: str | None = typer.Option(None),
    favorable_label: str | None = typer.Option(
        None, help="the class fairness counts as favourable (e.g. 0 when 1 means default)"
    ),
    uri: str | None = UriOption,
    as_json: bool = JsonOption,
) -> None:
    """Register a saved model file with its training and evaluation data."""
    from mlwarden.entities import Dataset

    def dataset(path: Path | None, role: str) -> Dataset | None:
        if path is None:
            return None
        frame = _read_table(path)
        if target is None:
            return Dataset(frame, name=path.name)
        if target not in frame.columns:
            raise typer.BadParameter(f"{path}: no column {target!r}", param_hint="--target")
        return Dataset(frame.drop(columns=target), frame[target], name=path.name)

    model = _load_model_file(model_file)
    mv = open_warden(uri).register_model(
        name,
        model,
        train=dataset(train, "train"),
        eval=dataset(eval_, "eval"),
        sensitive_features=[s.strip() for s in sensitive.split(",")] if sensitive else None,
        owner=owner,
        risk_tier=risk_tier,
        intended_use=intended_use,
        description=description,
        favorable_label=favorable_label,
    )
    if as_json:
        print_json(mv.to_dict())
    else:
        console.print(f"Registered [bold]{mv.ref}[/] (artifact sha256:{mv.artifact_sha256[:12]}…)")
