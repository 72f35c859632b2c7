"""Server fixtures: a store with an admin and a LightGBM model in production, the app in
process (TestClient), a live uvicorn server on a loopback port, server subprocesses."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn

import mlwarden as mw
from mlwarden.server import ServerSettings, create_app

SRC = str(Path(__file__).resolve().parents[2] / "src")


@pytest.fixture(scope="session")
def credit_data(small_adult):
    train, test = small_adult
    return train.drop(columns="income"), train["income"], test.drop(columns="income")


@pytest.fixture(scope="session")
def lgb_model(credit_data):
    import lightgbm as lgb

    X, y, _ = credit_data
    return lgb.LGBMClassifier(n_estimators=20, num_leaves=15, verbose=-1, n_jobs=1).fit(X, y)


def records(frame, n: int | None = None) -> list[dict[str, Any]]:
    part = frame if n is None else frame.head(n)
    return part.astype(object).where(part.notna(), None).to_dict(orient="records")


@dataclass
class Store:
    warden: mw.Warden
    token: str  # alice, admin
    uri: str
    artifacts: str
    key_file: str

    def headers(self, token: str | None = None) -> dict[str, str]:
        return {"Authorization": f"Bearer {token or self.token}"}


@pytest.fixture
def store(warden, store_uri, tmp_path, lgb_model, credit_data) -> Store:
    """``credit`` v1 (LightGBM) behind ``production``; alice is the admin."""
    X, y, _ = credit_data
    warden.create_user("alice", "admin")
    token = warden.create_token("alice").token
    warden.register_model(
        "credit", lgb_model, train=mw.Dataset(X, y), sensitive_features=["sex"], risk_tier="low"
    )
    warden.set_alias("credit", "production", 1)
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


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class LiveServer:
    """A uvicorn server in a thread of this process."""

    def __init__(self, app: Any) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        config = uvicorn.Config(
            app, host="127.0.0.1", port=self.port, log_level="warning", lifespan="on"
        )
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> LiveServer:
        self.thread.start()
        deadline = time.monotonic() + 20
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("the test server did not start")
            time.sleep(0.01)
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(20)


@pytest.fixture
def live(app) -> Iterator[LiveServer]:
    with LiveServer(app) as server:
        yield server


def spawn_server(store: Store, port: int, log: Path, **env: str) -> subprocess.Popen:
    """``python -m mlwarden.server`` (what ``mlwarden serve`` runs) as its own process."""
    environ = {
        **os.environ,
        "PYTHONPATH": SRC,
        "MLWARDEN_URI": store.uri,
        "MLWARDEN_ARTIFACTS": store.artifacts,
        "MLWARDEN_KEY_FILE": store.key_file,
        "MLWARDEN_SERVE_PORT": str(port),
        "MLWARDEN_SERVE_ACCESS_LOG": "false",
        **env,
    }
    with open(log, "ab") as out:  # a file, not a pipe: a full pipe would block the server
        return subprocess.Popen(
            [sys.executable, "-m", "mlwarden.server"],
            env=environ,
            stdout=out,
            stderr=subprocess.STDOUT,
        )


def wait_ready(url: str, proc: subprocess.Popen, log: Path, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited: {log.read_text()[-2000:]}")
        try:
            if httpx.get(f"{url}/readyz", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    raise RuntimeError("server did not become ready")


def hammer(
    urls: list[str], token: str, body: dict[str, Any], seconds: float, threads: int = 6
) -> tuple[list[str], int]:
    """Single-row predictions from ``threads`` clients spread over ``urls`` for ``seconds``:
    the ids the servers acknowledged (HTTP 200), and how many requests failed."""
    acked: list[str] = []
    failed = [0]
    lock = threading.Lock()
    stop = time.monotonic() + seconds

    def client(url: str) -> None:
        with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {token}"}) as c:
            while time.monotonic() < stop:
                try:
                    r = c.post("/v1/models/credit/predict", json=body, timeout=5)
                except httpx.TransportError:
                    with lock:
                        failed[0] += 1
                    time.sleep(0.01)
                    continue
                with lock:
                    if r.status_code == 200:
                        acked.extend(r.json()["ids"])
                    else:
                        failed[0] += 1

    pool = [threading.Thread(target=client, args=(urls[i % len(urls)],)) for i in range(threads)]
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    return acked, failed[0]
