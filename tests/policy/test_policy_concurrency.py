"""Concurrent gated promotions from real processes: one wins, the history stays consistent."""

from __future__ import annotations

import mlwarden as mw
from mlwarden.policy.service import PolicyService
from mlwarden.store.sql.policy import SqlDecisionStore

CONTENDERS = 3


def _promote(uri: str, artifacts: str, policy: str, version: int, barrier) -> str:  # type: ignore[no-untyped-def]
    wd = mw.Warden(uri, artifacts=artifacts, actor=f"w{version}")
    svc = PolicyService(
        wd.registry,
        SqlDecisionStore(wd.db),
        wd.approval_service,
        wd.access,
        wd.approval_service.recorder,
        transaction=wd.db.transaction,
    )
    decide = svc._decide

    def decide_together(*args, **kwargs):  # type: ignore[no-untyped-def]
        # Every contender has read the alias (None) before any of them moves it: a real race,
        # not a late starter promoting after the winner (which would rightly succeed).
        barrier.wait(timeout=120)
        return decide(*args, **kwargs)

    svc._decide = decide_together  # type: ignore[method-assign]
    try:
        svc.promote(f"race@{version}", alias="production", policy=policy, actor=f"w{version}")
        return "won"
    except mw.Conflict:
        return "lost"
    finally:
        wd.close()


def test_concurrent_promotions_have_one_winner(
    store_uri, tmp_path, gate_file, version_maker, processes
):
    artifacts = str(tmp_path / "a")
    policy = gate_file
    wd = mw.Warden(store_uri, artifacts=artifacts, actor="alice")
    for _ in range(CONTENDERS):
        version_maker(wd, "race", risk_tier="medium")
    # medium risk needs one approval from someone other than the registrant
    approver = mw.Warden(store_uri, artifacts=artifacts, actor="bob")
    for v in range(1, CONTENDERS + 1):
        approver.approve(f"race@{v}")
    approver.close()
    ctx = processes
    with ctx.Manager() as manager:
        barrier = manager.Barrier(CONTENDERS)
        with ctx.Pool(CONTENDERS) as pool:
            outcomes = pool.starmap(
                _promote,
                [(store_uri, artifacts, str(policy), v, barrier) for v in range(1, CONTENDERS + 1)],
                chunksize=1,
            )
    assert sorted(outcomes) == ["lost"] * (CONTENDERS - 1) + ["won"]
    history = wd.alias_history("race", "production")
    assert len(history) == 1 and history[0].from_version is None
    winner = history[0].to_version
    assert wd.get_model_version("race@production").version == winner
    # the winner's decision and move are audited; each loser's lost race is on record
    promoted = wd.audit.events(model="race", action="alias.promote")
    assert [e.payload["to_version"] for e in promoted] == [winner]
    denied = wd.audit.events(model="race", action="access.denied")
    assert len(denied) == CONTENDERS - 1
    assert all("moved concurrently" in e.payload["reason"] for e in denied)
    wd.close()
