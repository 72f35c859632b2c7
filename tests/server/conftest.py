"""Server fixtures: a store with an admin and a LightGBM model in production, the app in
process (TestClient, or ``inproc``: an ASGI transport for ``RemoteWarden``), a live uvicorn
server on a loopback port (the smaller set of tests that need a real socket), server
subprocesses."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from serve_support import InProcess, LiveServer, PortalTransport, Store

import mlwarden as mw
from mlwarden.server import ServerSettings, create_app


@pytest.fixture(scope="session")
def credit_data(small_adult):
    train, test = small_adult
    return train.drop(columns="income"), train["income"], test.drop(columns="income")


@pytest.fixture(scope="session")
def lgb_model(credit_data):
    import lightgbm as lgb

    X, y, _ = credit_data
    return lgb.LGBMClassifier(n_estimators=20, num_leaves=15, verbose=-1, n_jobs=1).fit(X, y)


@pytest.fixture
def store(warden, store_uri, tmp_path, lgb_model, credit_data) -> Store:
    """``credit`` v1 (LightGBM) behind ``production``; alice is the admin."""
    X, y, _ = credit_data
    warden.create_user("alice", "admin")
    token = warden.create_token("alice").token
    warden.register_model(
        "credit", lgb_model, train=mw.Dataset(X, y), sensitive_features=["sex"], risk_tier="low"
    )
    warden.set_alias("credit", "production", 1, override=True, reason="test setup")
    from mlwarden.store.sql.audit import key_path

    return Store(
        warden, token, store_uri, str(tmp_path / "artifacts"), str(key_path(warden.settings))
    )


@pytest.fixture
def app(store):
    return create_app(ServerSettings(), store.warden)


@pytest.fixture
def api(app, store):
    from fastapi.testclient import TestClient

    with TestClient(app, headers=store.headers()) as client:
        yield client


@pytest.fixture
def live(app) -> Iterator[LiveServer]:
    with LiveServer(app) as server:
        yield server


@pytest.fixture
def inproc(app) -> Iterator[InProcess]:
    """The remote suite's default: requests go through the ASGI app in this process."""
    from fastapi.testclient import TestClient

    with TestClient(app) as client:  # runs the lifespan; its portal runs every request
        yield InProcess(PortalTransport(app, client.portal))
