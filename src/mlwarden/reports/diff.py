"""Version-to-version diff: metrics, signature, lineage and data, fairness, importance."""

from __future__ import annotations

from typing import Any, ClassVar

from mlwarden.reports import facts
from mlwarden.reports._md import bullets, num, table
from mlwarden.reports.context import ReportContext, short


def _delta(a: Any, b: Any) -> Any:
    if isinstance(a, bool) or isinstance(b, bool):  # bools are ints, but not quantities
        return None
    if isinstance(a, int | float) and isinstance(b, int | float):
        return float(b) - float(a)
    return None


def metric_rows(a: ReportContext, b: ReportContext) -> list[tuple[Any, ...]]:
    ma, mb = a.version.metrics, b.version.metrics
    return [
        (k, ma.get(k), mb.get(k), _delta(ma.get(k), mb.get(k))) for k in sorted(set(ma) | set(mb))
    ]


def signature_changes(a: ReportContext, b: ReportContext) -> list[str]:
    ia = {c["name"]: c for c in a.version.signature.get("inputs", [])}
    ib = {c["name"]: c for c in b.version.signature.get("inputs", [])}
    out = [f"input added: `{n}` ({ib[n].get('type')})" for n in ib if n not in ia]
    out += [f"input removed: `{n}`" for n in ia if n not in ib]
    for n in ia.keys() & ib.keys():
        for key in ("type", "nullable", "sensitive"):
            if ia[n].get(key) != ib[n].get(key):
                out.append(f"input `{n}` {key}: {ia[n].get(key)} → {ib[n].get(key)}")
        ca, cb = set(ia[n].get("categories") or []), set(ib[n].get("categories") or [])
        if ca != cb:
            out.append(f"input `{n}` categories: +{sorted(cb - ca)} −{sorted(ca - cb)}")
    oa, ob = a.version.signature.get("output") or {}, b.version.signature.get("output") or {}
    if oa != ob:
        out.append(f"output: {oa} → {ob}")
    return sorted(out)


def lineage_changes(a: ReportContext, b: ReportContext) -> list[str]:
    la, lb = a.version.lineage, b.version.lineage
    out = []
    da, db = la.get("datasets") or {}, lb.get("datasets") or {}
    for role in sorted(set(da) | set(db)):
        x, y = da.get(role) or {}, db.get(role) or {}
        if x.get("sha256") != y.get("sha256"):
            out.append(
                f"{role} data: {x.get('name')} ({num(x.get('rows'))} rows, "
                f"{short(x.get('sha256'))}) → "
                f"{y.get('name')} ({num(y.get('rows'))} rows, {short(y.get('sha256'))})"
            )
    for key in ("estimator", "flavor", "sensitive_features"):
        if la.get(key) != lb.get(key):
            out.append(f"{key}: {la.get(key)} → {lb.get(key)}")
    ca, cb = la.get("code") or {}, lb.get("code") or {}
    if (ca.get("commit"), ca.get("dirty")) != (cb.get("commit"), cb.get("dirty")):
        out.append(
            f"code: {ca.get('commit')} → {cb.get('commit')}"
            + (" (dirty)" if cb.get("dirty") else "")
        )
    pa = (la.get("environment") or {}).get("packages") or {}
    pb = (lb.get("environment") or {}).get("packages") or {}
    for pkg in sorted(set(pa) | set(pb)):
        if pa.get(pkg) != pb.get(pkg):
            out.append(f"package {pkg}: {pa.get(pkg)} → {pb.get(pkg)}")
    pii_a, pii_b = _pii(a), _pii(b)
    if pii_a != pii_b:
        out.append(f"personal data found in: {pii_a} → {pii_b} (privacy evidence)")
    if a.version.artifact_sha256 == b.version.artifact_sha256:
        out.append("artifact unchanged (same sha256)")
    pra, prb = a.version.params, b.version.params
    changed = sorted(
        k
        for k in set(pra) | set(prb)
        if pra.get(k) != prb.get(k) and "object at 0x" not in str(pra.get(k))
    )
    out += [f"param {k}: {pra.get(k)} → {prb.get(k)}" for k in changed[:20]]
    return out


