"""Fixtures for the attack tests: one real server process per test module and backend
(SQLite and PostgreSQL), with a user per role and ``credit`` v1 (LightGBM) in production.

Each test drives the attack over HTTP as the named role, then checks that the server is
alive, that nothing ran and that no alias moved. A test that needs a pristine store or
special settings starts its own server with ``fresh_server``.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from security_support import USERS, SecureServer, free_port

import mlwarden as mw

PG_MARK = pytest.mark.postgres


def _pg_uri(pg_url: str) -> tuple[str, Callable[[], None]]:
    import psycopg

    schema = f"s_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA "{schema}"')
    sep = "&" if "?" in pg_url else "?"

    def drop() -> None:
        with psycopg.connect(pg_url, autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA "{schema}" CASCADE')

    return f"{pg_url}{sep}options=-csearch_path%3D{schema}", drop


@pytest.fixture(scope="session")
def credit_data(small_adult):
    train, test = small_adult
    return train.drop(columns="income"), train["income"], test.drop(columns="income")


@pytest.fixture(scope="session")
def lgb_model(credit_data):
    import lightgbm as lgb

    X, y, _ = credit_data
    return lgb.LGBMClassifier(n_estimators=20, num_leaves=15, verbose=-1, n_jobs=1).fit(X, y)


def build_store(
    backend: str, folder: Path, lgb_model, credit_data
) -> tuple[SecureServer, Callable]:
    """A store on ``backend`` with a user and token per role and ``credit`` v1 in production;
    the server is not started."""
    pg_url = os.environ.get("MLWARDEN_TEST_POSTGRES_URL")
    cleanup: Callable[[], None] = lambda: None  # noqa: E731
    if backend == "sqlite":
        uri = f"sqlite:///{folder / 'warden.db'}"
    else:
        if not pg_url:
            pytest.skip("MLWARDEN_TEST_POSTGRES_URL is not set")
        uri, cleanup = _pg_uri(pg_url)
    artifacts = str(folder / "artifacts")
    key_file = str(folder / "keys" / "audit-signing.pem")
    settings = mw.Settings(key_file=key_file)
    X, y, _ = credit_data
    with mw.Warden(uri, artifacts=artifacts, actor="alice", settings=settings) as wd:
        wd.create_user("alice", "admin")
        tokens = {"admin": wd.create_token("alice").token}
        for role, name in USERS.items():
            if role != "admin":
                wd.create_user(name, role)
                tokens[role] = wd.create_token(name).token
        wd.register_model(
            "credit", lgb_model, train=mw.Dataset(X, y), sensitive_features=["sex"], risk_tier="low"
        )
        wd.set_alias("credit", "production", 1, override=True, reason="test fixture")
    server = SecureServer(
        url=f"http://127.0.0.1:{free_port()}",
        uri=uri,
        artifacts=artifacts,
        key_file=key_file,
        tokens=tokens,
        log=folder / "server.log",
    )
    return server, cleanup


@pytest.fixture(scope="module", params=["sqlite", pytest.param("postgresql", marks=PG_MARK)])
def server(request, tmp_path_factory, lgb_model, credit_data) -> Iterator[SecureServer]:
    """A running server shared by one test module, on each backend."""
    folder = tmp_path_factory.mktemp(f"secure-{request.param}")
    srv, cleanup = build_store(request.param, folder, lgb_model, credit_data)
    srv.start()
    try:
        yield srv
    finally:
        srv.stop()
        cleanup()


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=PG_MARK)])
def fresh_server(request, tmp_path, lgb_model, credit_data) -> Iterator[SecureServer]:
    """A store of its own for one test (not started: call ``.start(**env)``)."""
    srv, cleanup = build_store(request.param, tmp_path, lgb_model, credit_data)
    try:
        yield srv
    finally:
        srv.stop()
        cleanup()
