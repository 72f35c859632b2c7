"""Long jobs (remote registrations) run on worker threads, never on the event loop.

Each job is a row in the store (``JobStore``), so ``GET /v1/jobs/{id}`` answers from any
worker or replica, and after a restart. A job runs in the process that accepted it; a poll
that finds it queued or running in a process that is gone (same host: the process id is not
alive, or it is this process's own id from an earlier life) reports it failed, ``interrupted``:
the version it was registering is in the store only if it committed
(``GET /v1/models/{name}/versions``).
"""

from __future__ import annotations

import logging
import os
import secrets
import socket
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from mlwarden.errors import WardenError
from mlwarden.store.job_store import FINISHED, Job, JobStore

log = logging.getLogger("mlwarden.server.jobs")

#: finished jobs kept for reading, the oldest forgotten first
KEEP_FINISHED = 1000


class JobRunner:
    """A small thread pool; the jobs it runs are kept in ``store``."""

    def __init__(self, store: JobStore, workers: int = 1) -> None:
        self._store = store
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="mlwarden-job")
        # this process, on this host, in this life (a restarted container may reuse the pid)
        self._runner = f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(8)}"

    def submit(
        self, kind: str, owner: str, subject: str, work: Callable[[Callable[[str], None]], Any]
    ) -> Job:
        """Queue ``work(progress)``; its return value (JSON-ready) becomes the result."""
        job = Job(id=secrets.token_hex(16), kind=kind, owner=owner, subject=subject)
        job.runner = self._runner
        self._store.create(job)
        self._store.forget_finished(KEEP_FINISHED)
        self._pool.submit(self._run, job.id, work)
        return job

    def get(self, job_id: str) -> Job | None:
        job = self._store.get(job_id)
        if job is not None and job.state not in FINISHED and not self._alive(job.runner):
            changes = {"state": "failed", "progress": "interrupted", "error": _INTERRUPTED}
            self._store.update(job.id, **changes)
            job = self._store.get(job_id)
        return job

    def shutdown(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)

    def _alive(self, runner: str) -> bool:
        """Whether the process that runs a job may still be running it; a process on another
        host is taken to be."""
        host, _, rest = runner.partition(":")
        pid = rest.partition(":")[0]
        if host != socket.gethostname() or not pid.isdigit():
            return True
        if int(pid) == os.getpid():
            return runner == self._runner
        try:
            os.kill(int(pid), 0)
        except ProcessLookupError:
            return False
        except PermissionError:  # someone else's process: alive
            return True
        return True

    def _run(self, job_id: str, work: Callable[[Callable[[str], None]], Any]) -> None:
        update = self._store.update
        try:
            update(job_id, state="running", progress="started")
            result = work(lambda text: update(job_id, progress=text))
        except WardenError as exc:
            error = {**exc.to_dict(), "http_status": exc.http_status}
            update(job_id, state="failed", progress="failed", error=error)
        except Exception as exc:  # reported by name only, like the API's 500s
            log.exception("job %s failed", job_id)
            update(job_id, state="failed", progress="failed", error=_internal(exc))
        else:
            update(job_id, state="succeeded", progress="done", result=result)


_INTERRUPTED = {
    "error": "interrupted",
    "message": "the server process running this job stopped before it finished; "
    "GET /v1/models/{name}/versions shows whether its version was stored",
    "details": {},
    "http_status": 503,
}


def _internal(exc: Exception) -> dict[str, Any]:
    return {
        "error": "internal_error",
        "message": f"internal error: {type(exc).__name__}",
        "details": {},
        "http_status": 500,
    }
