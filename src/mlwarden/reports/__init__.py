"""Documentation from evidence: model cards, EU AI Act Annex IV, Art. 13 instructions, the
post-market monitoring plan, version diffs, and signed evidence bundles (docs/compliance.md).

``wd.report("card", "credit@3")`` returns Markdown; ``format="html"`` a self-contained page;
``format="pdf", out=…`` a PDF through Chromium. ``wd.bundle(ref, path)`` writes the signed zip
that :func:`verify_bundle` checks offline.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlwarden.errors import ValidationError
from mlwarden.reports.context import ReportContext, gather

if TYPE_CHECKING:
    from mlwarden.reports.source import ReportSource

#: Document kinds and the file stem each gets in a bundle.
KINDS = {
    "card": "model-card",
    "annex-iv": "annex-iv",
    "gaps": "gap-report",
    "instructions": "instructions-for-use",
    "monitoring-plan": "monitoring-plan",
    "diff": "diff",
    "ll144": "ll144-bias-audit",
    "validation": "validation-report",
    "art12": "art12-record-keeping",
    "soa": "iso42001-soa",
    "oversight": "human-oversight",
}


def _writers() -> dict[str, Callable[..., str]]:
    from mlwarden.reports.annex_iv import annex_iv
    from mlwarden.reports.card import model_card
    from mlwarden.reports.gaps import gap_report
    from mlwarden.reports.instructions import instructions
    from mlwarden.reports.ll144 import ll144_document
    from mlwarden.reports.mappings import soa_document
    from mlwarden.reports.monitoring_plan import monitoring_plan
    from mlwarden.reports.oversight import oversight_document
    from mlwarden.reports.validation import validation_report

    return {
        "card": model_card,
        "annex-iv": annex_iv,
        "gaps": gap_report,
        "instructions": instructions,
        "monitoring-plan": monitoring_plan,
        "ll144": ll144_document,
        "validation": validation_report,
        "soa": soa_document,
        "oversight": oversight_document,
    }


#: Mappings whose summary is recorded as evidence each time the document is generated.
RECORDED = {"art12": "art12", "soa": "iso42001", "oversight": "oversight"}


def record_mapping(wd: Any, kind: str, ctx: ReportContext) -> ReportContext:
    from mlwarden.reports.context import record
    from mlwarden.reports.mappings import art12_facts, art12_summary, soa_summary
    from mlwarden.reports.oversight import oversight_summary

    if kind == "art12":
        summary = art12_summary(art12_facts(wd, ctx))
    elif kind == "oversight":
        summary = oversight_summary(wd, ctx)
    else:
        summary = soa_summary(ctx)

    record(wd, ctx.ref, RECORDED[kind], summary)
    return gather(wd, ctx.ref)


def previous_context(wd: ReportSource, ctx: ReportContext) -> ReportContext | None:
    """The context of the version registered just before ``ctx``'s, if any."""
    older = [
        v.version for v in wd.list_versions(ctx.version.name) if v.version < ctx.version.version
    ]
    return gather(wd, f"{ctx.version.name}@{max(older)}") if older else None


def document(
    wd: ReportSource, kind: str, ctx: ReportContext, other: ReportContext | None = None
) -> str:
    """The Markdown of one document for an already-gathered context."""
    if kind == "diff":
        from mlwarden.reports.diff import version_diff

        if other is None:
            raise ValidationError(
                "a diff needs two versions: report('diff', OLD, NEW)", field="other"
            )
        return version_diff(ctx, other)
    if kind == "art12":  # counts events across the model's log, not only this version's
        from mlwarden.reports.mappings import art12_document

        return art12_document(wd, ctx)
    writers = _writers()
    if kind not in writers:
        raise ValidationError(
            f"report kind must be one of {list(KINDS)}, got {kind!r}", field="kind"
        )
    if kind == "annex-iv":
        return writers[kind](ctx, previous_context(wd, ctx))
    return writers[kind](ctx)


def report(
    wd: ReportSource,
    kind: str,
    ref: str,
    other: str | None = None,
    *,
    format: str = "md",
    out: str | Path | None = None,
) -> str | Path:
    """Generate document ``kind`` for ``ref`` (for ``diff``: from ``ref`` to ``other``)."""
    from mlwarden.reports.render import render

    if kind not in KINDS:
        raise ValidationError(
            f"report kind must be one of {list(KINDS)}, got {kind!r}", field="kind"
        )
    ctx = gather(wd, ref)
    if kind in RECORDED:  # the summary becomes evidence policies read (audited digest)
        ctx = record_mapping(wd, kind, ctx)
    other_ctx = gather(wd, other) if other is not None else None
    return render(document(wd, kind, ctx, other_ctx), format, out)


def write_bundle(wd: ReportSource, ref: str, path: str | Path) -> Path:
    from mlwarden.reports.bundle import write_bundle as _write

    return _write(wd, ref, path)


def verify_bundle(path: str | Path, pubkey: Any = None) -> Any:
    """Check a bundle offline; returns a ``BundleVerification`` (truthy when it verifies)."""
    from mlwarden.reports.bundle import verify_bundle as _verify

    return _verify(path, pubkey)


def verify_receipt(source: str | Path | dict[str, Any], pubkey: Any = None) -> list[str]:
    """Check a decision receipt offline; returns its problems (empty when it verifies)."""
    from mlwarden.reports.receipt_check import verify_receipt as _verify

    return _verify(source, pubkey)


def render_receipt(signed: dict[str, Any], format: str = "md", out: Any = None) -> Any:
    """A signed receipt (``wd.receipt(id)``) as json, md, html or pdf (``out`` required)."""
    from mlwarden.reports.receipt import render_receipt as _render

    return _render(signed, format, out)


__all__ = [
    "KINDS",
    "ReportContext",
    "document",
    "gather",
    "render_receipt",
    "report",
    "verify_bundle",
    "verify_receipt",
    "write_bundle",
]
