"""Run the server under uvicorn: what ``mlwarden serve`` and ``python -m mlwarden.server`` do."""

from __future__ import annotations

import contextlib
import functools
import inspect
import sys
from typing import Any

from mlwarden.settings import ServerSettings, Settings

__all__ = ["run"]


def run(settings: Settings | ServerSettings) -> None:
    """Run uvicorn on ``settings`` (the tree, or its server section over the environment's
    tree). Each worker process (``--workers N``) builds the app from the same tree: it is
    pickled into the factory uvicorn calls there."""
    import uvicorn

    from mlwarden.server.app import app_for

    tree = settings if isinstance(settings, Settings) else Settings(server=settings)
    _check_keys(tree)
    server = tree.server
    config = uvicorn.Config(
        functools.partial(app_for, tree),
        factory=True,
        host=server.host,
        port=server.port,
        workers=server.workers,
        # the access log has the request line and status only: never headers (tokens) or
        # bodies (inputs)
        access_log=server.access_log,
        log_level="info",
        timeout_graceful_shutdown=10,
        **(_worker_startup_timeout(uvicorn.Config) if server.workers > 1 else {}),
    )
    if server.workers > 1:
        # uvicorn.run insists on an import string here; its supervisor takes any picklable app
        from uvicorn.supervisors import Multiprocess

        Multiprocess(config, sockets=[config.bind_socket()]).run()
        return
    runner = uvicorn.Server(config)
    with contextlib.suppress(KeyboardInterrupt):
        runner.run()
    if not runner.started:
        raise SystemExit(3)  # uvicorn's start-up failure status


#: seconds a new worker may take to import and build the app. uvicorn's default (5 s) is less
#: than a loaded two-core machine needs for pandas, scikit-learn and the app: it killed and
#: restarted every worker of ``--workers 2`` in a loop (bench/serve.py --workers 2).
WORKER_STARTUP_S = 120


def _worker_startup_timeout(config: type) -> dict[str, Any]:
    params = inspect.signature(config).parameters
    if "timeout_worker_healthcheck" in params:  # uvicorn 0.30 and later
        return {"timeout_worker_healthcheck": WORKER_STARTUP_S}
    return {}


def _check_keys(settings: Settings) -> None:
    """Fail fast, with one line and no traceback, when this host's keys are not the store's
    (uvicorn would print a traceback per worker and keep the port)."""
    from mlwarden.audit.sql_log import preflight
    from mlwarden.errors import WardenError

    try:
        preflight(settings)
    except WardenError as exc:
        if settings.debug:
            raise
        sys.stderr.write(f"error: {exc.message}\n")
        raise SystemExit(1) from None
