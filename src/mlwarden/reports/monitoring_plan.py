"""Post-market monitoring plan (EU AI Act Art. 72) for one version.

Drawn from the installed monitoring policies that apply to the model (``mlwarden.alerts``);
when there are none, from what monitoring runs stored (window lengths, segments, latest
results), and it says so. Either way it lists the drift defaults every run applies.
"""

from __future__ import annotations

from typing import Any

from mlwarden.engines.drift.detect import DEFAULT_METHODS
from mlwarden.reports._md import bullets, needs, table
from mlwarden.reports.context import ReportContext, short


def monitoring_plan(ctx: ReportContext) -> str:
    mon = ctx.monitoring
    src = mon.get("source")
    parts = [f"# Post-market monitoring plan: {ctx.ref}\n", f"_Generated {ctx.generated_at}._\n"]
    if src == "monitoring policies":
        parts += ["## Monitoring policies\n"]
        parts += [_policy(ctx, p) for p in mon["policies"]]
        parts += ["## Monitoring runs so far\n", windows_table(ctx)]
    else:
        parts.append(
            "> No monitoring policy applies to this model. "
            + (
                "This plan is drawn from the stored monitoring windows configuration."
                if src == "monitor windows"
                else "Monitoring has not run either: the plan lists the defaults a run applies."
            )
            + "\n"
        )
        parts += ["## Monitoring runs so far\n", windows_table(ctx)]
    parts += ["## Alerts so far\n", alerts_table(ctx)]
    ref = ctx.ev("reference_profile")
    inputs = [c["name"] for c in ctx.version.signature.get("inputs", [])]
    sensitive = [c["name"] for c in ctx.version.signature.get("inputs", []) if c.get("sensitive")]
    parts += [
        "## What is monitored\n",
        bullets(
            [
                f"Baseline: reference profile of {ref.content.get('rows')} "
                f"{ref.content.get('source')} rows (source: {ctx.cite('reference_profile')})"
                if ref
                else "Baseline: **none**: register with data so drift can be measured",
                f"Data drift on {len(inputs)} inputs and on the prediction distribution",
                "Data quality against the signature: types, nulls, unseen categories, ranges",
                "Performance once labels arrive (`wd.log_labels`), and estimated before they do",
                f"Fairness over time for {', '.join(sensitive)}"
                if sensitive
                else "Fairness: no sensitive attributes named",
            ]
        ),
        "## Drift decision defaults\n",
        table(
            ("Column kind", "Method", "Threshold", "p-value from"),
            [(k, v["method"], v["threshold"], v["p_value"]) for k, v in DEFAULT_METHODS.items()],
        ),
        "\nsource: Warden drift defaults (`mlwarden.engines.drift.detect.DEFAULT_METHODS`)\n",
        "## Responsibilities and escalation\n",
        needs(
            "who reviews alerts, how often, and when a version is rolled back "
            "(model tag `human_oversight`)"
        )
        if ctx.tag("human_oversight") is None
        else f"{ctx.tag('human_oversight')} (source: {ctx.cite('tags')})",
        "\n\nRollback: `mlwarden rollback "
        f"{ctx.version.name} --alias production --reason …` returns the alias to its "
        "previous version (audited).\n",
    ]
    return "\n".join(parts)


def windows_table(ctx: ReportContext) -> str:
    windows = ctx.monitoring.get("windows") or {}
    if not windows:
        return (
            "_None stored. Run `mlwarden monitor "
            + ctx.version.name
            + " --window 1d` on a schedule._\n"
        )
    rows = []
    for name, w in sorted(windows.items()):
        latest = w.get("latest") or {}
        drifted = latest.get("drifted_columns") or []
        rows.append(
            (
                name,
                w["runs"],
                w["segments"],
                w.get("first"),
                w.get("last"),
                f"{latest.get('n_drifted')}/{latest.get('n_columns')}" if latest else "—",
                drifted[:5],
                latest.get("quality_failed"),
            )
        )
    return (
        table(
            (
                "Window",
                "Stored windows",
                "Segments",
                "First",
                "Last",
                "Drifted (latest)",
                "Drifted columns",
                "Quality failures",
            ),
            rows,
        )
        + f"\nsource: {ctx.cite('monitoring')}\n"
    )


def _policy(ctx: ReportContext, p: dict[str, Any]) -> str:
    rules = table(
        ("Rule", "Fires when", "Severity", "Actions", "For windows", "Cooldown (s)"),
        [
            (r["id"], f"`{r['when']}`", r["severity"], r["actions"], r["for"], r["cooldown_s"])
            for r in p.get("rules", [])
        ],
    )
    # Channel URLs may embed credentials: only names and formats go into documents.
    channels = (
        ", ".join(c if isinstance(c, str) else str(c.get("name")) for c in p.get("channels", []))
        or "none"
    )
    alias = p.get("alias") or "production"
    behind = ctx.model.aliases.get(alias)
    where = (
        "this version is behind it"
        if behind == ctx.version.version
        else f"it points at version {behind}"
        if behind is not None
        else "it is not set"
    )
    return (
        f"### {p['name']}\n\n{p.get('description') or ''}\n\n"
        f"Monitors alias `{alias}` ({where}) over "
        f"{p.get('window') or 'the latest stored'} windows; notifies {channels}.\n\n{rules}"
        f"\nsource: monitoring policy {p['name']} {short(p.get('sha256'))}\n"
    )


def alerts_table(ctx: ReportContext) -> str:
    alerts = ctx.monitoring.get("alerts") or []
    if not alerts:
        return "_No alert has fired for this version._\n"
    return (
        table(
            ("Alert", "Policy", "Rule", "Severity", "Status", "Started", "Ended", "Resolution"),
            [
                (
                    a.get("id"),
                    a.get("policy"),
                    a.get("rule"),
                    a.get("severity"),
                    a.get("status"),
                    a.get("started_at"),
                    a.get("ended_at"),
                    a.get("resolution"),
                )
                for a in alerts
            ],
        )
        + f"\nsource: alerts of {ctx.ref} (newest first)\n"
    )
