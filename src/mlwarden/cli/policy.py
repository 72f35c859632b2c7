"""``mlwarden policy …``, ``promote``, ``rollback`` and ``models history``: gates and aliases.

Exit codes: 0 passed / done, 1 refused or failed (a failed gate, a refused promotion, an
invalid policy) or any Warden error, 2 an unexpected local error (see ``_common``).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer
from rich.markup import escape
from rich.table import Table

from mlwarden.cli._common import (
    JsonOption,
    UriOption,
    console,
    err_console,
    handle_errors,
    open_warden,
    print_json,
)
from mlwarden.errors import PolicyViolation, ValidationError

if TYPE_CHECKING:  # pandas arrives with the entities: keep it out of `mlwarden --help`
    from mlwarden.entities import AliasChange

app = typer.Typer(help="Policy gates: validate policy files, check versions.", no_args_is_help=True)

PolicyOption = typer.Option(
    ..., "--policy", "-p", help="Policy file, or the name of a shipped policy."
)
_VERDICT_STYLE = {"pass": "green", "fail": "red", "error": "bold red", "skipped": "dim"}


def _short(value: Any, limit: int = 40) -> str:
    text = json.dumps(value, default=str) if not isinstance(value, str) else value
    return text if len(text) <= limit else text[: limit - 1] + "…"


def decision_table(decision: dict[str, Any]) -> Table:
    verdict = "[green]PASSED[/]" if decision["passed"] else "[bold red]FAILED[/]"
    table = Table(
        title=f"{decision['policy']} on {decision['ref']}: {verdict}",
        caption=f"policy sha256 {decision['policy_sha256'][:16]}…  decision {decision['id']}  "
        f"{decision['time']} by {decision['actor']}",
    )
    for col in ("rule", "severity", "verdict", "message", "inputs"):
        table.add_column(col, overflow="fold")
    for r in decision["results"]:
        style = _VERDICT_STYLE.get(r["verdict"], "")
        inputs = [f"{k}={_short(v)}" for k, v in r["values"].items()]
        inputs += [f"{m}=<missing>" for m in r["missing"]]
        severity = r["severity"] if r["severity"] == "error" else f"[yellow]{r['severity']}[/]"
        table.add_row(
            r["id"],
            severity,
            f"[{style}]{r['verdict']}[/]" if style else r["verdict"],
            escape(r["message"]),
            escape("\n".join(inputs)) or "—",
        )
    return table


def history_table(changes: list[AliasChange], title: str) -> Table:
    table = Table(title=title)
    for col in ("when", "alias", "action", "from", "to", "by", "reason"):
        table.add_column(col, overflow="fold")
    for c in changes:
        table.add_row(
            c.at.strftime("%Y-%m-%d %H:%M:%S"),
            c.alias,
            c.action,
            "—" if c.from_version is None else str(c.from_version),
            "—" if c.to_version is None else str(c.to_version),
            c.actor,
            escape(c.reason or ""),
        )
    return table


@app.command("validate")
@handle_errors
def validate(
    file: Path = typer.Argument(..., help="Policy YAML file."),
    as_json: bool = JsonOption,
) -> None:
    """Check a policy file: syntax, context keys, boolean rules (every problem, with lines)."""
    from mlwarden.policy import load_file

    try:
        policy = load_file(file)
    except ValidationError as exc:
        found = exc.details.get("problems") or [{"message": exc.message}]
        if as_json:
            print_json({"valid": False, "file": str(file), "problems": found})
        else:
            for p in found:
                err_console.print(f"[bold red]error:[/] {escape(p['message'])}", soft_wrap=True)
        raise typer.Exit(1) from None
    if as_json:
        print_json({"valid": True, **policy.to_dict()})
        return
    table = Table(title=f"{policy.name}: valid ({len(policy.rules)} rules)")
    for col in ("line", "rule", "severity", "check", "reads"):
        table.add_column(col, overflow="fold")
    for r in policy.rules:
        table.add_row(str(r.line), r.id, r.severity, escape(r.check), "\n".join(r.paths))
    console.print(table)
    console.print(f"sha256 {policy.sha256}  applies to {policy.applies_to or 'every model'}")


@app.command("check")
@handle_errors
def check(
    ref: str = typer.Argument(..., help="Version: name@3, name@alias or name (latest)."),
    policy: str = PolicyOption,
    uri: str | None = UriOption,
    as_json: bool = JsonOption,
) -> None:
    """Evaluate a policy on a version; the decision is stored and audited. Exit 1 if it fails."""
    decision = open_warden(uri).check(ref, policy).to_dict()
    if as_json:
        print_json(decision)
    else:
        console.print(decision_table(decision))
    if not decision["passed"]:
        raise typer.Exit(1)


@app.command("decisions")
@handle_errors
def decisions(
    ref: str = typer.Argument(..., help="A version (name@3) or a model (name)."),
    limit: int = typer.Option(20, "--limit", "-n", help="Newest N decisions."),
    uri: str | None = UriOption,
    as_json: bool = JsonOption,
) -> None:
    """Stored policy decisions, newest first."""
    found = [d.to_dict() for d in open_warden(uri).decisions(ref, limit=limit)]
    if as_json:
        print_json(found)
        return
    table = Table(title=f"Decisions for {ref}")
    for col in ("id", "time", "version", "policy", "purpose", "result", "failed", "by"):
        table.add_column(col, overflow="fold")
    for d in found:
        failed = [
            r["id"]
            for r in d["results"]
            if r["severity"] == "error" and r["verdict"] in ("fail", "error")
        ]
        table.add_row(
            str(d["id"]),
            d["time"][:19],
            d["ref"],
            f"{d['policy']} ({d['policy_sha256'][:8]})",
            d["purpose"],
            "[green]passed[/]" if d["passed"] else "[red]failed[/]",
            ", ".join(failed) or "—",
            d["actor"],
        )
    console.print(table)


@handle_errors
def promote(
    ref: str = typer.Argument(..., help="The version to promote, e.g. credit-risk@3."),
    alias: str = typer.Option(..., "--alias", "-a", help="Alias to move, e.g. production."),
    policy: str | None = typer.Option(
        None,
        "--policy",
        "-p",
        help="Policy file or shipped name; a protected alias uses its bound policy (a "
        "different one only dry-runs).",
    ),
    dry_run: bool = typer.Option(False, "--dry-run", help="Evaluate only; move nothing."),
    reason: str | None = typer.Option(None, "--reason", help="Recorded in the alias history."),
    uri: str | None = UriOption,
    as_json: bool = JsonOption,
) -> None:
    """Move an alias to a version if the policy passes and its approvals meet the risk tier."""
    wd = open_warden(uri)
    try:
        result = wd.promote(ref, alias=alias, policy=policy, dry_run=dry_run, reason=reason)
    except PolicyViolation as exc:
        if as_json:
            print_json(exc.to_dict())
        else:
            decision = wd.decisions(ref, limit=1)
            if decision:
                err_console.print(decision_table(decision[0].to_dict()))
            err_console.print(f"[bold red]error:[/] {escape(exc.message)}", soft_wrap=True)
        raise typer.Exit(1) from None
    out = result.to_dict()
    if as_json:
        print_json(out)
    else:
        console.print(decision_table(out["decision"]))
        approvals = out["approvals"]
        console.print(
            f"approvals: {approvals['have']}/{approvals['required']} "
            f"({', '.join(approvals['approvers']) or 'none'})"
        )
        if dry_run:
            word = "[green]would be allowed[/]" if result.allowed else "[red]would be refused[/]"
            console.print(f"dry run: promotion of {result.ref} to {alias!r} {word}")
            for r in result.reasons:
                console.print(f"  - {escape(r)}")
        elif result.change is None:
            console.print(f"{alias!r} already points at {result.ref}: nothing moved")
        else:
            c = result.change
            console.print(f"{c.name}@{alias}: {c.from_version or '—'} → {c.to_version} (promoted)")
    if dry_run and not result.allowed:
        raise typer.Exit(1)


def _gate_table(items: list[Any], title: str) -> Table:
    table = Table(title=title)
    for col in ("name", "version", "sha256", "by", "installed"):
        table.add_column(col)
    for g in items:
        table.add_row(
            g.name, str(g.version), g.sha256[:16], g.created_by, g.created_at.isoformat()[:19]
        )
    return table


@app.command("install")
@handle_errors
def install(
    file: str = typer.Argument(..., help="Policy file, or the name of a shipped policy."),
    uri: str | None = UriOption,
    as_json: bool = JsonOption,
) -> None:
    """Store a gate policy as its name's next version (admins; audited with its sha256)."""
    stored = open_warden(uri).install_policy(file)
    if as_json:
        print_json(stored.to_dict())
    else:
        console.print(
            f"installed {stored.name} version {stored.version} (sha256 {stored.sha256[:16]}…)"
        )


