"""NYC Local Law 144 bias audit of a model from its logged predictions (docs/compliance.md).

:func:`bias_audit` reads the predictions Warden logged over a period, with the sex and
race/ethnicity logged beside them (``log_predictions(..., sensitive=...)``, or as inputs),
computes the tables (``engines/fairness/ll144.py``) and records them as the version's ``ll144``
evidence with an audited digest, so a policy reads ``ll144.min_impact_ratio`` and a bundle
proves the figures. :func:`ll144_markdown` and :func:`ll144_csv` render that evidence.
"""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from mlwarden.errors import NotFound, ValidationError
from mlwarden.reports._md import bullets, num, table

if TYPE_CHECKING:
    from mlwarden.reports.context import ReportContext

KIND = "ll144"
RACE_COLUMNS = ("race", "ethnicity", "race_ethnicity")
TITLES = {"sex": "Sex", "race": "Race/ethnicity", "intersection": "Intersectional categories"}
DISTRIBUTION_TAG = "aedt_distribution_date"


def bias_audit(
    wd: Any,
    ref: str,
    *,
    since: Any = None,
    until: Any = None,
    sex: str = "sex",
    race: str | None = None,
    scoring: bool | None = None,
    min_share: float | None = None,
    data_source: str | None = None,
    now: datetime | None = None,
    record: bool = True,
) -> dict[str, Any]:
    """The LL144 audit of ``ref`` (``NAME``: every version's predictions; ``NAME@V``: that
    version's) over ``[since, until)``. Selection rates use each version's favourable label;
    ``scoring`` (default: when the output has no favourable label) ranks the ``score`` (else
    the numeric output) against the sample median. With ``record`` the result becomes the
    ``ll144`` evidence of ``NAME@V`` (or of the newest version audited)."""
    from mlwarden.engines.fairness.ll144 import MIN_SHARE, bias_tables, scored_above_median
    from mlwarden.monitor.service import as_time
    from mlwarden.registry.signature import favorable_label

    start, end = as_time(since, "since"), as_time(until, "until")
    if start is not None and end is not None and start >= end:
        raise ValidationError("since must be before until", field="since")
    share = MIN_SHARE if min_share is None else float(min_share)
    if not 0 <= share < 1:
        raise ValidationError(f"min_share must be in [0, 1), got {share}", field="min_share")
    name, pinned = (ref.split("@", 1)[0], wd.get_model_version(ref)) if "@" in ref else (ref, None)
    wd.get_model(name)
    frame = wd.predictions(
        name, since=start, until=end, version=None if pinned is None else pinned.version
    )
    erased = int(frame["erased"].astype(bool).sum()) if "erased" in frame.columns else 0
    if erased:  # a shredded subject's row keeps no attributes or output
        frame = frame[~frame["erased"].astype(bool)].reset_index(drop=True)
    if frame.empty:
        raise NotFound(f"no logged predictions of {ref} in the period to audit", model=name)
    race = race or next((c for c in RACE_COLUMNS if c in frame.columns), "race")
    for field, column in (("sex", sex), ("race", race)):
        if column not in frame.columns:
            raise ValidationError(
                f"{field}: column {column!r} was not logged with {ref}'s predictions "
                "(log it as an input or with sensitive=...)",
                field=field,
            )
    versions = sorted(int(v) for v in frame["version"].unique())
    labels = {v: favorable_label(wd.get_model_version(f"{name}@{v}").signature) for v in versions}
    if scoring is None:
        scoring = any(label is None for label in labels.values())
    median = None
    if scoring:
        values = frame["score"].astype(float)
        if values.isna().all():
            try:
                values = frame["output"].astype(float)
            except ValueError:
                raise ValidationError(
                    f"{ref} logged no scores and its output is not numeric: "
                    "a scoring-rate audit needs one",
                    field="scoring",
                ) from None
        selected, median = scored_above_median(values.to_numpy())
    else:
        favourable = frame["version"].map(lambda v: str(labels[int(v)]))
        selected = (frame["output"].astype(str) == favourable).to_numpy()
    result = bias_tables(
        frame[sex].to_numpy(dtype=object), frame[race].to_numpy(dtype=object), selected,
        min_share=share,
    )  # fmt: skip
    target = pinned or wd.get_model_version(f"{name}@{versions[-1]}")
    audited_at = (now or datetime.now(UTC)).isoformat()
    content: dict[str, Any] = {
        "standard": "NYC Local Law 144 (6 RCNY §5-300 ff.)",
        "model": name,
        "versions": versions,
        "attached_to": target.ref,
        "since": start.isoformat() if start else str(frame["ts"].min()),
        "until": end.isoformat() if end else str(frame["ts"].max()),
        "audited_at": audited_at,
        "audited_by": wd.actor,
        "method": "scoring rate" if scoring else "selection rate",
        "favorable_label": None if scoring else {str(v): labels[v] for v in versions},
        "median_score": median,
        "min_share": share,
        "erased_rows": erased,
        "columns": {"sex": sex, "race": race},
        "data_source": {
            "kind": "historical data",
            "explanation": data_source
            or (
                f"{len(frame):,} decisions of {name} (version(s) "
                f"{', '.join(map(str, versions))}) logged by Warden's prediction log with the "
                "applicants' sex and race/ethnicity recorded beside them"
            ),
        },
        "distribution_date": (wd.get_model(name).tags or {}).get(DISTRIBUTION_TAG),
        **result,
    }
    if record:
        from mlwarden.reports.context import record as record_evidence

        record_evidence(wd, target.ref, KIND, content)
    return content


