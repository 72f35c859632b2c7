"""Build the evaluation context a policy's rules read (its schema is ``policy/schema.py``).

Unset values are left out rather than set to null, so ``has(card.limitations)`` is false for a
model without limitations and a rule that reads one anyway reports "no such key" instead of
comparing against null.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from datetime import datetime
from functools import partial
from typing import Any

from mlwarden.entities import ASSERTED, MEASURED, Model, ModelVersion
from mlwarden.entities._frozen import FrozenDict

#: Evidence kinds whose content (less its ``status``) becomes a context root as is.
#: ``drift`` and ``quality`` are written by monitoring, ``privacy`` by the PII scan; until they
#: exist for a version the roots are empty maps. ``ll144`` is the recorded NYC LL144 bias audit
#: (``mlwarden report ll144``), ``validation`` the recorded model validation, ``art12`` and
#: ``iso42001`` the summaries recorded by ``report art12`` / ``report soa``, ``oversight`` the
#: human-oversight record of ``report oversight``.
PASSTHROUGH = (
    "drift", "quality", "privacy", "ll144", "validation", "art12", "iso42001", "oversight",
)  # fmt: skip
#: Evidence the context builder reads; ``evidence_kinds`` tells the service what to fetch.
EVIDENCE_KINDS = ("fairness", "explain", *PASSTHROUGH)
_EXPLAIN_FIELDS = ("importance", "method", "output_space", "n_rows", "max_abs_residual")
_EXPLAIN = frozenset(_EXPLAIN_FIELDS)


def _present(mapping: Mapping[str, Any]) -> FrozenDict:
    """Drop ``None`` values (recursively); maps become FrozenDicts and lists tuples, so the
    values a decision records are immutable already and need no second deep copy."""
    # ``dict`` rather than the ``Mapping`` ABC: entities hold FrozenDicts (dict subclasses),
    # and the ABC check is the slowest step of building a context.
    out: dict[str, Any] = {}
    for k, v in mapping.items():
        if v is None:
            continue
        if isinstance(v, dict):
            v = _present(v)
        elif isinstance(v, list | tuple):
            v = tuple(_present(x) if isinstance(x, dict) else x for x in v if x is not None)
        out[str(k)] = v
    return FrozenDict(out)


def _usable(content: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """Evidence content if it was collected; ``None`` if absent or skipped."""
    if not content or content.get("status", "ok") != "ok":
        return None
    return {k: v for k, v in content.items() if k != "status"}


def fairness_context(content: Mapping[str, Any] | None) -> dict[str, Any]:
    """``fairness.<attribute>.<metric>`` from the audit's ``summary``."""
    usable = _usable(content)
    if usable is None:
        return {}
    return _present(usable.get("summary") or {})


def explain_context(content: Mapping[str, Any] | None) -> dict[str, Any]:
    usable = _usable(content)
    if usable is None:
        return {}
    return _present({k: usable.get(k) for k in _EXPLAIN_FIELDS})


def card_context(model: Model) -> dict[str, Any]:
    return _present(
        {
            "intended_use": model.intended_use,
            "owner": model.owner,
            "risk_tier": model.risk_tier,
            "description": model.description,
            "limitations": model.tags.get("limitations"),
        }
    )


