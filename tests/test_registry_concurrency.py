"""Several processes writing to one store at once (real processes, both databases)."""

from __future__ import annotations

import pytest

import mlwarden as mw

WORKERS = 4
PER_WORKER = 5


def _register_many(uri: str, artifacts: str, barrier) -> list[int]:  # type: ignore[no-untyped-def]
    from sklearn.dummy import DummyClassifier

    wd = mw.Warden(uri, artifacts=artifacts, actor="worker")
    model = DummyClassifier().fit([[0], [1]], [0, 1])
    barrier.wait(timeout=120)
    return [wd.register_model("race", model).version for _ in range(PER_WORKER)]


def _promote(uri: str, artifacts: str, version: int, barrier) -> str:  # type: ignore[no-untyped-def]
    wd = mw.Warden(uri, artifacts=artifacts, actor=f"w{version}")
    barrier.wait(timeout=120)
    try:
        wd.registry.store.move_alias(
            "race",
            "production",
            version,
            actor=f"w{version}",
            action="promote",
            expect_version=None,
        )
        return "won"
    except mw.Conflict:
        return "lost"


def test_concurrent_registrations_get_distinct_numbers(store_uri, tmp_path, processes):
    ctx = processes
    with ctx.Manager() as manager:
        barrier = manager.Barrier(WORKERS)
        with ctx.Pool(WORKERS) as pool:
            results = pool.starmap(
                _register_many, [(store_uri, str(tmp_path / "a"), barrier)] * WORKERS, chunksize=1
            )
    numbers = sorted(n for r in results for n in r)
    assert numbers == list(range(1, WORKERS * PER_WORKER + 1))
    wd = mw.Warden(store_uri, artifacts=str(tmp_path / "a"))
    assert [v.version for v in wd.list_versions("race")] == numbers


@pytest.mark.parametrize("contenders", [3])
def test_concurrent_conditional_alias_moves_have_one_winner(
    store_uri, tmp_path, contenders, processes
):
    from sklearn.dummy import DummyClassifier

    wd = mw.Warden(store_uri, artifacts=str(tmp_path / "a"))
    model = DummyClassifier().fit([[0], [1]], [0, 1])
    for _ in range(contenders):
        wd.register_model("race", model)
    ctx = processes
    with ctx.Manager() as manager:
        barrier = manager.Barrier(contenders)
        with ctx.Pool(contenders) as pool:
            outcomes = pool.starmap(
                _promote,
                [(store_uri, str(tmp_path / "a"), v, barrier) for v in range(1, contenders + 1)],
                chunksize=1,
            )
    assert sorted(outcomes) == ["lost"] * (contenders - 1) + ["won"]
    history = wd.alias_history("race", "production")
    assert len(history) == 1 and history[0].from_version is None
    winner = history[0].to_version
    assert wd.get_model_version("race@production").version == winner
