"""Approvals with separation of duties: a version needs N distinct approvals set by its
model's risk tier, from validators (or admins) who did not register it."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from mlwarden.access.recorder import Recorder, version_subject
from mlwarden.access.users import AccessService
from mlwarden.entities import RISK_TIERS, ModelVersion
from mlwarden.entities.access import Approval, ApprovalStatus
from mlwarden.errors import ValidationError
from mlwarden.registry.service import RegistryService
from mlwarden.store.access_store import AccessStore

#: Distinct approvals a version needs, by its model's risk tier.
DEFAULT_REQUIRED = {"low": 0, "medium": 1, "high": 2}


class ApprovalService:
    def __init__(
        self,
        store: AccessStore,
        registry: RegistryService,
        access: AccessService,
        recorder: Recorder,
        *,
        transaction: Callable[[], Any],
        required: Mapping[str, int] | None = None,
    ) -> None:
        self.store = store
        self.registry = registry
        self.access = access
        self.recorder = recorder
        self._transaction = transaction
        self.required: dict[str, int] = dict(DEFAULT_REQUIRED)
        if required:
            self.configure(required)

    def configure(self, required: Mapping[str, int]) -> None:
        """Change how many approvals each risk tier needs (for this client)."""
        for tier, n in required.items():
            if tier not in RISK_TIERS:
                raise ValidationError(
                    f"unknown risk tier {tier!r}: use one of {list(RISK_TIERS)}",
                    field="required",
                )
            if not isinstance(n, int) or isinstance(n, bool) or n < 0:
                raise ValidationError(
                    f"approvals required for {tier!r} must be an integer >= 0, got {n!r}",
                    field="required",
                )
        self.required.update(required)

    def approve(self, ref: str, *, actor: str, comment: str | None = None) -> Approval:
        """Approve a version. Refused (audited) for roles other than validator/admin, and for
        whoever registered the version."""
        mv = self.registry.get_version(ref)
        subject = version_subject(mv.name, mv.version)
        role = self.access.require(actor, "version.approve", subject)
        if actor == mv.created_by:
            self.access.deny(
                actor,
                "version.approve",
                subject,
                f"{actor} registered {mv.ref} and cannot approve it: separation of duties "
                "needs a validator who did not register the version",
                registered_by=mv.created_by,
            )
        with self._transaction():
            approval = self.store.add_approval(mv.name, mv.version, actor, role, comment)
            status = self._status(mv)
            self.recorder.record(
                actor,
                "version.approve",
                subject,
                {
                    "role": role,
                    "comment": comment,
                    "required": status.required,
                    "have": status.have,
                },
            )
        return approval

    def approvals(self, ref: str) -> list[Approval]:
        mv = self.registry.get_version(ref)
        return self.store.list_approvals(mv.name, mv.version)

    def status(self, ref: str) -> ApprovalStatus:
        return self._status(self.registry.get_version(ref))

    def _status(self, mv: ModelVersion) -> ApprovalStatus:
        tier = self.registry.get_model(mv.name).risk_tier
        # Distinct approvers other than the registrant (the unique key already makes them
        # distinct; the registrant can never appear, but a row written around the service
        # must not count either).
        approvers = tuple(
            a.approver
            for a in self.store.list_approvals(mv.name, mv.version)
            if a.approver != mv.created_by
        )
        return ApprovalStatus(
            ref=mv.ref,
            risk_tier=tier,
            required=self.required.get(tier, 0),
            have=len(approvers),
            approvers=approvers,
            registered_by=mv.created_by,
        )
