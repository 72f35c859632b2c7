"""The security tests' real server: ``python -m mlwarden.server`` (what ``mlwarden serve``
runs) in its own process on a loopback port, over a store with one user per role and a
LightGBM model behind ``production``. A uniquely named module, so test folders' ``conftest``
modules never shadow each other."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx

SRC = str(Path(__file__).resolve().parents[2] / "src")

#: The health and readiness probes' client, made once: building one costs about 50 ms of CPU
#: (its TLS context), which ``assert_alive`` would count against the server, and which polling
#: every 50 ms would take from the server on a loaded machine. No keep-alive: every probe
#: opens a new connection, as a load balancer's does.
PROBE = httpx.Client(limits=httpx.Limits(max_keepalive_connections=0))

#: one user per role; the admin owns the store
USERS = {"admin": "alice", "developer": "dave", "validator": "vera", "viewer": "vic"}


#: nine levels of aliases: 9**9 strings from a 300-byte document
BILLION_LAUGHS = """\
a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]
b: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]
c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]
d: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]
e: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d]
f: &f [*e,*e,*e,*e,*e,*e,*e,*e,*e]
g: &g [*f,*f,*f,*f,*f,*f,*f,*f,*f]
h: &h [*g,*g,*g,*g,*g,*g,*g,*g,*g]
i: &i [*h,*h,*h,*h,*h,*h,*h,*h,*h]
"""

#: what a listener answers: status, headers and body
Answer = tuple[int, dict[str, str], bytes]


class Listener:
    """An HTTP service on loopback that stands for an internal one: it records every request
    (path, headers, body) and answers what ``answer(path, body, port)`` returns."""

    def __init__(self, answer: Callable[[str, bytes, int], Answer], path: str = "/") -> None:
        self.requests: list[dict] = []
        self.default_path = path
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                outer.requests.append(
                    {"path": self.path, "headers": dict(self.headers), "body": body}
                )
                status, headers, content = answer(self.path, body, outer.port)
                self.send_response(status)
                for name, value in {**headers, "Content-Length": str(len(content))}.items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(content)

            do_GET = do_POST

            def log_message(self, *args: object) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.httpd.server_address[1]
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def url(self, path: str | None = None, host: str = "127.0.0.1") -> str:
        return f"http://{host}:{self.port}{path or self.default_path}"

    def paths(self) -> list[str]:
        return [r["path"] for r in self.requests]

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class SecureServer:
    """A running server and the tokens of each role."""

    url: str
    uri: str
    artifacts: str
    key_file: str
    tokens: dict[str, str]  # role -> bearer token
    log: Path
    proc: subprocess.Popen | None = None
    env: dict[str, str] = field(default_factory=dict)

    def headers(self, role: str = "admin") -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[role]}"}

    def client(self, role: str | None = "admin", **kwargs: Any) -> httpx.Client:
        headers = self.headers(role) if role else {}
        return httpx.Client(base_url=self.url, headers=headers, timeout=30, **kwargs)

    def request(self, role: str | None, method: str, path: str, **kwargs: Any) -> httpx.Response:
        with self.client(role) as c:
            return c.request(method, path, **kwargs)

    def assert_alive(self) -> None:
        """The process runs and answers a health check within three seconds (a wedged
        server never answers; the margin is for a loaded CI machine)."""
        assert self.proc is not None and self.proc.poll() is None, (
            f"the server died: {self.log.read_text()[-3000:]}"
        )
        started = time.monotonic()
        r = PROBE.get(f"{self.url}/healthz", timeout=3.0)
        assert r.status_code == 200
        assert time.monotonic() - started < 3.0

    def start(self, **env: str) -> SecureServer:
        port = int(self.url.rsplit(":", 1)[1])
        environ = {
            **os.environ,
            "PYTHONPATH": SRC,
            "MLWARDEN_URI": self.uri,
            "MLWARDEN_ARTIFACTS": self.artifacts,
            "MLWARDEN_KEY_FILE": self.key_file,
            "MLWARDEN_SERVE_PORT": str(port),
            "MLWARDEN_SERVE_ACCESS_LOG": "false",
            **self.env,
            **env,
        }
        with open(self.log, "ab") as out:  # a file, not a pipe: a full pipe blocks the server
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "mlwarden.server"],
                env=environ,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited: {self.log.read_text()[-3000:]}")
            try:
                if PROBE.get(f"{self.url}/readyz", timeout=1).status_code == 200:
                    return self
            except httpx.TransportError:
                pass
            time.sleep(0.1)
        raise RuntimeError("server did not become ready")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        self.proc = None

    def restart(self, **env: str) -> SecureServer:
        self.stop()
        return self.start(**env)


def open_store(srv: SecureServer, actor: str = "alice") -> Any:
    """The server's store opened directly (as the operator would), to check what happened."""
    import mlwarden as mw

    return mw.Warden(
        srv.uri, artifacts=srv.artifacts, actor=actor, settings=mw.Settings(key_file=srv.key_file)
    )
