"""Shared fixtures. Store tests run on SQLite and, when MLWARDEN_TEST_POSTGRES_URL is set,
on PostgreSQL too (in CI it must be set and reachable: a missing database fails the run)."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

import mlwarden as mw

# Servers built in this process would freeze the heap (gc.freeze) and keep every earlier
# test's objects; test_serve_proxy_writer.py checks the setting itself.
os.environ.setdefault("MLWARDEN_SERVE_SETTLE_HEAP", "false")

PG_URL = os.environ.get("MLWARDEN_TEST_POSTGRES_URL")
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


def pytest_sessionstart(session: pytest.Session) -> None:
    if IN_CI and not PG_URL:
        raise pytest.UsageError("CI=true but MLWARDEN_TEST_POSTGRES_URL is not set")


def _backends() -> list:
    return ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]


@pytest.fixture
def pg_schema_uri() -> Iterator[str]:
    """A fresh PostgreSQL schema for one test, dropped afterwards."""
    if not PG_URL:
        pytest.skip("MLWARDEN_TEST_POSTGRES_URL is not set")
    import psycopg

    schema = f"t_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(PG_URL, autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA "{schema}"')
    sep = "&" if "?" in PG_URL else "?"
    try:
        yield f"{PG_URL}{sep}options=-csearch_path%3D{schema}"
    finally:
        with psycopg.connect(PG_URL, autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA "{schema}" CASCADE')


@pytest.fixture(params=_backends())
def store_uri(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A database URI on each backend; the artifact folder goes in ``tmp_path``."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'warden.db'}"
    return request.getfixturevalue("pg_schema_uri")


@pytest.fixture
def warden(store_uri: str, tmp_path: Path) -> Iterator[mw.Warden]:
    wd = mw.Warden(store_uri, artifacts=str(tmp_path / "artifacts"), actor="alice")
    yield wd
    wd.close()


@pytest.fixture(scope="session")
def adult():
    return mw.datasets.load_adult()


@pytest.fixture(scope="session")
def small_adult(adult):
    """A 4,000-row training sample and a 2,000-row evaluation sample, for speed."""
    train, test = adult
    return train.sample(4000, random_state=0), test.sample(2000, random_state=0)


@pytest.fixture(scope="session")
def fitted_pipeline(small_adult):
    from sklearn.compose import make_column_selector, make_column_transformer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    train, _ = small_adult
    pipe = make_pipeline(
        make_column_transformer(
            (
                OneHotEncoder(handle_unknown="ignore"),
                make_column_selector(dtype_include="category"),
            ),
            (StandardScaler(), make_column_selector(dtype_include="number")),
        ),
        LogisticRegression(max_iter=300),
    )
    return pipe.fit(train.drop(columns="income"), train["income"])


@pytest.fixture
def registered(warden, fitted_pipeline, small_adult):
    train, test = small_adult
    return warden.register_model(
        "credit-risk",
        fitted_pipeline,
        train=mw.Dataset(train.drop(columns="income"), train["income"], name="adult-train"),
        eval=mw.Dataset(test.drop(columns="income"), test["income"], name="adult-test"),
        sensitive_features=["sex", "race"],
        owner="risk-team",
        risk_tier="high",
        intended_use="Pre-screening of credit applications.",
    )