@app.command("bind")
@handle_errors
def bind(
    name: str = typer.Argument(..., help="An installed gate policy's name."),
    alias: str | None = typer.Option(None, "--alias", "-a", help="A protected alias."),
    risk_tier: str | None = typer.Option(None, "--risk-tier", help="low, medium or high"),
    uri: str | None = UriOption,
    as_json: bool = JsonOption,
) -> None:
    """Bind an installed policy to a protected alias or a risk tier (admins; audited)."""
    binding = open_warden(uri).bind_policy(name, alias=alias, risk_tier=risk_tier)
    if as_json:
        print_json(binding.to_dict())
    else:
        console.print(f"{binding.target} → {binding.policy}")


@app.command("unbind")
@handle_errors
def unbind(
    alias: str | None = typer.Option(None, "--alias", "-a", help="A protected alias."),
    risk_tier: str | None = typer.Option(None, "--risk-tier", help="low, medium or high"),
    uri: str | None = UriOption,
    as_json: bool = JsonOption,
) -> None:
    """Remove a binding (admins; audited). An unbound protected alias refuses promotions."""
    binding = open_warden(uri).unbind_policy(alias=alias, risk_tier=risk_tier)
    if as_json:
        print_json(binding.to_dict())
    else:
        console.print(f"{binding.target} no longer bound to {binding.policy}")


