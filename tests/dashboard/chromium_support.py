"""Where the browser tests find Chromium, and what happens when it is missing (in CI
``CI=true`` the tests fail, elsewhere they are skipped); ``serving``: an app on loopback."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")
CHROMIUM = os.environ.get("MLWARDEN_CHROMIUM", "/usr/bin/chromium")
#: Debian's Chromium in a container (see FIELD-NOTES): no sandbox, no GPU, no phoning home.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def chromium_or_fail(path: str = CHROMIUM, in_ci: bool = IN_CI) -> None:
    if Path(path).exists() or shutil.which(path):
        return
    if in_ci:
        pytest.fail(f"CI=true but Chromium is missing at {path} (set MLWARDEN_CHROMIUM)")
    pytest.skip(f"Chromium not found at {path}")


@contextmanager
def serving(app: Any) -> Iterator[str]:
    """``app`` on a loopback port (uvicorn in a thread); yields its base URL."""
    import socket
    import threading
    import time

    import uvicorn

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the dashboard test server did not start")
        time.sleep(0.01)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(20)
