"""Policy use cases: check a version, promote it through a gate, roll an alias back.

Every evaluation is stored (``decisions``) and audited with the policy's hash and each rule's
inputs and verdict. A promotion moves the alias with compare-and-set against the alias as the
decision saw it, so of two concurrent promotions one wins and the other gets ``Conflict``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from datetime import datetime
from pathlib import Path
from typing import Any

from mlwarden._json import jsonable
from mlwarden._time import utcnow
from mlwarden.access import ApprovalService, Recorder
from mlwarden.access.recorder import version_subject
from mlwarden.access.users import AccessService
from mlwarden.entities import AliasChange, ModelVersion
from mlwarden.entities.policy import Decision, Promotion
from mlwarden.errors import Conflict, NotFound, PolicyViolation, ValidationError
from mlwarden.policy.context import EVIDENCE_KINDS, build_context
from mlwarden.policy.evaluate import evaluate
from mlwarden.policy.gates import GateService
from mlwarden.policy.loader import Policy, load
from mlwarden.registry.refs import check_alias, check_name
from mlwarden.registry.service import RegistryService
from mlwarden.store.decision_store import DecisionStore

PolicyLike = str | Path | Policy


def rollback_target(history: list[AliasChange], current: int | None) -> int | None:
    """The version an alias returns to on rollback, from its history.

    Replays the moves as a stack of promoted versions: a promotion (or admin ``set``) pushes,
    a rollback pops back to where it went, a delete clears. So rolling back twice after three
    promotions lands on the first, never bouncing back to the version just rolled back from.
    """
    stack: list[int] = []
    for change in history:
        if change.action == "delete" or change.to_version is None:
            stack.clear()
        elif change.action == "rollback":
            while stack and stack[-1] != change.to_version:
                stack.pop()
            if not stack:
                stack.append(change.to_version)
        elif not stack or stack[-1] != change.to_version:
            stack.append(change.to_version)
    while stack and stack[-1] == current:
        stack.pop()
    return stack[-1] if stack else None


class PolicyService:
    def __init__(
        self,
        registry: RegistryService,
        decisions: DecisionStore,
        approvals: ApprovalService,
        access: AccessService,
        recorder: Recorder,
        *,
        transaction: Callable[[], Any],
        clock: Callable[[], datetime] = utcnow,
        gates: GateService | None = None,
    ) -> None:
        self.registry = registry
        self.gates = gates  # None: no alias is protected (a bare service in tests)
        self.decisions_store = decisions
        self.approvals = approvals
        self.access = access
        self.recorder = recorder
        self._transaction = transaction
        self._clock = clock

    # -- evaluation -----------------------------------------------------------------------

    def context(self, ref: str, *, now: datetime | None = None) -> dict[str, Any]:
        """The evaluation context rules see for ``ref`` (see docs/policies.md)."""
        mv = self.registry.get_version(ref)
        return self._context(mv, self.approvals.status(mv.ref).to_dict(), now or self._clock())

    def _context(
        self,
        mv: ModelVersion,
        approvals: dict[str, Any],
        now: datetime,
        reads: tuple[str, ...] | None = None,
    ) -> dict:
        model = self.registry.get_model(mv.name)
        # Evidence a policy does not read is not fetched, unless it reads the list of usable
        # kinds (``version.evidence``), which needs each one's status.
        roots = None if reads is None else {p.split(".", 1)[0] for p in reads}
        if reads is not None and any(p in ("version", "version.evidence") for p in reads):
            roots = None
        evidence: dict[str, Any] = {}
        for kind in EVIDENCE_KINDS:
            if kind in mv.evidence and (roots is None or kind in roots):
                evidence[kind] = self.registry.store.get_evidence(mv.name, mv.version, kind)
        return build_context(model, mv, evidence, approvals, now, reads=reads)

    def _decide(
        self, mv: ModelVersion, policy: Policy, approvals: dict[str, Any], actor: str, purpose: str
    ) -> Decision:
        now = self._clock()
        model = self.registry.get_model(mv.name)
        applies = policy.applies(model)
        context = self._context(mv, approvals, now, policy.reads) if applies else {}
        return evaluate(
            policy, context, ref=mv.ref, actor=actor, time=now, applies=applies, purpose=purpose
        )

    def _record(self, mv: ModelVersion, decision: Decision) -> Decision:
        """Store and audit a decision; call inside a transaction."""
        stored = self.decisions_store.add(mv.name, mv.version, decision)
        self.recorder.record(
            decision.actor,
            "policy.decision",
            version_subject(mv.name, mv.version),
            jsonable(
                {
                    "decision_id": stored.id,
                    "policy": decision.policy,
                    "policy_sha256": decision.policy_sha256,
                    "purpose": decision.purpose,
                    "policy_version": decision.policy_version,
                    "inline": decision.inline,
                    "passed": decision.passed,
                    "applies": decision.applies,
                    "rules": [
                        {
                            "id": r.id,
                            "severity": r.severity,
                            "verdict": r.verdict,
                            "inputs": dict(r.values),
                            "missing": list(r.missing),
                        }
                        for r in decision.results
                    ],
                }
            ),
        )
        return stored

    def check(self, ref: str, policy: PolicyLike, *, actor: str) -> Decision:
        """Evaluate ``policy`` on a version; the decision is stored and audited."""
        pol = load(policy)
        mv = self.registry.get_version(ref)
        self.access.require(actor, "read", version_subject(mv.name, mv.version))
        decision = self._decide(mv, pol, self.approvals.status(mv.ref).to_dict(), actor, "check")
        with self._transaction():
            return self._record(mv, decision)

    def decisions(self, ref: str, *, limit: int | None = None) -> list[Decision]:
        """Stored decisions, newest first: for a version (``name@3``) or a whole model."""
        name, _, rest = ref.partition("@")
        if not rest:
            return self.decisions_store.list(check_name(name), limit=limit)
        mv = self.registry.get_version(ref)
        return self.decisions_store.list(mv.name, mv.version, limit=limit)

    # -- promotion and rollback ------------------------------------------------------------

    def _gates(
        self, mv: ModelVersion, alias: str, policy: PolicyLike | None, dry_run: bool
    ) -> list[tuple[Policy, int | None, bool]]:
        """The policies a promotion evaluates, each with its stored version and whether the
        caller sent it (inline). A protected alias evaluates the policies bound to it from
        the store; a caller's own policy there may only dry-run."""
        if self.gates is None or not self.gates.is_protected(alias):
            if policy is None:
                raise ValidationError(
                    f"promoting to {alias!r} needs a policy (a file, a shipped name or YAML)",
                    field="policy",
                )
            return [(load(policy), None, False)]
        tier = self.registry.get_model(mv.name).risk_tier
        if policy is not None and not (isinstance(policy, str) and self._is_bound(alias, policy)):
            if not dry_run:
                raise Conflict(
                    f"{alias!r} is a protected alias: it moves only through the gate policy "
                    "an admin bound to it, evaluated from the server's store. A policy sent "
                    "with the request can only dry-run (send dry_run, or leave the policy out)",
                    alias=alias,
                    ref=mv.ref,
                )
            return [(load(policy), None, True)]
        return [
            (pol, stored.version, False)
            for pol, stored in self.gates.gates_for(mv.name, alias, tier)
        ]

    def _is_bound(self, alias: str, name: str) -> bool:
        assert self.gates is not None
        bound = self.gates.store.binding(f"alias:{alias}")
        return bound is not None and bound.policy == name

    def promote(
        self,
        ref: str,
        *,
        alias: str,
        policy: PolicyLike | None = None,
        actor: str,
        dry_run: bool = False,
        reason: str | None = None,
    ) -> Promotion:
        """Move ``alias`` to ``ref`` if the gate passes and the approvals meet the risk tier.

        On a protected alias the gate is the installed policy bound to it (and to the
        model's risk tier), recorded by name, version and sha256; ``policy`` is then left
        out (or names the bound policy), and any other policy only dry-runs (its decision
        says ``inline``). Refusals raise ``PolicyViolation`` (``details``: ``failed_rules``,
        ``missing_approvals``, ``decision_id``) after the decision and the refusal are audited.
        ``dry_run`` evaluates, stores the decision and returns without moving or raising.
        """
        check_alias(alias)
        mv = self.registry.get_version(ref)
        subject = f"model:{mv.name}/{alias}"
        self.access.require(actor, "read" if dry_run else "model.promote", subject)
        gates = self._gates(mv, alias, policy, dry_run)
        # The alias as the decision saw it: the move below is conditional on it.
        current = self.registry.get_model(mv.name).aliases.get(alias)
        status = self.approvals.status(mv.ref)
        purpose = "dry-run" if dry_run else "promote"
        decisions = [
            replace(
                self._decide(mv, pol, status.to_dict(), actor, purpose),
                policy_version=version,
                inline=inline,
            )
            for pol, version, inline in gates
        ]
        decision = decisions[0]
        pol = gates[0][0]
        failed = [r for d in decisions for r in d.failed_rules]
        reasons = [f"rule {r.id!r} {r.verdict}: {r.message}" for r in failed]
        if mv.status == "blocked":  # set by a monitoring policy's block action (mlwarden.alerts)
            reasons.append(f"{mv.ref} is blocked (see its audit events; `wd.unblock` lifts it)")
        if not status.approved:
            reasons.append(
                f"{status.missing} more approval(s) needed: a {status.risk_tier}-risk model "
                f"needs {status.required}, {mv.ref} has {status.have}"
            )
        allowed = not reasons
        gate_info = [
            {
                "policy": d.policy,
                "policy_version": d.policy_version,
                "policy_sha256": d.policy_sha256,
            }
            for d in decisions
        ]

        def outcome(stored: Decision, change: AliasChange | None) -> Promotion:
            return Promotion(
                mv.ref, alias, stored, status.to_dict(), allowed, dry_run, change, tuple(reasons)
            )

        def record_all() -> list[Decision]:
            return [self._record(mv, d) for d in decisions]

        if dry_run:
            with self._transaction():
                return outcome(record_all()[0], None)
        if not allowed:
            with self._transaction():
                stored_all = record_all()
                stored = stored_all[0]
                message = f"promotion of {mv.ref} to {alias!r} refused: " + "; ".join(reasons)
                self.recorder.denied(
                    actor,
                    "model.promote",
                    subject,
                    message,
                    decision_id=stored.id,
                    policy=pol.name,
                    policy_sha256=pol.sha256,
                    policy_version=decision.policy_version,
                    gates=gate_info,
                    failed_rules=[r.id for r in failed],
                    missing_approvals=status.missing,
                )
            raise PolicyViolation(
                message,
                ref=mv.ref,
                alias=alias,
                policy=pol.name,
                decision_id=stored.id,
                failed_rules=[r.to_dict() for r in failed],
                missing_approvals=status.missing,
                approvals=status.to_dict(),
            )
        if current == mv.version:
            with self._transaction():
                return outcome(record_all()[0], None)
        names = ", ".join(
            f"{g['policy']}"
            + ("" if g["policy_version"] is None else f" v{g['policy_version']}")
            + f" (sha256 {str(g['policy_sha256'])[:12]})"
            for g in gate_info
        )
        try:
            with self._transaction():
                # The move comes first: it locks the model row before the decision insert
                # (a foreign-key share lock) and the audit append (an advisory lock), the
                # order every other writer takes them in; the reverse deadlocks on PostgreSQL.
                change = self.registry.store.move_alias(
                    mv.name,
                    alias,
                    mv.version,
                    actor=actor,
                    action="promote",
                    reason=reason or f"policy {names} passed",
                    expect_version=current,
                )
                stored_all = record_all()
                stored = stored_all[0]
                self.recorder(
                    actor,
                    "alias.promote",
                    f"{mv.name}@{alias}",
                    jsonable(
                        {
                            **change.to_dict(),
                            "decision_id": stored.id,
                            "policy": pol.name,
                            "policy_sha256": pol.sha256,
                            "policy_version": decision.policy_version,
                            "gates": [
                                {**g, "decision_id": d.id}
                                for g, d in zip(gate_info, stored_all, strict=True)
                            ],
                            "approvers": list(status.approvers),
                        }
                    ),
                )
        except Conflict as exc:
            # The decision rolled back with the move; keep the lost race on record.
            self.recorder.denied(actor, "model.promote", subject, exc.message, ref=mv.ref)
            raise
        return outcome(stored, change)

    def rollback(self, name: str, *, alias: str, reason: str, actor: str) -> AliasChange:
        """Return ``alias`` to the version it pointed at before the current one (by its
        promotion history). Not gated: rolling back is how one gets out of a bad release."""
        check_name(name)
        check_alias(alias)
        if not isinstance(reason, str) or not reason.strip():
            raise ValidationError("a rollback needs a reason", field="reason")
        subject = f"model:{name}/{alias}"
        self.access.require(actor, "model.rollback", subject)
        current = self.registry.get_model(name).aliases.get(alias)
        if current is None:
            raise NotFound(f"model {name!r} has no alias {alias!r} to roll back", model=name)
        target = rollback_target(self.registry.alias_history(name, alias), current)
        if target is None:
            raise NotFound(
                f"{name}@{alias} has no earlier version in its history to roll back to",
                model=name,
                alias=alias,
            )
        with self._transaction():
            change = self.registry.store.move_alias(
                name,
                alias,
                target,
                actor=actor,
                action="rollback",
                reason=reason,
                expect_version=current,
            )
            self.recorder(actor, "alias.rollback", f"{name}@{alias}", jsonable(change.to_dict()))
        return change