def _raw_roots(
    model: Model,
    version: ModelVersion,
    evidence: Mapping[str, Mapping[str, Any] | None],
    approvals: Mapping[str, Any],
    now: datetime,
) -> dict[str, Callable[[], Any]]:
    """Each root as a thunk, so a policy that never reads ``fairness`` never builds it."""

    # Rules read what the store's owner measured; what a client only asserted is visible
    # under ``version.asserted`` and nowhere else, so no rule passes on it by accident.
    evidence = {k: v for k, v in evidence.items() if version.provenance_of(k) == MEASURED}

    def version_root() -> dict[str, Any]:
        usable = [
            k
            for k in version.evidence
            if version.provenance_of(k) == MEASURED and (k not in evidence or _usable(evidence[k]))
        ]
        return {
            "number": version.version,
            "ref": version.ref,
            "flavor": version.flavor,
            "status": version.status,
            "created_by": version.created_by,
            "created_at": version.created_at,
            "description": version.description,
            "artifact_sha256": version.artifact_sha256,
            "artifact_size": version.artifact_size,
            "aliases": list(version.aliases),
            "evidence": usable,
            "metrics": version.measured_metrics,
            "verified": version.verified,
            "asserted": {
                "metrics": version.asserted_metrics,
                "evidence": [k for k in version.evidence if version.provenance_of(k) == ASSERTED],
            },
            "params": version.params,
            "lineage": version.lineage,
            "signature": version.signature,
            # declared at registration; null when never declared (fairness then counts the
            # last class as favourable, which inverts verdicts for default/recidivism models)
            "favorable_label": version.signature.get("output", {}).get("favorable_label"),
        }

    roots: dict[str, Callable[[], Any]] = {
        "model": lambda: {
            "name": model.name,
            "owner": model.owner,
            "risk_tier": model.risk_tier,
            "intended_use": model.intended_use,
            "description": model.description,
            "tags": model.tags,
            "created_by": model.created_by,
            "created_at": model.created_at,
            "aliases": model.aliases,
        },
        "version": version_root,
        # raw here, cleaned (_present) after pruning: a fairness summary is mostly intervals
        # no rule reads
        "fairness": lambda: (_usable(evidence.get("fairness")) or {}).get("summary") or {},
        "explain": lambda: {
            k: v for k, v in (_usable(evidence.get("explain")) or {}).items() if k in _EXPLAIN
        },
        "card": lambda: card_context(model),
        "approvals": lambda: {
            "count": int(approvals.get("have", 0)),
            "required": int(approvals.get("required", 0)),
            "missing": int(approvals.get("missing", 0)),
            "approved": bool(approvals.get("approved", True)),
            "approvers": list(approvals.get("approvers", ())),
        },
        "now": lambda: now,
    }
    for kind in PASSTHROUGH:
        roots[kind] = partial(_passthrough, evidence, kind)
    return roots


def _passthrough(evidence: Mapping[str, Mapping[str, Any] | None], kind: str) -> dict[str, Any]:
    return _usable(evidence.get(kind)) or {}


def _prune(value: Any, paths: list[list[str]]) -> Any:
    """Only the subtrees at ``paths`` (relative to ``value``); absent ones stay absent."""
    if not isinstance(value, dict) or any(not p for p in paths):
        return value
    out: dict[str, Any] = {}
    for key in {p[0] for p in paths}:
        if key in value and value[key] is not None:
            out[key] = _prune(value[key], [p[1:] for p in paths if p[0] == key])
    return out


def build_context(
    model: Model,
    version: ModelVersion,
    evidence: Mapping[str, Mapping[str, Any] | None],
    approvals: Mapping[str, Any],
    now: datetime,
    *,
    reads: Iterable[str] | None = None,
) -> dict[str, Any]:
    """The context for ``version``.

    ``evidence`` maps a kind to its stored content (missing kinds may be absent);
    ``approvals`` is an ``ApprovalStatus.to_dict()``. With ``reads`` (a policy's paths, see
    ``Policy.reads``) only those subtrees are built: converting the context into CEL values
    costs in proportion to its size, and rules cannot see past the paths they name.
    """
    roots = _raw_roots(model, version, evidence, approvals, now)
    wanted: dict[str, list[list[str]]]
    if reads is None:
        wanted = {root: [[]] for root in roots}
    else:
        wanted = {}
        for path in reads:
            root, *rest = path.split(".")
            wanted.setdefault(root, []).append(rest)
    out: dict[str, Any] = {}
    for root, paths in wanted.items():
        value = _prune(roots[root](), paths)
        out[root] = _present(value) if isinstance(value, dict) else value
    return out
