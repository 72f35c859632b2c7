"""The gap report: what the technical documentation cannot yet say, and how to fill it.

A gap is either missing evidence (fix: collect it) or a statement only people can make (fix:
a model tag, or a document outside Warden, e.g. the declaration of conformity).
"""

from __future__ import annotations

from dataclasses import dataclass

from mlwarden.entities.wire import Wire
from mlwarden.reports._md import table
from mlwarden.reports.context import HUMAN_TAGS, ReportContext

#: Which Annex IV section each human-input tag fills.
TAG_SECTIONS = {
    "provider": "1",
    "hardware": "1",
    "human_oversight": "2(e), 3",
    "cybersecurity": "2(h)",
    "limitations": "3",
    "harmonised_standards": "7",
    "eu_declaration": "8",
}


@dataclass(frozen=True)
class Gap(Wire):
    section: str  # Annex IV section(s)
    item: str
    detail: str
    fix: str
    kind: str = "evidence"  # evidence | human


def find_gaps(ctx: ReportContext) -> list[Gap]:
    gaps: list[Gap] = []
    add = gaps.append
    mv, model = ctx.version, ctx.model
    if not model.intended_use:
        add(
            Gap(
                "1",
                "intended use",
                "the model has no intended use",
                "register with `intended_use=`",
                "human",
            )
        )
    for kind, section, fix in (
        ("fairness", "2(g), 3, 4", "register with `sensitive_features=` and labelled `eval=` data"),
        ("explain", "2(b), 3", "register with training or evaluation data"),
        ("reference_profile", "2(d), 9", "register with training or evaluation data"),
        ("privacy", "2(d)", "run the PII scan on the training data (docs/privacy.md)"),
    ):
        item = ctx.evidence.get(kind)
        if item is None:
            add(Gap(section, f"{kind} evidence", f"no {kind} evidence for {ctx.ref}", fix))
        elif not item.ok:
            add(
                Gap(section, f"{kind} evidence", f"{kind} evidence was skipped: {item.reason}", fix)
            )
    output = mv.signature.get("output", {})
    if len(output.get("classes") or []) == 2 and "favorable_label" not in output:
        add(
            Gap(
                "2(g), 3",
                "favourable outcome",
                f"{ctx.ref} never declared which class is the favourable outcome; fairness "
                f"counted the last class ({output['classes'][-1]!r}) as favourable",
                "register with `favorable_label=` (0 when 1 means default or reoffending)",
                "human",
            )
        )
    if not mv.metrics:
        add(
            Gap(
                "2(g), 3, 4",
                "performance metrics",
                "no metrics were computed",
                "register with labelled `eval=` data",
            )
        )
    if not mv.lineage.get("datasets"):
        add(
            Gap(
                "2(d)",
                "data lineage",
                "no dataset fingerprints",
                "register with `train=`/`eval=` datasets",
            )
        )
    code = mv.lineage.get("code") or {}
    if not code.get("commit"):
        add(Gap("2(a)", "code version", "no git commit recorded", "register from a git checkout"))
    elif code.get("dirty"):
        add(
            Gap(
                "2(a)",
                "code version",
                f"commit {code['commit'][:12]} had uncommitted changes",
                "register from a clean checkout",
            )
        )
    if not ctx.approvals:
        add(
            Gap(
                "2(e), 5",
                "approvals",
                f"{ctx.ref} has no approvals",
                f"`mlwarden approve {ctx.ref}` by a validator",
            )
        )
    elif ctx.approval_status and ctx.approval_status.get("missing"):
        s = ctx.approval_status
        add(
            Gap(
                "2(e), 5",
                "approvals",
                f"{s.get('have')} of {s.get('required')} approvals required by risk tier "
                f"{s.get('risk_tier')}",
                f"`mlwarden approve {ctx.ref}`",
            )
        )
    if not ctx.decisions:
        add(
            Gap(
                "5",
                "policy decisions",
                f"no policy gate was evaluated on {ctx.ref}",
                f"`mlwarden policy check {ctx.ref} --policy production-gate`",
            )
        )
    source = ctx.monitoring.get("source")
    if source != "monitoring policies":
        detail = "no monitoring policy is defined" + (
            "; the plan is drawn from stored monitoring windows"
            if source == "monitor windows"
            else " and monitoring has never run"
        )
        add(
            Gap(
                "9",
                "monitoring policy",
                detail,
                "write a `kind: monitoring` policy, `mlwarden alerts install FILE`",
            )
        )
    for tag, why in HUMAN_TAGS.items():
        if tag in TAG_SECTIONS and ctx.tag(tag) is None:
            add(
                Gap(
                    TAG_SECTIONS[tag],
                    tag.replace("_", " "),
                    f"needs human input: {why}",
                    f"set model tag `{tag}`",
                    "human",
                )
            )
    return gaps


def gap_table(gaps: list[Gap]) -> str:
    return table(
        ("Section", "Missing", "Why", "How to fill it", "Kind"),
        [(g.section, g.item, g.detail, g.fix, g.kind) for g in gaps],
    )


def gap_report(ctx: ReportContext) -> str:
    gaps = find_gaps(ctx)
    head = (
        f"# Gap report: {ctx.ref}\n\n_Generated {ctx.generated_at}. {len(gaps)} gap(s) in "
        "the EU AI Act Annex IV technical documentation._\n\n"
    )
    return head + gap_table(gaps)