@app.command("list")
@handle_errors
def list_gates(uri: str | None = UriOption, as_json: bool = JsonOption) -> None:
    """Installed gate policies, their bindings and the protected aliases."""
    wd = open_warden(uri)
    policies, bindings = wd.gate_policies(), wd.policy_bindings()
    protected = wd.protected_aliases()
    if as_json:
        print_json(
            {
                "policies": [p.to_dict() for p in policies],
                "bindings": [b.to_dict() for b in bindings],
                "protected_aliases": protected,
            }
        )
        return
    console.print(_gate_table(policies, "Installed gate policies"))
    for b in bindings:
        console.print(f"{b.target} → {b.policy}")
    console.print(f"protected aliases: {', '.join(protected) or '—'}")


@handle_errors
def rollback(
    name: str = typer.Argument(..., help="Model name."),
    alias: str = typer.Option(..., "--alias", "-a", help="Alias to roll back."),
    reason: str = typer.Option(..., "--reason", "-r", help="Why (recorded and audited)."),
    uri: str | None = UriOption,
    as_json: bool = JsonOption,
) -> None:
    """Return an alias to the version it pointed at before (from its promotion history)."""
    change = open_warden(uri).rollback(name, alias=alias, reason=reason)
    if as_json:
        print_json(change.to_dict())
    else:
        console.print(
            f"{name}@{alias}: {change.from_version} → {change.to_version} (rolled back: "
            f"{escape(reason)})"
        )


@handle_errors
def history(
    name: str = typer.Argument(..., help="Model name."),
    alias: str | None = typer.Option(None, "--alias", "-a", help="Only this alias."),
    uri: str | None = UriOption,
    as_json: bool = JsonOption,
) -> None:
    """Every alias move of a model (promotions, rollbacks, sets, deletes), oldest first."""
    changes = open_warden(uri).alias_history(name, alias)
    if as_json:
        print_json([c.to_dict() for c in changes])
    else:
        title = f"Alias history of {name}" + (f"@{alias}" if alias else "")
        console.print(history_table(changes, title))
