"""Helpers for the interop tests (not fixtures): real peers started as subprocesses on
loopback ports. A uniquely named module, so test folders' helpers never shadow each other."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_http(url: str, proc: subprocess.Popen[bytes], timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    with httpx.Client() as probe:  # one client: each costs ~50 ms of CPU (its TLS context)
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise RuntimeError(f"{proc.args!r} exited with {proc.returncode}")
            try:
                probe.get(url, timeout=1.0)
                return
            except httpx.TransportError:
                time.sleep(0.1)
    raise RuntimeError(f"{url} did not answer in {timeout:.0f} s")


def moto_server_command() -> list[str]:
    """``moto_server`` from the environment running the tests."""
    found = Path(sys.executable).with_name("moto_server")
    return [str(found)] if found.exists() else [shutil.which("moto_server") or "moto_server"]


@contextmanager
def moto_server(*, auth_free_calls: int | None = None) -> Iterator[str]:
    """A moto S3 server (a real S3 HTTP API) on a loopback port; yields its URL. With
    ``auth_free_calls`` moto checks credentials after that many unauthenticated calls."""
    port = free_port()
    env = dict(os.environ)
    if auth_free_calls is not None:
        env["INITIAL_NO_AUTH_ACTION_COUNT"] = str(auth_free_calls)
    proc = subprocess.Popen(
        [*moto_server_command(), "-H", "127.0.0.1", "-p", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_http(url, proc)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()


ROOT = Path(__file__).resolve().parents[2]
MLFLOW_VENV = ROOT / ".bench-venv" / "mlflow"


def mlflow_env() -> dict[str, str]:
    """MLflow's own environment (bench/requirements-mlflow.txt), built if missing."""
    if not (MLFLOW_VENV / ".ok").exists():
        subprocess.run(["make", ".bench-venv/mlflow/.ok"], cwd=ROOT, check=True, timeout=1800)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MLFLOW_", "MLWARDEN_"))}
    env |= {
        "PATH": f"{MLFLOW_VENV / 'bin'}:{env.get('PATH', '')}",
        "MLFLOW_DISABLE_TELEMETRY": "true",
        "DO_NOT_TRACK": "1",
    }
    return env


@contextmanager
def mlflow_server(folder: Path) -> Iterator[str]:
    """A real ``mlflow server`` (SQLite backend, proxied artifacts) on a loopback port."""
    env = mlflow_env()
    port = free_port()
    log = (folder / "mlflow.log").open("wb")
    proc = subprocess.Popen(
        [
            str(MLFLOW_VENV / "bin" / "mlflow"),
            "server",
            "--backend-store-uri",
            f"sqlite:///{folder / 'mlflow.db'}",
            "--artifacts-destination",
            str(folder / "mlartifacts"),
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--workers",
            "1",
        ],
        env=env,
        cwd=folder,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_http(f"{url}/health", proc, timeout=180)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()


def mlflow_python(script: Path, *args: str) -> None:
    """Run ``script`` with MLflow's environment (the client side: logging, registering)."""
    subprocess.run(
        [str(MLFLOW_VENV / "bin" / "python"), str(script), *args],
        env=mlflow_env(),
        check=True,
        timeout=600,
    )
