"""Human oversight (EU AI Act Art. 14): a per-model CEL rule flags logged predictions into a
review queue; reviewers confirm or override each one.

The rule reads one prediction: ``output`` (text), ``score`` (a number, or absent), ``version``
and ``inputs`` (the masked inputs), e.g. ``score < 0.6 || output == "<=50K"`` (low confidence,
an adverse outcome) or ``inputs.age > 70`` (a segment). A reviewer needs the
``version.approve`` permission (validators and admins) and may not review a decision of a
version they registered (separation of duties). Every rule change, flagging run and decision
is an audit event (subject ``model:NAME``, automatic flags ``model:NAME/V``) in the same
transaction as its write. The override rate
(overridden / decided) is what monitoring watches (``override_rate``).

Predictions are flagged as they are logged (:meth:`OversightService.flag_logged`, called inside
the prediction log's own transaction, so a committed prediction that the rule flags is always
queued, and a crash loses neither or both), and on demand over the stored log (:meth:`flag`,
for predictions logged before the rule existed).
"""

from __future__ import annotations

import hashlib
import logging
import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any

from mlwarden.errors import PermissionDenied, ValidationError
from mlwarden.store.review_store import ReviewStore

#: Predictions read per flagging run, at most (newest first).
SCAN_LIMIT = 10_000

log = logging.getLogger("mlwarden.monitor.oversight")


@dataclass
class Logged:
    """One version's predictions as they are being logged (inside the log's transaction)."""

    actor: str
    name: str
    model_id: int
    version: int
    ids: Sequence[str]
    outputs: Sequence[Any]
    scores: Sequence[float | None] | None
    #: the masked inputs, one dict per row, called only when the model has a review rule;
    #: given the fields the rule reads (``None``: all), it may leave the others out
    inputs: Callable[[frozenset[str] | None], list[dict[str, Any]]]


@lru_cache(maxsize=256)
def _program(rule: str) -> Any:
    from mlwarden.policy.guard import compile_cel

    return compile_cel(rule)


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
            self._record(actor, "review.rule", name, {"rule": rule})
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
            self._record(actor, "review.flag", name, {"flagged": added})
        return added

    def flag_logged(self, batches: Sequence[Logged]) -> int:
        """Queue the just-logged predictions that their model's rule flags; returns how many.

        Runs inside the caller's open transaction (the prediction log write), so the queue
        entries and their ``review.flag`` audit event commit with the predictions or not at all.
        The rule is the server's (set with :meth:`set_rule`), never the caller's. A model
        without a rule costs one primary-key read. A row the rule cannot evaluate (a missing
        input, a type error) is flagged: a person looks at it rather than no one."""
        rules: dict[int, str | None] = {}
        added = 0
        for batch in batches:
            if batch.model_id not in rules:
                rules[batch.model_id] = self.store.rule_text(batch.model_id)
            rule = rules[batch.model_id]
            if rule is None or not batch.ids:
                continue
            flagged, failed = _evaluate(rule, batch)
            if not flagged:
                continue
            n = self.store.enqueue(batch.model_id, flagged, datetime.now(UTC))
            ids = [f[0] for f in flagged]
            self._record(
                batch.actor,
                "review.flag",
                f"{batch.name}@{batch.version}",
                {
                    "flagged": n,
                    "automatic": True,
                    "version": batch.version,
                    "unevaluable": failed,
                    "ids_sha256": hashlib.sha256("\n".join(ids).encode()).hexdigest(),
                },
            )
            added += n
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
                name,
                {"prediction_id": prediction_id, "output": done["output"], "decided": override},
            )
        return done

    def override_rate(self, name: str) -> dict[str, Any]:
        """Counts per status and overridden / decided (``None`` before any decision)."""
        counts = self.store.counts(self.registry.store.model_id(name))
        decided = counts["confirmed"] + counts["overridden"]
        return {**counts, "override_rate": counts["overridden"] / decided if decided else None}


#: ``inputs.NAME`` or ``inputs["NAME"]`` (not a macro call such as ``inputs.exists(...)``)
_FIELD = re.compile(r"""\binputs\s*(?:\.\s*([A-Za-z_]\w*)\b(?!\s*\()|\[\s*(['"])(.*?)\2\s*\])""")


@lru_cache(maxsize=256)
def _reads(rule: str) -> tuple[frozenset[str], frozenset[str] | None]:
    """The top-level variables ``rule`` reads and, when it only reads named fields of
    ``inputs``, those fields (``None``: it reads ``inputs`` as a whole)."""
    variables = frozenset(_program(rule).variables())
    uses = len(re.findall(r"\binputs\b", rule))
    found = _FIELD.findall(rule)
    fields = frozenset(a or c for a, _, c in found) if len(found) == uses else None
    return variables, fields


def _evaluate(rule: str, batch: Logged) -> tuple[list[tuple[str, int, Any]], int]:
    """The rows of ``batch`` that ``rule`` flags, and how many of them it could not evaluate
    (flagged too).

    Each row's context holds only what the rule reads (converting the context is most of the
    runtime's cost per row), and the cost budget is checked once per batch, on the largest."""
    scores = batch.scores if batch.scores is not None else [None] * len(batch.ids)
    everything = [(str(p), batch.version, str(o)) for p, o in zip(batch.ids, batch.outputs,
                                                                   strict=True)]  # fmt: skip
    try:
        program = _program(rule)
        variables, fields = _reads(rule)
        inputs = batch.inputs(fields if "inputs" in variables else frozenset())
        contexts = []
        for output, score, row in zip(batch.outputs, scores, inputs, strict=True):
            read = row if fields is None else {k: row[k] for k in fields if k in row}
            context = _rule_context(output, score, batch.version, read)
            contexts.append({k: v for k, v in context.items() if k in variables})
        if contexts:
            program.check_budget(max(contexts, key=lambda c: len(c.get("inputs", ()))))
    except Exception:  # no longer compiles (another runtime), or over budget on these rows
        log.warning("the review rule of %s cannot run on this batch: every prediction is "
                    "flagged", batch.name, exc_info=True)  # fmt: skip
        return everything, len(everything)
    flagged, failed = [], 0
    for pid, output, context in zip(batch.ids, batch.outputs, contexts, strict=True):
        try:
            hit = program.execute(context) is True
        except Exception:  # a row the rule cannot read: a person looks at it
            hit, failed = True, failed + 1
        if hit:
            flagged.append((str(pid), batch.version, str(output)))
    return flagged, failed


def _context(row: dict[str, Any]) -> dict[str, Any]:
    """The rule's view of one row as :meth:`PredictionStore.read` returns it."""
    skip = {"id", "model", "version", "ts", "output", "score", "label", "subject", "erased",
            "reasons"}  # fmt: skip
    inputs = {k: v for k, v in row.items() if k not in skip}
    return _rule_context(row["output"], row.get("score"), int(row["version"]), inputs)


def _rule_context(output: Any, score: Any, version: int, inputs: dict[str, Any]) -> dict[str, Any]:
    context: dict[str, Any] = {
        "output": str(output),
        "version": int(version),
        "inputs": {
            k: v
            for k, v in inputs.items()
            if v is not None and not (isinstance(v, float) and math.isnan(v))
        },
    }
    if isinstance(score, int | float) and not math.isnan(score):
        context["score"] = float(score)
    return context
