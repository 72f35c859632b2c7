"""Human oversight (EU AI Act Art. 14): a per-model CEL rule flags logged predictions into a
review queue; reviewers confirm or override each one.

The rule reads one prediction: ``output`` (text), ``score`` (a number, or absent), ``version``
and ``inputs`` (the masked inputs), e.g. ``score < 0.6 || output == "<=50K"`` (low confidence,
an adverse outcome) or ``inputs.age > 70`` (a segment). A reviewer needs the
``version.approve`` permission (validators and admins) and may not review a decision of a
version they registered (separation of duties). Every rule change, flagging run and decision
is an audit event in the same transaction as its write. The override rate
(overridden / decided) is what monitoring watches (``override_rate``).
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from mlwarden.errors import PermissionDenied, ValidationError
from mlwarden.store.review_store import ReviewStore

#: Predictions read per flagging run, at most (newest first).
SCAN_LIMIT = 10_000


class OversightService:
    def __init__(
        self,
        store: ReviewStore,
        predictions: Any,
        registry: Any,
        access: Any,
        record: Callable[..., Any],
        *,
        transaction: Callable[[], Any],
    ) -> None:
        self.store = store
        self.predictions = predictions
        self.registry = registry
        self.access = access
        self._record = record
        self._transaction = transaction

    def set_rule(self, name: str, rule: str, *, actor: str) -> dict[str, Any]:
        """Set the CEL rule that flags ``name``'s predictions for review (admins)."""
        from mlwarden.policy.guard import compile_cel

        self.access.require(actor, "config.set", f"model:{name}")
        try:
            compile_cel(rule)
        except Exception as exc:  # the runtime's syntax errors are plain ValueError/RuntimeError
            raise ValidationError(f"the review rule does not compile: {exc}", field="rule") from exc
        model_id = self.registry.store.model_id(name)
        with self._transaction():
            self.store.set_rule(model_id, rule, actor, datetime.now(UTC))
            self._record(actor, "review.rule", f"model:{name}", {"rule": rule})
        return {"model": name, "rule": rule}

    def flag(self, name: str, *, actor: str, limit: int = SCAN_LIMIT) -> int:
        """Evaluate the model's rule over its newest logged predictions and queue the ones it
        flags (each prediction once); returns how many were added."""
        import cel

        from mlwarden.policy.guard import compile_cel

        self.access.require(actor, "read", f"model:{name}")
        model_id = self.registry.store.model_id(name)
        rule = self.store.rule(model_id)
        if rule is None:
            raise ValidationError(f"model {name!r} has no review rule", field="rule")
        program = compile_cel(rule["rule"])
        frame = self.predictions.read(model_id, limit=limit)
        flagged = []
        for row in frame.astype(object).where(frame.notna(), None).to_dict("records"):
            if row.get("erased") or row.get("output") is None:
                continue
            context = _context(row)
            try:
                hit = program.execute(cel.Context(context), context)
            except Exception as exc:  # a rule that cannot read this row: say which, stop
                raise ValidationError(
                    f"the review rule failed on prediction {row['id']}: {exc}", field="rule"
                ) from exc
            if hit is True:
                flagged.append((str(row["id"]), int(row["version"]), row["output"]))
        with self._transaction():
            added = self.store.enqueue(model_id, flagged, datetime.now(UTC))
            self._record(actor, "review.flag", f"model:{name}", {"flagged": added})
        return added

    def queue(self, name: str, *, actor: str, status: str | None = "pending") -> list[dict]:
        self.access.require(actor, "read", f"model:{name}")
        return self.store.items(self.registry.store.model_id(name), status)

    def decide(
        self,
        name: str,
        prediction_id: str,
        *,
        actor: str,
        override: Any = None,
        comment: str | None = None,
    ) -> dict[str, Any]:
        """Confirm (``override`` is ``None``) or override a queued prediction."""
        self.access.require(actor, "version.approve", f"model:{name}")
        model_id = self.registry.store.model_id(name)
        pending = {i["prediction_id"]: i for i in self.store.items(model_id, "pending", 100_000)}
        item = pending.get(prediction_id)
        if item is not None:
            mv = self.registry.get_version(f"{name}@{item['version']}")
            if mv.created_by == actor:
                raise PermissionDenied(
                    f"{actor} registered {mv.ref}: a decision of it is reviewed by someone else",
                    action="review",
                )
        status = "confirmed" if override is None else "overridden"
        with self._transaction():
            done = self.store.decide(
                prediction_id, status, override, actor, comment, datetime.now(UTC)
            )
            self._record(
                actor,
                f"review.{'confirm' if override is None else 'override'}",
                f"model:{name}",
                {"prediction_id": prediction_id, "output": done["output"], "decided": override},
            )
        return done

    def override_rate(self, name: str) -> dict[str, Any]:
        """Counts per status and overridden / decided (``None`` before any decision)."""
        counts = self.store.counts(self.registry.store.model_id(name))
        decided = counts["confirmed"] + counts["overridden"]
        return {**counts, "override_rate": counts["overridden"] / decided if decided else None}


def _context(row: dict[str, Any]) -> dict[str, Any]:
    skip = {"id", "model", "version", "ts", "output", "score", "label", "subject", "erased"}
    score = row.get("score")
    context: dict[str, Any] = {
        "output": str(row["output"]),
        "version": int(row["version"]),
        "inputs": {
            k: v
            for k, v in row.items()
            if k not in skip and not (isinstance(v, float) and math.isnan(v)) and v is not None
        },
    }
    if isinstance(score, int | float) and not math.isnan(score):
        context["score"] = float(score)
    if isinstance(row.get("reasons"), str):  # reason codes are not rule inputs
        context["inputs"].pop("reasons", None)
    json.dumps(context, default=str)  # only plain values reach the rule
    return context
