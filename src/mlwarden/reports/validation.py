"""Model validation report in the shape bank model-risk teams use (SR 11-7 style):
conceptual soundness, outcomes analysis and back-testing on logged labels, benchmarking
against a challenger, sensitivity analysis, ongoing monitoring, the findings register, and
validator independence read from the audit log.

:func:`validate` measures what needs the model and the prediction log and records it as the
version's ``validation`` evidence (audited digest); :func:`validation_report` renders that
evidence with the version's records, so a bundle re-renders it without re-running the model.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import numpy as np

from mlwarden.errors import ValidationError
from mlwarden.reports._md import bullets, needs, num, table
from mlwarden.reports.context import ReportContext
from mlwarden.reports.facts import evidence_limitations, metrics_table

if TYPE_CHECKING:
    import pandas as pd


KIND = "validation"
SENSITIVITY_ROWS = 500  # logged rows the perturbations run on (the earliest, for repeatability)
#: Audit actions that show who did what in validation.
VALIDATION_ACTIONS = ("version.approve", "policy.decision", "finding.add", "finding.update")


def validate(
    wd: Any,
    ref: str,
    *,
    challenger: str | None = None,
    now: datetime | None = None,
    record: bool = True,
) -> dict[str, Any]:
    """Measure ``ref`` for its validation report; recorded as ``validation`` evidence."""
    mv = wd.get_model_version(ref)
    cmv = wd.get_model_version(challenger) if challenger else None
    if cmv is not None and cmv.ref == mv.ref:
        raise ValidationError("the challenger must be another version", field="challenger")
    frame = wd.predictions(mv.name, version=mv.version)
    if "erased" in frame.columns:
        frame = frame[~frame["erased"].astype(bool)].reset_index(drop=True)
    inputs = [c for c in mv.input_names if c in frame.columns]
    labelled = frame[frame["label"].notna()] if "label" in frame.columns else frame.iloc[:0]
    content: dict[str, Any] = {
        "ref": mv.ref,
        "validated_at": (now or datetime.now(UTC)).isoformat(),
        "validated_by": wd.actor,
        "logged": len(frame),
        "labelled": len(labelled),
        "backtest": _backtest(mv.signature, labelled),
        "challenger": _benchmark(wd, mv, cmv, labelled, inputs) if cmv else None,
        "sensitivity": _sensitivity(wd, mv, frame.head(SENSITIVITY_ROWS), inputs),
        "findings": [f.to_dict() for f in wd.findings.list(mv.ref)],
        "independence": independence(wd, mv.ref, wd.actor),
    }
    open_ = [f for f in content["findings"] if f["status"] in ("open", "in_progress")]
    content["independent"] = content["independence"]["independent"]
    content["open_findings"] = len(open_)
    content["open_high_findings"] = sum(f["severity"] in ("high", "critical") for f in open_)
    if record:
        from mlwarden.reports.context import record as record_evidence

        record_evidence(wd, mv.ref, KIND, content)
    return content


def _metrics(signature: dict[str, Any], y_true: Any, y_pred: Any) -> dict[str, float]:
    from mlwarden.registry.metrics import classification_metrics, regression_metrics

    classes = signature.get("output", {}).get("classes")
    if classes is None:
        return regression_metrics(np.asarray(y_true, float), np.asarray(y_pred, float))
    names = [str(c) for c in classes]
    truth, pred = np.asarray(y_true).astype(str), np.asarray(y_pred).astype(str)
    return {k: float(v) for k, v in classification_metrics(truth, pred, None, names).items()}


def _backtest(signature: dict[str, Any], labelled: pd.DataFrame) -> dict[str, Any]:
    """Metrics on every labelled prediction, and per calendar month (back-testing)."""
    if labelled.empty:
        return {"overall": {}, "by_month": []}
    months = labelled["ts"].dt.strftime("%Y-%m")
    by_month = [
        {"month": m, "n": len(part), **_metrics(signature, part["label"], part["output"])}
        for m, part in labelled.groupby(months, sort=True)
    ]
    overall = _metrics(signature, labelled["label"], labelled["output"])
    return {"overall": {"n": len(labelled), **overall}, "by_month": by_month}


def _benchmark(wd: Any, mv: Any, cmv: Any, labelled: pd.DataFrame, inputs: list[str]) -> Any:
    """The challenger scored on the same labelled logged inputs as the champion's decisions."""
    out: dict[str, Any] = {
        "ref": cmv.ref,
        "registered": {
            "champion": dict(mv.measured_metrics),
            "challenger": dict(cmv.measured_metrics),
        },
    }
    missing = [c for c in cmv.input_names if c not in labelled.columns]
    if labelled.empty or missing:
        out["measured"] = None
        out["why"] = (
            "no labelled predictions" if labelled.empty else f"inputs not logged: {missing}"
        )
        return out
    model = wd.load_model(cmv.ref)
    pred = np.asarray(model.predict(_model_frame(cmv, labelled)))
    out["measured"] = {
        "n": len(labelled),
        "champion": _metrics(mv.signature, labelled["label"], labelled["output"]),
        "challenger": _metrics(cmv.signature, labelled["label"], pred),
        "agreement": float(np.mean(pred.astype(str) == labelled["output"].astype(str).to_numpy())),
    }
    return out


