"""The human-oversight record (EU AI Act Art. 14) of one version: the review rule that flags
its decisions, the queue, every reviewer's decision and the override rate.

Generating it (``mlwarden report oversight NAME@V``) records the figures as the version's
``oversight`` evidence with an ``evidence.record`` audit event, so policies read
``oversight.override_rate`` and ``oversight.pending`` and a bundle proves the document's
source against the audit log; the document renders that recorded evidence.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from mlwarden._json import jsonable
from mlwarden.reports._md import num, table
from mlwarden.reports.context import ReportContext

KIND = "oversight"
#: Decisions listed in the record, newest last (the counts cover all of them).
MAX_DECISIONS = 50


def oversight_summary(wd: Any, ctx: ReportContext) -> dict[str, Any]:
    """What the record shows, read from the review store and the model's audit log."""
    model_id = wd.registry.store.model_id(ctx.version.name)
    store = wd.oversight.store
    rule = store.rule(model_id)
    items = [
        i for i in store.items(model_id, None, 1_000_000) if i["version"] == ctx.version.version
    ]
    counts = Counter(i["status"] for i in items)
    decided = [i for i in items if i["status"] != "pending"]
    decided.sort(key=lambda i: (i["decided_at"], i["prediction_id"]))
    flags = [
        e.payload or {}
        for e in wd.audit.events(model=ctx.version.name)
        if e.action == "review.flag"
    ]
    overridden = counts["overridden"]
    return jsonable(
        {
            "rule": None if rule is None else rule["rule"],
            "rule_set_by": None if rule is None else rule["set_by"],
            "rule_set_at": None if rule is None else rule["set_at"].isoformat(),
            "flagged": len(items),
            "pending": counts["pending"],
            "confirmed": counts["confirmed"],
            "overridden": overridden,
            "override_rate": overridden / len(decided) if decided else None,
            "reviewers": sorted({str(i["reviewer"]) for i in decided}),
            "flagging_runs": {
                "automatic": sum(
                    bool(p.get("automatic")) and p.get("version") == ctx.version.version
                    for p in flags
                ),
                "on_demand": sum(not p.get("automatic") for p in flags),
            },
            "decisions": [
                {
                    k: i[k]
                    for k in (
                        "prediction_id",
                        "output",
                        "status",
                        "decided_output",
                        "reviewer",
                        "decided_at",
                        "comment",
                    )
                }
                for i in decided[-MAX_DECISIONS:]
            ],
        }
    )


def oversight_document(ctx: ReportContext) -> str:
    head = f"# Human oversight record (EU AI Act Art. 14): {ctx.ref}\n"
    item = ctx.ev(KIND)
    if item is None:
        return head + (
            "\nNo oversight record yet: `mlwarden report oversight "
            f"{ctx.ref}` records one (validators and admins).\n"
        )
    s = item.content
    rate = "n/a (nothing decided yet)" if s["override_rate"] is None else num(s["override_rate"])
    facts = [
        ("Review rule", f"`{s['rule']}`" if s["rule"] else "none: no decision is flagged"),
        ("Rule set by", f"{s['rule_set_by']} at {s['rule_set_at']}" if s["rule"] else "—"),
        ("Flagged decisions of this version", s["flagged"]),
        ("Pending review", s["pending"]),
        ("Confirmed", s["confirmed"]),
        ("Overridden", s["overridden"]),
        ("Override rate (overridden / decided)", rate),
        ("Reviewers", ", ".join(s["reviewers"]) or "—"),
        (
            "Flagging runs",
            f"{s['flagging_runs']['automatic']} as predictions were logged, "
            f"{s['flagging_runs']['on_demand']} on demand",
        ),
    ]
    rows = [
        (
            d["prediction_id"],
            d["output"],
            d["status"],
            d["decided_output"] or "—",
            d["reviewer"],
            str(d["decided_at"])[:19],
            d["comment"] or "",
        )
        for d in s["decisions"]
    ]
    return "\n".join(
        [
            head,
            f"_Generated {ctx.generated_at}. A rule flags the version's decisions for people "
            "to check (Art. 14(4)(a)–(d)); a reviewer confirms or overrides each one (Art. "
            "14(4)(d)); nobody reviews decisions of a version they registered. Every rule "
            "change, flagging run and decision is an audit event (`review.*`)._\n",
            "## Summary\n",
            table(("Field", "Value"), facts),
            f"\n## Decisions (the last {MAX_DECISIONS} at most)\n",
            table(
                (
                    "Prediction",
                    "Output",
                    "Decision",
                    "Reviewer's output",
                    "Reviewer",
                    "At",
                    "Comment",
                ),
                rows,
            )
            if rows
            else "_None yet._",
            f"\nsource: {ctx.cite(KIND)}\n",
        ]
    )
