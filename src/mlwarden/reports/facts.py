"""Facts the documents share, read from the evidence: metrics, fairness, importance, data,
and the limitations the evidence itself shows. Each returns Markdown or plain rows."""

from __future__ import annotations

from typing import Any

from mlwarden.reports._md import num, table
from mlwarden.reports.context import ReportContext

#: Fairness summary keys shown in documents and diffs (the evidence holds many more).
FAIRNESS_KEYS = (
    "demographic_parity_difference",
    "demographic_parity_ratio",
    "equalized_odds_difference",
    "equal_opportunity_difference",
    "disparate_impact",
)


def task(ctx: ReportContext) -> str:
    out = ctx.version.signature.get("output") or {}
    if out.get("type") == "class" or out.get("classes"):
        return "tabular-classification"
    return "tabular-regression" if out else "unknown"


def metrics_table(ctx: ReportContext) -> str:
    mv = ctx.version
    if mv.asserted_metrics:  # say which values the registry did not measure itself
        return table(
            ("Metric", "Value", "Data", "Provenance"),
            [
                (k, float(v), _eval_name(ctx), mv.provenance_of(f"metrics.{k}"))
                for k, v in sorted(mv.metrics.items())
            ],
        )
    return table(
        ("Metric", "Value", "Data"),
        [(k, float(v), _eval_name(ctx)) for k, v in sorted(mv.metrics.items())],
    )


def _eval_name(ctx: ReportContext) -> str:
    ds = ctx.version.lineage.get("datasets", {})
    chosen = ds.get("eval") or ds.get("train") or {}
    return chosen.get("name") or "—"


def dataset_rows(ctx: ReportContext) -> list[tuple[Any, ...]]:
    rows = []
    for role, ds in sorted(ctx.version.lineage.get("datasets", {}).items()):
        rows.append(
            (
                role,
                ds.get("name"),
                ds.get("rows"),
                ds.get("columns"),
                ds.get("has_labels"),
                f"sha256:{ds.get('sha256', '')[:16]}",
            )
        )
    return rows


def datasets_table(ctx: ReportContext) -> str:
    return table(("Role", "Name", "Rows", "Columns", "Labelled", "Fingerprint"), dataset_rows(ctx))


def inputs_table(ctx: ReportContext) -> str:
    rows = []
    for c in ctx.version.signature.get("inputs", []):
        cats = c.get("categories") or []
        shown = ", ".join(map(str, cats[:6])) + (f" (+{len(cats) - 6})" if len(cats) > 6 else "")
        rows.append((c.get("name"), c.get("type"), c.get("nullable"), c.get("sensitive"), shown))
    return table(("Input", "Type", "Nullable", "Sensitive", "Categories"), rows)


def output_text(ctx: ReportContext) -> str:
    out = ctx.version.signature.get("output") or {}
    if not out:
        return "not recorded"
    if out.get("classes"):
        scores = " with class scores" if out.get("scores") else ""
        return f"one of the classes {', '.join(map(str, out['classes']))}{scores}"
    return str(out.get("type", "value"))


def fairness_rows(ctx: ReportContext) -> list[tuple[Any, ...]]:
    ev = ctx.ev("fairness")
    if ev is None:
        return []
    rows = []
    for attr, s in sorted((ev.content.get("summary") or {}).items()):
        rows.append(
            (
                attr,
                s.get("reference_group"),
                s.get("worst_group"),
                *(s.get(k) for k in FAIRNESS_KEYS),
                s.get("four_fifths_rule"),
            )
        )
    return rows


def fairness_table(ctx: ReportContext) -> str:
    return table(
        ("Attribute", "Reference", "Worst group", *FAIRNESS_KEYS, "Four-fifths rule met"),
        fairness_rows(ctx),
    )


def importance(ctx: ReportContext) -> dict[str, float]:
    ev = ctx.ev("explain")
    return dict((ev.content.get("importance") or {}) if ev else {})


def importance_table(ctx: ReportContext, top: int = 10) -> str:
    ranked = sorted(importance(ctx).items(), key=lambda kv: -abs(kv[1]))[:top]
    return table(
        ("Rank", "Feature", "Mean absolute attribution"),
        [(i + 1, k, v) for i, (k, v) in enumerate(ranked)],
    )


def evidence_limitations(ctx: ReportContext) -> list[str]:
    """Limitations the evidence shows by itself: skipped evidence, small groups, disparities."""
    found = []
    for kind, item in ctx.evidence.items():
        if not item.ok:
            found.append(f"{kind} evidence was not collected: {item.reason}")
    fair = ctx.ev("fairness")
    if fair is not None:
        for attr, s in sorted((fair.content.get("summary") or {}).items()):
            if s.get("excluded_groups"):
                found.append(
                    f"groups of {attr} too small to assess (under "
                    f"{fair.content.get('min_group_size')} rows): "
                    + ", ".join(map(str, s["excluded_groups"]))
                )
            if s.get("four_fifths_rule") is False:
                found.append(
                    f"selection rates by {attr} fail the four-fifths rule (disparate impact "
                    f"{num(s.get('disparate_impact'), 3)}, worst group {s.get('worst_group')})"
                )
    sensitive = [c["name"] for c in ctx.version.signature.get("inputs", []) if c.get("sensitive")]
    if sensitive:
        found.append("the model takes sensitive attributes as inputs: " + ", ".join(sensitive))
    code = ctx.version.lineage.get("code") or {}
    if code.get("dirty"):
        found.append(
            "registered from a working tree with uncommitted changes "
            "(the code is not reproducible from the commit alone)"
        )
    return found
