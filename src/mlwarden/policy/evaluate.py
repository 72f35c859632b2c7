"""Evaluate a loaded policy against a context: one verdict per rule, never an exception.

A rule that cannot be evaluated (it reads a key the version lacks, compares a string with a
number, yields a non-boolean, is over the evaluation budget on this context's sizes) gets the
verdict ``error`` with the reason, and blocks like a failure when its severity is ``error``: a
gate that cannot tell must not let a model through.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

import cel

from mlwarden.entities.policy import ERROR, FAIL, PASS, SKIPPED, Decision, RuleResult
from mlwarden.policy.loader import Policy, Rule


def _read(context: Mapping[str, Any], path: str) -> tuple[Any, str | None]:
    """``(value, None)`` or ``(None, shortest missing prefix)``."""
    value: Any = context
    parts = path.split(".")
    for i, part in enumerate(parts):
        if not isinstance(value, Mapping) or part not in value:
            return None, ".".join(parts[: i + 1])
        value = value[part]
    return value, None


def _inputs(rule: Rule, context: Mapping[str, Any]) -> tuple[dict[str, Any], tuple[str, ...]]:
    values: dict[str, Any] = {}
    missing: list[str] = []
    for path in rule.paths:
        value, absent = _read(context, path)
        if absent is None:
            values[path] = value
        elif absent not in missing:
            missing.append(absent)
    return values, tuple(missing)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


def evaluate_rule(
    rule: Rule,
    cel_context: Any,
    context: Mapping[str, Any],
    *,
    budget: bool = True,
    largest: int | None = None,
) -> RuleResult:
    """``budget=False``: the caller knows every collection of ``context`` is within the
    nominal size the rule's cost was bounded at when it loaded (``limits.CEL_NOMINAL_SIZE``),
    so the per-evaluation re-estimate can be skipped. ``largest``: the context's
    ``largest_collection``, measured once by a caller evaluating several rules."""
    values, missing = _inputs(rule, context)
    try:
        # the program checks its cost bound on this context's sizes first (PolicyError)
        outcome = rule.program.execute(cel_context, context if budget else None, largest)
    except Exception as exc:  # the CEL runtime raises KeyError, TypeError, RuntimeError, …
        if missing and isinstance(exc, KeyError | RuntimeError | TypeError):
            reason = "no such key: " + ", ".join(missing)
        else:
            reason = f"{type(exc).__name__}: {_first_line(exc)}"
        return RuleResult(
            rule.id, rule.severity, ERROR, f"{rule.message} ({reason})", values, missing, rule.check
        )
    if not isinstance(outcome, bool):
        return RuleResult(
            rule.id,
            rule.severity,
            ERROR,
            f"{rule.message} (the check yielded {type(outcome).__name__} {outcome!r}, "
            "not a boolean)",
            values,
            missing,
            rule.check,
        )
    verdict = PASS if outcome else FAIL
    message = "ok" if outcome else rule.message
    return RuleResult(rule.id, rule.severity, verdict, message, values, missing, rule.check)


def evaluate(
    policy: Policy,
    context: dict[str, Any],
    *,
    ref: str,
    actor: str,
    time: datetime,
    applies: bool = True,
    purpose: str = "check",
) -> Decision:
    """Run every rule of ``policy`` on ``context`` (built by ``policy.context``).

    When the policy does not apply to the model (``applies_to``), every rule is ``skipped`` and
    the decision passes: the gate has nothing to say about this model.
    """
    if not applies:
        results = tuple(
            RuleResult(
                r.id, r.severity, SKIPPED, "policy does not apply to this model", check=r.check
            )
            for r in policy.rules
        )
    else:
        # One conversion of the context into CEL values, shared by every rule.
        cel_context = cel.Context(context)
        results = tuple(evaluate_rule(r, cel_context, context) for r in policy.rules)
    return Decision(
        policy=policy.name,
        policy_sha256=policy.sha256,
        ref=ref,
        passed=not any(r.blocking for r in results),
        applies=applies,
        results=results,
        time=time,
        actor=actor,
        purpose=purpose,
    )
