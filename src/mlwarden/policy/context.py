"""Build the evaluation context a policy's rules read (its schema is ``policy/schema.py``).

Unset values are left out rather than set to null, so ``has(card.limitations)`` is false for a
model without limitations and a rule that reads one anyway reports "no such key" instead of
comparing against null.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from mlwarden.entities import Model, ModelVersion
from mlwarden.entities._frozen import thaw

#: Evidence kinds whose content (less its ``status``) becomes a context root as is.
#: ``drift`` and ``quality`` are written by monitoring, ``privacy`` by the PII scan; until they
#: exist for a version the roots are empty maps.
PASSTHROUGH = ("drift", "quality", "privacy")
#: Evidence the context builder reads; ``evidence_kinds`` tells the service what to fetch.
EVIDENCE_KINDS = ("fairness", "explain", *PASSTHROUGH)
_EXPLAIN_FIELDS = ("importance", "method", "output_space", "n_rows", "max_abs_residual")


def _present(mapping: Mapping[str, Any]) -> dict[str, Any]:
    """Drop ``None`` values (recursively), keep everything else as plain dicts and lists."""
    out: dict[str, Any] = {}
    for k, v in mapping.items():
        if v is None:
            continue
        if isinstance(v, Mapping):
            v = _present(v)
        elif isinstance(v, list | tuple):
            v = [_present(x) if isinstance(x, Mapping) else x for x in v if x is not None]
        out[str(k)] = v
    return out


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
    return _present(thaw(usable.get("summary") or {}))


def explain_context(content: Mapping[str, Any] | None) -> dict[str, Any]:
    usable = _usable(content)
    if usable is None:
        return {}
    return _present({k: thaw(usable.get(k)) for k in _EXPLAIN_FIELDS})


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


def build_context(
    model: Model,
    version: ModelVersion,
    evidence: Mapping[str, Mapping[str, Any] | None],
    approvals: Mapping[str, Any],
    now: datetime,
) -> dict[str, Any]:
    """The context for ``version``.

    ``evidence`` maps a kind to its stored content (missing kinds may be absent);
    ``approvals`` is an ``ApprovalStatus.to_dict()``.
    """
    usable_kinds = [
        k for k in version.evidence if _usable(evidence.get(k)) is not None or (k not in evidence)
    ]
    return {
        "model": _present(
            {
                "name": model.name,
                "owner": model.owner,
                "risk_tier": model.risk_tier,
                "intended_use": model.intended_use,
                "description": model.description,
                "tags": thaw(model.tags),
                "created_by": model.created_by,
                "created_at": model.created_at,
                "aliases": thaw(model.aliases),
            }
        ),
        "version": _present(
            {
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
                "evidence": usable_kinds,
                "metrics": thaw(version.metrics),
                "params": thaw(version.params),
                "lineage": thaw(version.lineage),
                "signature": thaw(version.signature),
            }
        ),
        "fairness": fairness_context(evidence.get("fairness")),
        "explain": explain_context(evidence.get("explain")),
        **{kind: _present(_usable(evidence.get(kind)) or {}) for kind in PASSTHROUGH},
        "card": card_context(model),
        "approvals": {
            "count": int(approvals.get("have", 0)),
            "required": int(approvals.get("required", 0)),
            "missing": int(approvals.get("missing", 0)),
            "approved": bool(approvals.get("approved", True)),
            "approvers": list(approvals.get("approvers", ())),
        },
        "now": now,
    }