def ll144_markdown(audit: dict[str, Any]) -> str:
    """The published summary of results, from ``ll144`` evidence."""
    rate = "Scoring rate" if audit["method"] == "scoring rate" else "Selection rate"
    picked = "Scored above median" if audit["method"] == "scoring rate" else "Selected"
    unknown = {name: t["unknown"] for name, t in audit["tables"].items()}
    lowest = [
        f"{t['min_impact_ratio']:.4f} ({TITLES[n].lower()}: {t['lowest_category']})"
        for n, t in audit["tables"].items()
        if t["min_impact_ratio"] is not None
    ]
    basis = (
        f"share of individuals whose score exceeds the sample median ({num(audit['median_score'])})"
        if audit["method"] == "scoring rate"
        else "share of individuals given the favourable outcome "
        + ", ".join(f"`{v}` (version {k})" for k, v in (audit["favorable_label"] or {}).items())
    )
    summary = table(
        ("Field", "Value"),
        [
            ("Date of the bias audit", audit["audited_at"][:10]),
            ("AEDT", f"{audit['model']} (version(s) {', '.join(map(str, audit['versions']))})"),
            ("Distribution date", audit.get("distribution_date")
             or f"not recorded (model tag `{DISTRIBUTION_TAG}`)"),
            ("Period audited", f"{audit['since']} to {audit['until']}"),
            ("Data source", audit["data_source"]["kind"]),
            ("Explanation of the data", audit["data_source"]["explanation"]),
            ("Individuals assessed", audit["rows"]),
            (picked, audit["selected"]),
            ("Rate computed", f"{rate.lower()}: {basis}"),
            ("Unknown category (sex / race / intersection)",
             f"{unknown['sex']} / {unknown['race']} / {unknown['intersection']}"),
            ("Erased subjects left out", audit.get("erased_rows", 0)),
            ("Lowest impact ratio", audit["min_impact_ratio"]),
            ("Lowest per table", lowest),
        ],
    )  # fmt: skip
    parts = [
        f"# NYC Local Law 144 bias audit: {audit['model']}\n",
        f"_Summary of results under {audit['standard']}; audited by {audit['audited_by']} on "
        f"{audit['audited_at']}; recorded as `ll144` evidence of {audit['attached_to']}._\n",
        "## Summary\n",
        summary,
    ]
    for name, t in audit["tables"].items():
        rows = [
            (
                r["category"],
                r["n"],
                r["selected"],
                r["rate"],
                "excluded (< {:.0%} of data)".format(audit["min_share"])
                if r["excluded"]
                else r["impact_ratio"],
            )
            for r in t["rows"]
        ]
        parts += [
            f"## {TITLES[name]}\n",
            table(("Category", "Number of individuals", picked, rate, "Impact ratio"), rows),
            f"\nUnknown category: {t['unknown']} individual(s).\n",
        ]
    excluded = [f"{e['category']} ({TITLES[e['table']].lower()}, n={e['n']})"
                for e in audit["excluded"]]  # fmt: skip
    parts += [
        "## Categories excluded from the impact ratios\n",
        f"Categories with fewer than {audit['min_share']:.0%} of the {audit['rows']:,} "
        "individuals assessed are listed with their rate but left out of the impact ratios "
        "(and of the highest rate they are divided by).\n\n" + bullets(excluded),
        "## Method\n",
        bullets(
            [
                f"{rate}: {basis}.",
                "Impact ratio: a category's rate divided by the highest rate among the "
                "categories kept in the same table.",
                "Intersectional categories combine sex and race/ethnicity; a person with "
                "either unknown is counted as unknown there.",
                f"Columns read: sex from `{audit['columns']['sex']}`, race/ethnicity from "
                f"`{audit['columns']['race']}`.",
            ]
        ),
    ]
    return "\n".join(parts)


def ll144_csv(audit: dict[str, Any]) -> str:
    """Every table as CSV rows: table, category, n, selected, rate, impact_ratio, excluded."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(("table", "category", "n", "selected", "rate", "impact_ratio", "excluded"))
    for name, t in audit["tables"].items():
        for r in t["rows"]:
            ratio = "" if r["impact_ratio"] is None else f"{r['impact_ratio']:.6f}"
            writer.writerow(
                (name, r["category"], r["n"], r["selected"], f"{r['rate']:.6f}", ratio,
                 str(r["excluded"]).lower())
            )  # fmt: skip
        writer.writerow((name, "unknown", t["unknown"], "", "", "", ""))
    return buf.getvalue()


def ll144_document(ctx: ReportContext) -> str:
    """The summary from the version's recorded audit, or how to produce one."""
    ev = ctx.ev(KIND)
    if ev is None:
        return (
            f"# NYC Local Law 144 bias audit: {ctx.ref}\n\n"
            f"_No bias audit is recorded for {ctx.ref}. Run `mlwarden report ll144 "
            f"{ctx.ref} --since … --until …` over its logged predictions._\n"
        )
    return ll144_markdown(ev.content) + f"\nsource: {ctx.cite(KIND)}\n"