def _pii(ctx: ReportContext) -> list[str] | None:
    item = ctx.ev("privacy")
    return None if item is None else sorted(map(str, item.content.get("pii_features") or []))


def fairness_rows(a: ReportContext, b: ReportContext) -> list[tuple[Any, ...]]:
    fa = ((a.ev("fairness") or _Empty()).content.get("summary")) or {}
    fb = ((b.ev("fairness") or _Empty()).content.get("summary")) or {}
    rows = []
    for attr in sorted(set(fa) | set(fb)):
        for key in (*facts.FAIRNESS_KEYS, "worst_group", "four_fifths_rule"):
            x, y = (fa.get(attr) or {}).get(key), (fb.get(attr) or {}).get(key)
            rows.append((attr, key, x, y, _delta(x, y)))
    return rows


class _Empty:
    content: ClassVar[dict[str, Any]] = {}


def importance_rows(a: ReportContext, b: ReportContext, top: int = 15) -> list[tuple[Any, ...]]:
    ia, ib = facts.importance(a), facts.importance(b)
    rank_a = {k: i + 1 for i, k in enumerate(sorted(ia, key=lambda k: -abs(ia[k])))}
    rank_b = {k: i + 1 for i, k in enumerate(sorted(ib, key=lambda k: -abs(ib[k])))}
    keys = sorted(set(ia) | set(ib), key=lambda k: rank_b.get(k, 10**6))[:top]
    return [
        (k, rank_a.get(k), rank_b.get(k), ia.get(k), ib.get(k), _delta(ia.get(k), ib.get(k)))
        for k in keys
    ]


def diff_summary(a: ReportContext, b: ReportContext) -> list[str]:
    """One line per notable change (used by Annex IV section 6)."""
    out = [
        f"{k}: {num(x)} → {num(y)} ({'+' if d >= 0 else ''}{num(d)})"
        for k, x, y, d in metric_rows(a, b)
        if d is not None and abs(d) > 1e-12
    ]
    out += signature_changes(a, b) + lineage_changes(a, b)
    top_a = list(facts.importance(a))[:3]
    top_b = list(facts.importance(b))[:3]
    if top_a != top_b:
        out.append(f"top features: {top_a} → {top_b}")
    return out


def version_diff(a: ReportContext, b: ReportContext) -> str:
    sig = signature_changes(a, b)
    lin = lineage_changes(a, b)
    return "\n".join(
        [
            f"# Version diff: {a.ref} → {b.ref}\n",
            f"_Generated {b.generated_at}. Sources: {a.cite('version')}; {b.cite('version')}._\n",
            "## Metrics\n",
            table(("Metric", a.ref, b.ref, "Change"), metric_rows(a, b)),
            "## Signature\n",
            bullets(sig) if sig else "_Unchanged._\n",
            "## Lineage and data\n",
            bullets(lin) if lin else "_Unchanged._\n",
            "## Fairness summary\n",
            table(("Attribute", "Metric", a.ref, b.ref, "Change"), fairness_rows(a, b))
            + f"\nsources: {_src(a, 'fairness')}; {_src(b, 'fairness')}\n",
            "## Feature importance\n",
            table(
                ("Feature", f"Rank {a.ref}", f"Rank {b.ref}", a.ref, b.ref, "Change"),
                importance_rows(a, b),
            )
            + f"\nsources: {_src(a, 'explain')}; {_src(b, 'explain')}\n",
        ]
    )


def _src(ctx: ReportContext, kind: str) -> str:
    return ctx.cite(kind) if kind in ctx.evidence else f"no {kind} evidence for {ctx.ref}"
