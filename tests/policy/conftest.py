"""Policy fixtures: a PolicyService over the ``warden`` fixture, and cheap versions with crafted
fairness evidence (registration without data takes milliseconds)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

import mlwarden as mw
from mlwarden.policy.service import PolicyService
from mlwarden.store.sql.policy import SqlDecisionStore

GATE = """\
name: gate
applies_to: {risk_tier: [medium, high]}
rules:
  - id: four-fifths
    check: fairness.sex.disparate_impact >= 0.8
    message: disparate impact for sex must be at least 0.8
  - id: card-owner
    check: has(card.owner)
    severity: warn
    message: the card should name an owner
"""


def policy_service(wd: mw.Warden) -> PolicyService:
    return PolicyService(
        wd.registry,
        SqlDecisionStore(wd.db),
        wd.approval_service,
        wd.access,
        wd.approval_service.recorder,
        transaction=wd.db.transaction,
    )


def make_version(
    wd: mw.Warden, name: str = "credit-risk", *, di: float | None = 0.9, risk_tier: str = "low"
) -> mw.ModelVersion:
    from sklearn.dummy import DummyClassifier

    model = DummyClassifier().fit([[0], [1]], [0, 1])
    mv = wd.register_model(name, model, risk_tier=risk_tier, tags={"limitations": "toy"})
    summary = {} if di is None else {"sex": {"disparate_impact": di, "reference_group": "Male"}}
    wd.registry.store.put_evidence(
        name, mv.version, "fairness", {"status": "ok", "summary": summary}
    )
    return wd.get_model_version(mv.ref)


@pytest.fixture
def svc(warden: mw.Warden) -> PolicyService:
    return policy_service(warden)


@pytest.fixture
def service_for() -> Callable[[mw.Warden], PolicyService]:
    return policy_service


@pytest.fixture
def version_maker() -> Callable[..., mw.ModelVersion]:
    return make_version


@pytest.fixture
def gate_file(tmp_path: Path) -> Path:
    path = tmp_path / "gate.yaml"
    path.write_text(GATE)
    return path
