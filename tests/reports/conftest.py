"""Report fixtures: a governed version (approved, checked, promoted) and a bundle of it."""

from __future__ import annotations

from pathlib import Path

import pytest

import mlwarden as mw


def as_actor(wd: mw.Warden, actor: str) -> mw.Warden:
    return mw.Warden(settings=wd.settings.model_copy(update={"actor": actor}))


def govern(wd: mw.Warden, ref: str) -> None:
    """Give ``ref`` an approval, a policy decision and an alias move (all audited)."""
    bob = as_actor(wd, "bob")
    try:
        bob.approve(ref, comment="validated on holdout")
    finally:
        bob.close()
    wd.check(ref, "production-gate")
    mv = wd.get_model_version(ref)
    wd.set_alias(mv.name, "staging", mv.version, reason="candidate")


@pytest.fixture
def governed(registered: mw.ModelVersion, warden: mw.Warden) -> mw.ModelVersion:
    govern(warden, registered.ref)
    return warden.get_model_version(registered.ref)


@pytest.fixture(scope="module")
def bundle_store(tmp_path_factory, fitted_pipeline, small_adult):
    """One SQLite store with a governed version and its bundle, shared by the tamper tests."""
    root = tmp_path_factory.mktemp("bundle")
    wd = mw.Warden(f"sqlite:///{root / 'warden.db'}", artifacts=str(root / "art"), actor="alice")
    train, test = small_adult
    mv = wd.register_model(
        "credit-risk",
        fitted_pipeline,
        train=mw.Dataset(train.drop(columns="income"), train["income"], name="adult-train"),
        eval=mw.Dataset(test.drop(columns="income"), test["income"], name="adult-test"),
        sensitive_features=["sex"],
        risk_tier="high",
        intended_use="Pre-screening of credit applications.",
    )
    govern(wd, mv.ref)
    path = wd.bundle(mv.ref, root / "bundle.zip")
    yield wd, mv, Path(path)
    wd.close()
