"""The evaluation context's schema: what a rule may read, with types and documentation.

The loader checks every path a rule reads against this tree, so a misspelt key fails when the
policy is loaded instead of silently failing every promotion. ``docs/policies.md`` carries the
same table (:func:`reference_rows` prints it).
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Leaf:
    """A value of one CEL type: ``bool``, ``int``, ``double``, ``string``, ``timestamp``,
    ``list`` or ``dyn`` (anything, including nested maps whose keys are not known)."""

    type: str
    doc: str = ""


@dataclass(frozen=True)
class Struct:
    """A map whose keys are known: any other key is a mistake in the rule."""

    fields: dict[str, Node]
    doc: str = ""
    type: str = "map"


@dataclass(frozen=True)
class MapOf:
    """A map with open keys (metric names, attributes, features) and values of one shape."""

    value: Node
    key: str = "key"
    doc: str = ""
    type: str = field(default="map")


Node = Leaf | Struct | MapOf

_S, _I, _D, _B, _T = "string", "int", "double", "bool", "timestamp"

CONTEXT = Struct(
    {
        "model": Struct(
            {
                "name": Leaf(_S, "model name"),
                "owner": Leaf(_S, "owning team or person (absent if not set)"),
                "risk_tier": Leaf(_S, "low, medium or high"),
                "intended_use": Leaf(_S, "intended use (absent if not set)"),
                "description": Leaf(_S, "description (absent if not set)"),
                "tags": MapOf(Leaf(_S), "tag", "free-form tags"),
                "created_by": Leaf(_S, "who registered the first version"),
                "created_at": Leaf(_T, "when the model was created"),
                "aliases": MapOf(Leaf(_I), "alias", "alias → version number, now"),
            },
            "the registered model",
        ),
        "version": Struct(
            {
                "number": Leaf(_I, "version number"),
                "ref": Leaf(_S, "name@number"),
                "flavor": Leaf(_S, "sklearn, lightgbm, xgboost, onnx or generic"),
                "status": Leaf(_S, "lifecycle status"),
                "created_by": Leaf(_S, "who registered this version"),
                "created_at": Leaf(_T, "when it was registered"),
                "description": Leaf(_S, "description (absent if not set)"),
                "artifact_sha256": Leaf(_S, "artifact digest"),
                "artifact_size": Leaf(_I, "artifact size in bytes"),
                "aliases": Leaf("list", "aliases pointing at this version (strings)"),
                "evidence": Leaf(
                    "list", "evidence kinds measured by the server and usable (strings)"
                ),
                "metrics": MapOf(
                    Leaf(_D),
                    "metric",
                    "evaluation metrics the server measured, e.g. roc_auc, accuracy",
                ),
                "verified": Leaf(
                    "list",
                    "what the server measured: `metrics.NAME` and evidence kinds (strings)",
                ),
                "asserted": Struct(
                    {
                        "metrics": MapOf(
                            Leaf(_D), "metric", "metrics a client sent, not measured by the server"
                        ),
                        "evidence": Leaf("list", "evidence kinds a client sent (strings)"),
                    },
                    "what a client only asserted: never read by rules on measured values",
                ),
                "params": MapOf(Leaf("dyn"), "param", "estimator hyper-parameters"),
                "lineage": Struct(
                    {
                        "datasets": MapOf(
                            Struct(
                                {
                                    "name": Leaf(_S),
                                    "rows": Leaf(_I),
                                    "columns": Leaf(_I),
                                    "sha256": Leaf(_S),
                                }
                            ),
                            "role",
                            "train / eval fingerprints",
                        ),
                        "sensitive_features": Leaf("list", "names of sensitive features"),
                        "code": MapOf(Leaf("dyn"), "field", "git commit, branch, dirty, remote"),
                        "environment": MapOf(Leaf("dyn"), "field", "python, platform, packages"),
                        "estimator": Leaf(_S, "estimator class path"),
                        "flavor": Leaf(_S),
                        "registered_by": Leaf(_S),
                        "registered_at": Leaf(_S, "ISO time"),
                    },
                    "where the version came from",
                ),
                "signature": Struct(
                    {
                        "inputs": Leaf("list", "input columns: {name, type, nullable, sensitive}"),
                        "output": MapOf(Leaf("dyn"), "field", "output schema"),
                    },
                    "input/output schema",
                ),
                "favorable_label": Leaf(
                    "dyn", "the class declared favourable at registration; null if never declared"
                ),
            },
            "the version being checked",
        ),
        "fairness": MapOf(
            MapOf(Leaf("dyn"), "metric"),
            "attribute",
            "fairness audit summary per sensitive attribute: disparate_impact, "
            "demographic_parity_difference, equal_opportunity_difference, … (empty if skipped)",
        ),
        "explain": Struct(
            {
                "importance": MapOf(Leaf(_D), "feature", "mean |SHAP| per feature"),
                "method": Leaf(_S, "explainer used"),
                "output_space": Leaf(_S),
                "n_rows": Leaf(_I, "rows explained"),
                "max_abs_residual": Leaf(_D, "additivity check"),
            },
            "explanation summary (empty if skipped)",
        ),
        "drift": MapOf(
            Leaf("dyn"), "field", "latest monitoring drift summary (empty until monitoring runs)"
        ),
        "quality": MapOf(
            Leaf("dyn"), "field", "latest data-quality summary (empty until monitoring runs)"
        ),
        "privacy": MapOf(
            Leaf("dyn"), "field", "PII scan results (empty until the privacy scan is collected)"
        ),
        "ll144": Struct(
            {
                "min_impact_ratio": Leaf(
                    _D, "lowest impact ratio over sex, race and intersections"
                ),
                "rows": Leaf(_I, "individuals assessed"),
                "selected": Leaf(_I, "selected (or scored above the median)"),
                "method": Leaf(_S, "selection rate or scoring rate"),
                "audited_at": Leaf(_S, "ISO time of the audit"),
                "since": Leaf(_S, "start of the period audited"),
                "until": Leaf(_S, "end of the period audited"),
                "versions": Leaf("list", "versions whose predictions were audited"),
                "tables": MapOf(MapOf(Leaf("dyn"), "field"), "table", "sex, race, intersection"),
                "excluded": Leaf("list", "categories under 2% left out of the ratios"),
            },
            "NYC Local Law 144 bias audit recorded by `mlwarden report ll144` (empty until then)",
        ),
        "validation": Struct(
            {
                "independent": Leaf(_B, "no registrant of the version validated or approved it"),
                "open_findings": Leaf(_I, "findings open or in progress"),
                "open_high_findings": Leaf(_I, "of those, high or critical"),
                "labelled": Leaf(_I, "logged predictions with labels, back-tested"),
                "validated_by": Leaf(_S),
                "validated_at": Leaf(_S, "ISO time"),
                "backtest": MapOf(Leaf("dyn"), "field", "overall: metrics on logged labels"),
            },
            "model validation recorded by `mlwarden report validation` (empty until then)",
        ),
        "art12": Struct(
            {
                "gaps": Leaf(_I, "Art. 12/19 logging duties nothing records (12(3) not counted)"),
                "gap_duties": Leaf("list", "their paragraphs"),
                "duties": MapOf(Leaf(_S), "paragraph", "recorded, no events yet or gap"),
            },
            "EU AI Act Art. 12 mapping recorded by `mlwarden report art12` (empty until then)",
        ),
        "iso42001": Struct(
            {
                "gaps": Leaf(_I, "Annex A controls without evidence"),
                "evidenced": Leaf(_I, "Annex A controls tied to evidence"),
                "controls": MapOf(Leaf(_S), "control", "evidence or gap, by control (A.6.2.4)"),
            },
            "ISO/IEC 42001 Statement of Applicability recorded by `mlwarden report soa`",
        ),
        "oversight": Struct(
            {
                "rule": Leaf(_S, "the model's review rule (CEL), null when none"),
                "flagged": Leaf(_I, "decisions of this version flagged for review"),
                "pending": Leaf(_I, "flagged and not decided yet"),
                "confirmed": Leaf(_I),
                "overridden": Leaf(_I),
                "override_rate": Leaf(_D, "overridden / decided; null before any decision"),
                "reviewers": Leaf("list", "who decided"),
            },
            "EU AI Act Art. 14 oversight record of `mlwarden report oversight` (empty until then)",
        ),
        "card": Struct(
            {
                "intended_use": Leaf(_S),
                "owner": Leaf(_S),
                "risk_tier": Leaf(_S),
                "description": Leaf(_S),
                "limitations": Leaf(_S, "the model's tags.limitations"),
            },
            "model card fields; unset ones are absent, so test them with has()",
        ),
        "approvals": Struct(
            {
                "count": Leaf(_I, "distinct approvals"),
                "required": Leaf(_I, "approvals the risk tier requires"),
                "missing": Leaf(_I, "required - count, at least 0"),
                "approved": Leaf(_B, "count >= required"),
                "approvers": Leaf("list", "who approved (strings)"),
            },
            "approvals of this version (separation of duties applied)",
        ),
        "now": Leaf(_T, "evaluation time (UTC)"),
    }
)

ROOTS = tuple(CONTEXT.fields)


def reference_rows(node: Node = CONTEXT, prefix: str = "") -> list[tuple[str, str, str]]:
    """``(path, type, doc)`` rows for the documentation table."""
    rows: list[tuple[str, str, str]] = []
    if isinstance(node, Struct):
        for name, child in node.fields.items():
            path = f"{prefix}.{name}" if prefix else name
            rows.append((path, _type_name(child), child.doc))
            if not isinstance(child, Leaf):
                rows.extend(reference_rows(child, path))
    elif isinstance(node, MapOf):
        path = f"{prefix}.<{node.key}>"
        rows.append((path, _type_name(node.value), node.value.doc))
        if not isinstance(node.value, Leaf):
            rows.extend(reference_rows(node.value, path))
    return rows


def _type_name(node: Node) -> str:
    if isinstance(node, MapOf):
        return f"map<string, {_type_name(node.value)}>"
    return node.type
