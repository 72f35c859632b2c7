"""The context a monitoring rule reads: one stored monitoring window of the serving version.

Same CEL and the same static checks as gate policies (``mlwarden.policy.analysis``), over a
different tree: the window's drift, quality, performance, fairness and attribution, plus the
model and version it belongs to. ``docs/alerts.md`` carries the table
(``reference_rows(MONITOR_CONTEXT)`` prints it).
"""

from __future__ import annotations

from mlwarden.policy.schema import Leaf, MapOf, Struct

_S, _I, _D, _B, _T = "string", "int", "double", "bool", "timestamp"

_COLUMN = Struct(
    {
        "statistic": Leaf(_D, "the drift statistic (PSI, Wasserstein, Jensen-Shannon, …)"),
        "drifted": Leaf(_B, "the statistic crossed its threshold"),
        "threshold": Leaf(_D),
        "method": Leaf(_S, "drift method used for the column"),
        "p_value": Leaf(_D, "absent for methods without one"),
        "kind": Leaf(_S, "numeric or categorical"),
        "n_ref": Leaf(_I),
        "n_cur": Leaf(_I),
        "approximate": Leaf(_B),
        "error_bound": Leaf(_D),
        "p_value_method": Leaf(_S),
        "p_value_adjusted": Leaf(_D),
        "column": Leaf(_S),
        "details": MapOf(Leaf("dyn"), "field"),
    },
    "one feature's drift",
)

MONITOR_CONTEXT = Struct(
    {
        "model": Struct(
            {
                "name": Leaf(_S, "model name"),
                "risk_tier": Leaf(_S, "low, medium or high"),
                "owner": Leaf(_S, "owning team (absent if not set)"),
                "tags": MapOf(Leaf(_S), "tag", "free-form tags"),
                "aliases": MapOf(Leaf(_I), "alias", "alias → version number, now"),
            },
            "the monitored model",
        ),
        "version": Struct(
            {
                "number": Leaf(_I, "the monitored (serving) version"),
                "ref": Leaf(_S, "name@number"),
                "status": Leaf(_S, "lifecycle status"),
                "metrics": MapOf(Leaf(_D), "metric", "metrics at registration (the baseline)"),
            },
            "the version behind the policy's alias",
        ),
        "window": Struct(
            {
                "start": Leaf(_T),
                "end": Leaf(_T),
                "size": Leaf(_S, "window spec: 1h, 1d, 500rows, …"),
                "segment": Leaf(_S, "all, or column=value"),
                "rows": Leaf(_I, "predictions in the window"),
                "labelled": Leaf(_I, "of which have a label"),
            },
            "the window evaluated",
        ),
        "drift": Struct(
            {
                "share_drifted": Leaf(_D, "share of features that drifted"),
                "dataset_drifted": Leaf(_B, "share_drifted crossed drift_share"),
                "n_drifted": Leaf(_I),
                "n_columns": Leaf(_I),
                "drift_share": Leaf(_D, "the dataset-drift threshold"),
                "fdr": Leaf("dyn"),
                "drifted_columns": Leaf("list", "names of drifted features"),
                "columns": MapOf(_COLUMN, "feature", "per-feature drift"),
                "skipped": MapOf(Leaf(_S), "feature", "features not compared, with the reason"),
            },
            "drift of the window against the reference profile",
        ),
        "quality": Struct(
            {
                "checks": Leaf(_I),
                "failed": Leaf(_I, "failed data-quality checks"),
                "failed_columns": Leaf("list"),
                "pass_rate": Leaf(_D),
                "results": Leaf("list", "every check: {rule, column, passed, value, message}"),
                "null_rate": MapOf(Leaf(_D), "feature", "null rate per feature in the window"),
            },
            "data quality of the window",
        ),
        "performance": MapOf(
            Leaf("dyn"), "metric", "realized metrics from labels (absent until labels arrive)"
        ),
        "estimated": MapOf(
            Leaf("dyn"), "metric", "metrics estimated from calibrated scores (no labels needed)"
        ),
        "fairness": MapOf(
            MapOf(Leaf("dyn"), "metric"),
            "attribute",
            "fairness per sensitive attribute on the labelled rows: disparate_impact, …",
        ),
        "attribution": MapOf(
            Leaf("dyn"), "field", "attribution drift (distance, …) when monitored with explain"
        ),
        "review": Struct(
            {
                "override_rate": Leaf(_D, "overridden / decided reviews (absent before any)"),
                "pending": Leaf(_I, "flagged predictions awaiting a reviewer"),
                "decided": Leaf(_I, "reviews confirmed or overridden"),
            },
            "human oversight of the model (absent when nothing was flagged)",
        ),
        "now": Leaf(_T, "evaluation time (UTC)"),
    }
)
