"""Regulatory mappings drawn from what Warden recorded: the EU AI Act Art. 12 logging duties
against the audit events that meet them, and an ISO/IEC 42001 Statement of Applicability with
each Annex A control tied to its evidence or marked as a gap.

Both summaries (:func:`art12_summary`, :func:`soa_summary`) can be recorded as the version's
``art12`` / ``iso42001`` evidence, so policies read ``art12.gaps`` and ``iso42001.gaps``.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from typing import Any

from mlwarden.reports._md import table
from mlwarden.reports.context import ReportContext

MIN_LOG_DAYS = 183  # Art. 19(1) and 26(6): logs kept at least six months

#: (paragraph, duty, audit actions that record it). An empty tuple: Warden records nothing
#: for it, so it is a gap to fill outside Warden.
ART12_DUTIES: tuple[tuple[str, str, tuple[str, ...]], ...] = (
    ("12(1)", "automatic recording of events over the lifetime of the system",
     ("predictions.log", "version.register", "audit.checkpoint")),
    ("12(2)(a)", "events relevant to situations that may present a risk (Art. 79(1)) or to a "
     "substantial modification",
     ("version.register", "model.update", "model.risk_tier", "alias.set", "alias.promote",
      "alias.rollback", "alias.override", "alert.fired", "version.block")),
    ("12(2)(b)", "events that facilitate post-market monitoring (Art. 72)",
     ("predictions.log", "labels.log", "monitoring.policy.install", "alert.fired",
      "alert.resolved")),
    ("12(2)(c)", "events for monitoring the operation by deployers (Art. 26(5))",
     ("predictions.log", "access.denied", "version.block", "version.unblock", "policy.decision")),
    ("12(3)(a)", "remote biometric identification only: the period of each use",
     ("predictions.log",)),
    ("12(3)(b)", "remote biometric identification only: the reference database checked", ()),
    ("12(3)(c)", "remote biometric identification only: the input data that led to a match",
     ("predictions.log",)),
    ("12(3)(d)", "remote biometric identification only: the persons who verified the results "
     "(Art. 14(5))", ()),
)  # fmt: skip


def art12_facts(wd: Any, ctx: ReportContext) -> dict[str, Any]:
    """Audit-event counts and time spans for the model, and its prediction retention."""
    counts: Counter[str] = Counter()
    spans: dict[str, list[str]] = {}
    for e in wd.audit.events(model=ctx.version.name):
        counts[e.action] += 1
        span = spans.setdefault(e.action, [str(e.time), str(e.time)])
        span[0], span[1] = min(span[0], str(e.time)), max(span[1], str(e.time))
    checkpoint = wd.audit.checkpoint()
    counts["audit.checkpoint"] = 1 if checkpoint.tree_size else 0
    rules = dict(wd.prediction_log.store.retention_rules())
    return {
        "counts": dict(counts),
        "spans": spans,
        "retention_days": rules.get(ctx.version.name),
        "tree_size": checkpoint.tree_size,
    }


def art12_summary(facts: dict[str, Any]) -> dict[str, Any]:
    duties = {}
    for para, _, actions in ART12_DUTIES:
        n = sum(facts["counts"].get(a, 0) for a in actions)
        duties[para] = "gap" if not actions else "recorded" if n else "no events yet"
    days = facts.get("retention_days")
    duties["19(1)"] = "recorded" if days is None or days >= MIN_LOG_DAYS else "gap"
    gaps = [p for p, s in duties.items() if s == "gap" and not p.startswith("12(3)")]
    return {"duties": duties, "gaps": len(gaps), "gap_duties": gaps}


def art12_document(wd: Any, ctx: ReportContext) -> str:
    facts = art12_facts(wd, ctx)
    summary = art12_summary(facts)
    rows = []
    for para, duty, actions in ART12_DUTIES:
        seen = [f"`{a}` × {facts['counts'][a]:,}" for a in actions if facts["counts"].get(a)]
        rows.append((para, duty, summary["duties"][para], seen or [f"`{a}`" for a in actions]
                     or "not recorded by Warden: keep it in the deploying system"))  # fmt: skip
    days = facts["retention_days"]
    rows.append(
        ("19(1), 26(6)", f"logs kept at least six months ({MIN_LOG_DAYS} days)",
         summary["duties"]["19(1)"],
         "prediction retention: kept until erased" if days is None
         else f"prediction retention {days} days (`mlwarden retention set`)")
    )  # fmt: skip
    spans = table(
        ("Audit action", "Events", "First", "Last"),
        [(a, n, facts["spans"].get(a, ["—"])[0][:19], facts["spans"].get(a, ["", "—"])[1][:19])
         for a, n in sorted(facts["counts"].items()) if a in facts["spans"]],
    )  # fmt: skip
    return "\n".join(
        [
            f"# EU AI Act Art. 12 record-keeping: {ctx.ref}\n",
            f"_Generated {ctx.generated_at}. Each logging duty with the audit events that "
            "record it; events are in the signed Merkle log (`mlwarden audit verify`), tree "
            f"size {facts['tree_size']:,}._\n",
            "## Logging duties\n",
            table(("Article", "Duty", "Status", "Recorded by"), rows),
            "\nArt. 12(3) applies only to remote biometric identification systems (Annex III "
            "point 1(a)); its gaps are listed for them and do not count otherwise.\n",
            f"## Events recorded for {ctx.version.name}\n",
            spans,
            f"\nsource: audit log of {ctx.version.name} (all versions)\n",
        ]
    )


# ---- ISO/IEC 42001 Annex A -------------------------------------------------------------------

Check = Callable[[ReportContext], tuple[str, str] | None]


def _tag(key: str) -> Check:
    return lambda ctx: (ctx.tag(key) or "", ctx.cite("tags")) if ctx.tag(key) else None


def _ev(kind: str, what: str) -> Check:
    return lambda ctx: (what, ctx.cite(kind)) if ctx.ev(kind) else None


def _first(*checks: Check) -> Check:
    def check(ctx: ReportContext) -> tuple[str, str] | None:
        for c in checks:
            found = c(ctx)
            if found:
                return found
        return None

    return check


def _when(test: Callable[[ReportContext], Any], what: str, source: str) -> Check:
    return lambda ctx: (what, ctx.cite(source)) if test(ctx) else None


_DOCS = _when(lambda c: True, "Annex IV technical documentation and model card generated "
              "from the records (`mlwarden report annex-iv`)", "version")  # fmt: skip
_DATA = _when(lambda c: c.version.lineage.get("datasets"), "data sets with sha256 "
              "fingerprints and row counts", "version")  # fmt: skip

#: (control, title, check, how to fill a gap). Annex A of ISO/IEC 42001:2023.
SOA_CONTROLS: tuple[tuple[str, str, Check, str], ...] = (
    ("A.2.2", "AI policy", _tag("ai_policy"), "model tag `ai_policy`: the policy document"),
    ("A.2.3", "Alignment with other organizational policies", _tag("ai_policy_alignment"),
     "model tag `ai_policy_alignment`"),
    ("A.2.4", "Review of the AI policy", _tag("ai_policy_review"), "model tag `ai_policy_review`"),
    ("A.3.2", "AI roles and responsibilities",
     _when(lambda c: c.model.owner and c.approvals, "owner and approvals with roles", "approvals"),
     "set the model owner and approve the version"),
    ("A.3.3", "Reporting of concerns", _tag("concerns_channel"), "model tag `concerns_channel`"),
    ("A.4.2", "Resource documentation",
     _when(lambda c: c.version.lineage.get("environment"), "registration environment "
           "(Python, platform, packages)", "version"), "register from a recorded environment"),
    ("A.4.3", "Data resources", _DATA, "register with train/eval data"),
    ("A.4.4", "Tooling resources",
     _when(lambda c: c.version.flavor, "flavor and package versions", "version"), ""),
    ("A.4.5", "System and computing resources", _tag("hardware"), "model tag `hardware`"),
    ("A.4.6", "Human resources", _tag("human_oversight"), "model tag `human_oversight`"),
    ("A.5.2", "AI system impact assessment process",
     _first(_ev("fairness", "fairness audit at registration"), _tag("impact_assessment")),
     "register with sensitive features, or model tag `impact_assessment`"),
    ("A.5.3", "Documentation of AI system impact assessments",
     _ev("fairness", "fairness evidence in the Annex IV file and the card"),
     "register with sensitive features"),
    ("A.5.4", "Assessing AI system impact on individuals or groups of individuals",
     _first(_ev("ll144", "NYC LL144 bias audit of logged decisions"),
            _ev("fairness", "group fairness audit")), "register with sensitive features"),
    ("A.5.5", "Assessing societal impacts of AI systems", _tag("ethical_considerations"),
     "model tag `ethical_considerations`"),
    ("A.6.1.2", "Objectives for responsible development of AI system",
     _when(lambda c: c.model.intended_use, "intended use", "model"), "set `intended_use`"),
    ("A.6.1.3", "Processes for responsible AI system design and development",
     _when(lambda c: c.decisions, "policy gate decisions", "decisions"),
     "check the version against a gate policy"),
    ("A.6.2.2", "AI system requirements and specification",
     _when(lambda c: c.version.signature.get("inputs"), "input/output signature", "version"), ""),
    ("A.6.2.3", "Documentation of AI system design and development",
     _when(lambda c: (c.version.lineage.get("code") or {}).get("commit"),
           "code commit, estimator and hyper-parameters", "version"),
     "register from a git working tree"),
    ("A.6.2.4", "AI system verification and validation",
     _first(_ev("validation", "validation report (back-testing, challenger, sensitivity)"),
            _when(lambda c: c.version.measured_metrics, "metrics measured at registration",
                  "version")), "run `mlwarden report validation`"),
    ("A.6.2.5", "AI system deployment",
     _when(lambda c: c.alias_changes, "audited alias moves", "version"), "promote through a gate"),
    ("A.6.2.6", "AI system operation and monitoring",
     _when(lambda c: c.monitoring.get("source") != "none", "monitoring policies or windows",
           "monitoring"), "install a monitoring policy (`mlwarden alerts install`)"),
    ("A.6.2.7", "AI system technical documentation", _DOCS, ""),
    ("A.6.2.8", "AI system recording of event logs",
     _when(lambda c: c.audit_events, "signed Merkle audit log; Art. 12 mapping "
           "(`mlwarden report art12`)", "version"), ""),
    ("A.7.2", "Data for development and enhancement of AI system", _DATA,
     "register with train/eval data"),
    ("A.7.3", "Acquisition of data", _tag("data_acquisition"), "model tag `data_acquisition`"),
    ("A.7.4", "Quality of data for AI systems",
     _ev("reference_profile", "reference profile; data-quality checks in monitoring"),
     "register with data"),
    ("A.7.5", "Data provenance", _DATA, "register with named data sets"),
    ("A.7.6", "Data preparation", _tag("data_preparation"), "model tag `data_preparation`"),
    ("A.8.2", "System documentation and information for users",
     _when(lambda c: True, "instructions for use (Art. 13) and model card", "version"), ""),
    ("A.8.3", "External reporting", _tag("external_reporting"), "model tag `external_reporting`"),
    ("A.8.4", "Communication of incidents",
     _when(lambda c: c.monitoring.get("policies"), "monitoring policies with notification "
           "channels", "monitoring"), "install a monitoring policy with a channel"),
    ("A.8.5", "Information for interested parties", _tag("provider"), "model tag `provider`"),
    ("A.9.2", "Processes for responsible use of AI systems",
     _when(lambda c: c.approvals, "approvals under separation of duties", "approvals"),
     "approve the version"),
    ("A.9.3", "Objectives for responsible use of AI system", _tag("intended_users"),
     "model tag `intended_users`"),
    ("A.9.4", "Intended use of the AI system",
     _when(lambda c: c.model.intended_use, "intended use", "model"), "set `intended_use`"),
    ("A.10.2", "Allocating responsibilities",
     _when(lambda c: c.model.owner, "model owner", "model"), "set the model owner"),
    ("A.10.3", "Suppliers", _tag("suppliers"), "model tag `suppliers`"),
    ("A.10.4", "Customers", _tag("customers"), "model tag `customers`"),
)  # fmt: skip


def soa_rows(ctx: ReportContext) -> list[tuple[str, str, str, str, str]]:
    """(control, title, status, evidence or how to fill, source) per Annex A control."""
    rows = []
    for control, title, check, fill in SOA_CONTROLS:
        found = check(ctx)
        if found:
            rows.append((control, title, "evidence", found[0], f"source: {found[1]}"))
        else:
            rows.append((control, title, "gap", fill or "—", "—"))
    return rows


def soa_summary(ctx: ReportContext) -> dict[str, Any]:
    rows = soa_rows(ctx)
    return {
        "controls": {r[0]: r[2] for r in rows},
        "gaps": sum(r[2] == "gap" for r in rows),
        "evidenced": sum(r[2] == "evidence" for r in rows),
    }


def soa_document(ctx: ReportContext) -> str:
    rows = soa_rows(ctx)
    gaps = sum(r[2] == "gap" for r in rows)
    return "\n".join(
        [
            f"# ISO/IEC 42001 Statement of Applicability: {ctx.ref}\n",
            f"_Generated {ctx.generated_at}. Every Annex A control is listed as applicable; "
            "each is tied to the record that evidences it, or marked as a gap with how to "
            f"fill it. {len(rows) - gaps} of {len(rows)} controls have evidence, {gaps} are "
            "gaps. Excluding a control, and the organisation-level controls (A.2, A.3), are "
            "decisions for the AI management system's owner._\n",
            table(("Control", "Title", "Status", "Evidence / how to fill", "Source"), rows),
        ]
    )