def _model_frame(mv: Any, logged: pd.DataFrame) -> pd.DataFrame:
    """Logged inputs (JSON values) as the frame the model was trained on: the signature's
    dtypes, so a model trained on pandas categories (LightGBM) reads them as it was fitted."""
    from mlwarden.serving.core import InputSpec, frame_for

    part = logged[mv.input_names].reset_index(drop=True)
    records = part.astype(object).where(part.notna(), None).to_dict("records")
    return frame_for(InputSpec.from_signature(mv.signature), records)


def _sensitivity(wd: Any, mv: Any, rows: pd.DataFrame, inputs: list[str]) -> list[Any]:
    """Perturb one input at a time on logged rows and measure the change in the model's
    score (favourable-class probability, else the numeric output) and in its decisions.
    Numbers move by one standard deviation; categories switch to the most frequent other."""
    from mlwarden.registry.signature import favorable_label

    if rows.empty or len(inputs) != len(mv.input_names):
        return []
    model = wd.load_model(mv.ref)
    X = _model_frame(mv, rows)
    classes = list(getattr(model, "classes_", []))
    good = favorable_label(mv.signature)
    column = next((i for i, c in enumerate(classes) if str(c) == str(good)), None)

    def score(frame: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
        decisions = np.asarray(model.predict(frame)).astype(str)
        if column is not None and hasattr(model, "predict_proba"):
            return np.asarray(model.predict_proba(frame))[:, column], decisions
        return decisions.astype(float), decisions

    base, base_dec = score(X)
    out = []
    for name in mv.input_names:
        moved = X.copy()
        col = X[name]
        if col.dtype.kind in "iuf":
            step = float(col.std()) or 1.0
            step = step if col.dtype.kind == "f" else max(round(step), 1)  # integer columns
            moved[name] = col + step
            how = f"+{num(step, 3)} (one std)"
        else:
            counts = col.value_counts()
            ranked = list(counts[counts > 0].index)
            if len(ranked) < 2:
                continue
            top, second = ranked[0], ranked[1]
            # keeps a categorical dtype: both values are among its categories
            moved[name] = col.where(col == top, top).where(col != top, second)
            how = f"to {str(top)!r} (rows already there: {str(second)!r})"
        after, after_dec = score(moved)
        out.append(
            {
                "feature": name,
                "perturbation": how,
                "mean_abs_change": float(np.mean(np.abs(after - base))),
                "max_abs_change": float(np.max(np.abs(after - base))),
                "decisions_flipped": float(np.mean(after_dec != base_dec)),
            }
        )
    return sorted(out, key=lambda r: -r["mean_abs_change"])


def independence(wd: Any, ref: str, validator: str) -> dict[str, Any]:
    """Who registered the version and who validated, approved, checked and raised findings,
    each with the audit event that shows it."""
    mv = wd.get_model_version(ref)
    own = f"model:{mv.name}/{mv.version}"
    events = [e for e in wd.audit.events(model=mv.name) if e.subject in (own, f"model:{mv.name}")]
    registered = [e for e in events if e.action == "version.register"]
    roles = [
        {"role": "registered", "actor": e.actor, "seq": e.seq, "time": str(e.time)}
        for e in registered
    ]
    roles += [
        {"role": e.action, "actor": e.actor, "seq": e.seq, "time": str(e.time)}
        for e in events
        if e.action in VALIDATION_ACTIONS
    ]
    developers = {e.actor for e in registered}
    reviewers = {r["actor"] for r in roles if r["role"] in ("version.approve", "finding.add")}
    reviewers.add(validator)
    return {
        "developers": sorted(developers),
        "validators": sorted(reviewers),
        "events": roles,
        "independent": not (developers & reviewers),
    }


def validation_report(ctx: ReportContext) -> str:
    """The report for the version's recorded validation (or how to record one)."""
    ev = ctx.ev(KIND)
    head = [f"# Model validation report: {ctx.ref}\n"]
    if ev is None:
        return head[0] + (
            f"\n_No validation is recorded for {ctx.ref}. Run `mlwarden report validation "
            f"{ctx.ref} [--challenger NAME@V]`._\n"
        )
    v = ev.content
    src = f"source: {ctx.cite(KIND)}"
    head.append(
        f"_Validated by {v['validated_by']} on {v['validated_at']}; {v['logged']:,} logged "
        f"predictions, {v['labelled']:,} with labels._\n"
    )
    return "\n".join(
        head
        + _soundness(ctx)
        + _outcomes(ctx, v, src)
        + _challenger(v, src)
        + _sensitivity_md(v, src)
        + _monitoring(ctx)
        + _findings(v, src)
        + _independence(v, src)
    )


def _soundness(ctx: ReportContext) -> list[str]:
    m, mv = ctx.model, ctx.version
    limits = [ctx.tag("limitations") or needs("known limitations (model tag `limitations`)")]
    return [
        "## 1. Conceptual soundness\n",
        table(
            ("Aspect", "Recorded", "Source"),
            [
                ("Intended use", m.intended_use or needs("intended use"), ctx.cite("model")),
                ("Description", m.description or mv.description, ctx.cite("model")),
                ("Owner / risk tier", f"{m.owner or '—'} / {m.risk_tier}", ctx.cite("model")),
                ("Estimator", mv.lineage.get("estimator"), ctx.cite("version")),
                ("Code commit", (mv.lineage.get("code") or {}).get("commit"), ctx.cite("version")),
                (
                    "Documentation",
                    f"model card and Annex IV file of {ctx.ref} (`mlwarden report card`)",
                    ctx.cite("version"),
                ),
                (
                    "Out of scope",
                    ctx.tag("out_of_scope") or needs("tag `out_of_scope`"),
                    ctx.cite("tags"),
                ),
            ],
        ),
        "\n**Limitations**\n",
        bullets(limits + evidence_limitations(ctx)),
        "**Metrics at registration**\n",
        metrics_table(ctx),
    ]


def _outcomes(ctx: ReportContext, v: dict[str, Any], src: str) -> list[str]:
    bt = v["backtest"]
    if not bt["overall"]:
        return [
            "## 2. Outcomes analysis and back-testing\n",
            "_No logged prediction has a label yet (`wd.log_labels`)._\n",
        ]
    names = [k for k in bt["overall"] if k != "n"]
    registered = ctx.version.measured_metrics
    return [
        "## 2. Outcomes analysis and back-testing\n",
        table(
            ("Metric", "At registration", "On logged labels", "Change"),
            [
                (
                    k,
                    registered.get(k),
                    bt["overall"][k],
                    None if registered.get(k) is None else bt["overall"][k] - registered[k],
                )
                for k in names
            ],
        ),
        "\n**By month**\n",
        table(
            ("Month", "Labelled", *names),
            [(r["month"], r["n"], *(r[k] for k in names)) for r in bt["by_month"]],
        ),
        f"\n{src}\n",
    ]


def _challenger(v: dict[str, Any], src: str) -> list[str]:
    c = v.get("challenger")
    if not c:
        return ["## 3. Benchmarking\n", "_No challenger given (`--challenger NAME@V`)._\n"]
    parts = ["## 3. Benchmarking against " + c["ref"] + "\n"]
    reg = c["registered"]
    keys = sorted(set(reg["champion"]) | set(reg["challenger"]))
    parts.append(
        "**Registered metrics**\n\n"
        + table(
            ("Metric", v["ref"], c["ref"]),
            [(k, reg["champion"].get(k), reg["challenger"].get(k)) for k in keys],
        )
    )
    m = c.get("measured")
    if m:
        keys = list(m["champion"])
        parts.append(
            f"\n**On the same {m['n']:,} labelled logged inputs** (agreement of decisions "
            f"{num(m['agreement'])})\n\n"
            + table(
                ("Metric", v["ref"], c["ref"]),
                [(k, m["champion"][k], m["challenger"].get(k)) for k in keys],
            )
        )
    else:
        parts.append(f"\n_Not measured on logged data: {c.get('why')}._\n")
    return [*parts, f"\n{src}\n"]


def _sensitivity_md(v: dict[str, Any], src: str) -> list[str]:
    rows = v["sensitivity"]
    return [
        "## 4. Sensitivity analysis\n",
        "Each input perturbed alone on the earliest logged rows; the change in the score "
        "(favourable-class probability) and the share of decisions that flip.\n",
        table(
            ("Feature", "Perturbation", "Mean abs. change", "Max abs. change", "Decisions flipped"),
            [
                (
                    r["feature"],
                    r["perturbation"],
                    r["mean_abs_change"],
                    r["max_abs_change"],
                    r["decisions_flipped"],
                )
                for r in rows
            ],
        ),
        f"\n{src}\n",
    ]


def _monitoring(ctx: ReportContext) -> list[str]:
    from mlwarden.reports.monitoring_plan import alerts_table, windows_table

    return [
        "## 5. Ongoing monitoring\n",
        f"Basis: {ctx.monitoring.get('source')} ({ctx.cite('monitoring')}).\n",
        windows_table(ctx),
        alerts_table(ctx),
    ]


def _findings(v: dict[str, Any], src: str) -> list[str]:
    return [
        "## 6. Findings register\n",
        table(
            ("#", "On", "Severity", "Status", "Owner", "Title", "Raised by", "Updated"),
            [
                (
                    f["id"],
                    f["ref"],
                    f["severity"],
                    f["status"],
                    f["owner"],
                    f["title"],
                    f["created_by"],
                    str(f["updated_at"])[:19],
                )
                for f in v["findings"]
            ],
        ),
        f"\nOutstanding: {v['open_findings']} ({v['open_high_findings']} high or critical). "
        "Every addition and change is an audit event (`finding.add`, `finding.update`).\n",
        f"\n{src}\n",
    ]


def _independence(v: dict[str, Any], src: str) -> list[str]:
    ind = v["independence"]
    verdict = (
        "**Independent**: no one who registered the version validated or approved it."
        if ind["independent"]
        else "**Not independent**: "
        + ", ".join(sorted(set(ind["developers"]) & set(ind["validators"])))
        + " both developed and validated the version."
    )
    return [
        "## 7. Validator independence\n",
        f"Developers: {', '.join(ind['developers']) or '—'}; validators and approvers: "
        f"{', '.join(ind['validators'])}. {verdict}\n",
        table(
            ("Audit seq", "Time", "Actor", "Role"),
            [(e["seq"], e["time"][:19], e["actor"], e["role"]) for e in ind["events"]],
        ),
        f"\n{src}; audit events of {v['ref']}\n",
    ]
