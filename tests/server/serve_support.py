"""Helpers for the server tests (not fixtures): rows as JSON records, the test store,
loopback ports, live and subprocess servers, a load generator. A uniquely named module, so
test folders' ``conftest`` modules never shadow each other."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import uvicorn

import mlwarden as mw

SRC = str(Path(__file__).resolve().parents[2] / "src")


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


class PortalTransport(httpx.BaseTransport):
    """``httpx.ASGITransport`` for a sync client (``RemoteWarden``): each request runs the
    app on the portal's event loop, the one its lifespan started on. No socket, no server
    thread: the remote suite's set-up costs what the app's does."""

    def __init__(self, app: Any, portal: Any) -> None:
        self._asgi = httpx.ASGITransport(app=app)
        self._portal = portal

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        body = request.read()

        async def send() -> tuple[int, httpx.Headers, bytes]:
            forwarded = httpx.Request(
                request.method, request.url, headers=request.headers, content=body
            )
            resp = await self._asgi.handle_async_request(forwarded)
            raw = b"".join([chunk async for chunk in resp.aiter_raw()])  # still encoded
            return resp.status_code, resp.headers, raw

        status, headers, raw = self._portal.call(send)
        return httpx.Response(status, headers=headers, content=raw, request=request)


@dataclass
class InProcess:
    """The app in this process behind an ASGI transport: ``live``'s ``.url``, without a
    socket. ``mw.connect(url, token=…, transport=transport)`` is a ``RemoteWarden`` on it."""

    transport: PortalTransport
    url: str = "http://testserver"

    def warden(self, token: str) -> Any:
        return mw.connect(self.url, token=token, transport=self.transport)

    def client(self, **kwargs: Any) -> httpx.Client:
        return httpx.Client(base_url=self.url, transport=self.transport, **kwargs)


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
    with httpx.Client() as probe:  # one client: each costs ~50 ms of CPU (its TLS context)
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise RuntimeError(f"server exited: {log.read_text()[-2000:]}")
            try:
                if probe.get(f"{url}/readyz", timeout=1).status_code == 200:
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
