"""Long jobs (remote registrations) run on worker threads, never on the event loop.

Each job is a row in the store (``JobStore``), so ``GET /v1/jobs/{id}`` answers from any
worker or replica, and after a restart. A job runs in the process that accepted it, which
marks its unfinished jobs alive every ``HEARTBEAT_S``; a poll that finds one queued or running
in a process that is gone (no mark for ``LEASE_S``, whatever the host; on the same host, at
once when its process id is not alive) reports it failed, ``interrupted``:
the version it was registering is in the store only if it committed
(``GET /v1/models/{name}/versions``).
"""

from __future__ import annotations

import logging
import os
import secrets
import socket
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any

from mlwarden.errors import WardenError
from mlwarden.store.job_store import FINISHED, Job, JobStore

log = logging.getLogger("mlwarden.server.jobs")

#: finished jobs kept for reading, the oldest forgotten first
KEEP_FINISHED = 1000
#: how often a process marks its unfinished jobs alive, and how long a job may go unmarked
#: before any process's poll takes its runner for gone (another host's, too)
HEARTBEAT_S = 15.0
LEASE_S = 60.0


class JobRunner:
    """A small thread pool; the jobs it runs are kept in ``store``."""

    def __init__(
        self, store: JobStore, workers: int = 1, *, heartbeat_s: float = HEARTBEAT_S
    ) -> None:
        self._store = store
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="mlwarden-job")
        # this process, on this host, in this life (a restarted container may reuse the pid)
        self._runner = f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(8)}"
        self._heartbeat_s = heartbeat_s
        self.lease_s = LEASE_S
        self._stop = threading.Event()
        self._beating: threading.Thread | None = None

    def submit(
        self, kind: str, owner: str, subject: str, work: Callable[[Callable[[str], None]], Any]
    ) -> Job:
        """Queue ``work(progress)``; its return value (JSON-ready) becomes the result."""
        job = Job(id=secrets.token_hex(16), kind=kind, owner=owner, subject=subject)
        job.runner = self._runner
        self._store.create(job)
        self._store.forget_finished(KEEP_FINISHED)
        self._pool.submit(self._run, job.id, work)
        if self._beating is None:
            self._beating = threading.Thread(
                target=self._beat, name="mlwarden-job-heartbeat", daemon=True
            )
            self._beating.start()
        return job

    def get(self, job_id: str) -> Job | None:
        job = self._store.get(job_id)
        if job is not None and job.state not in FINISHED and not self._alive(job):
            changes = {"state": "failed", "progress": "interrupted", "error": _INTERRUPTED}
            self._store.update(job.id, **changes)
            job = self._store.get(job_id)
        return job

    def shutdown(self) -> None:
        self._stop.set()
        self._pool.shutdown(wait=False, cancel_futures=True)

    def _beat(self) -> None:
        while not self._stop.wait(self._heartbeat_s):
            try:
                self._store.touch(self._runner)
            except Exception:  # the store is away: the next beat tries again
                log.warning("job heartbeat failed", exc_info=True)

    def _alive(self, job: Job) -> bool:
        """Whether the process that runs a job may still be running it: its heartbeat is
        recent and, on this host, its process exists in the life that took the job."""
        runner = job.runner
        if runner == self._runner:
            return True
        if job.updated_at < datetime.now(UTC) - timedelta(seconds=self.lease_s):
            return False
        host, _, rest = runner.partition(":")
        pid = rest.partition(":")[0]
        # another host, or this very process (another runner, or an earlier life of this
        # process id, as in a restarted container, whose lease then runs out)
        if host != socket.gethostname() or not pid.isdigit() or int(pid) == os.getpid():
            return True
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
            error = _error("internal_error", f"internal error: {type(exc).__name__}", 500)
            update(job_id, state="failed", progress="failed", error=error)
        else:
            update(job_id, state="succeeded", progress="done", result=result)


def _error(code: str, message: str, http_status: int) -> dict[str, Any]:
    """A failed job's ``error``: the body and status the failure would have had as a
    request (``server.app.error_response``)."""
    return {"error": code, "message": message, "details": {}, "http_status": http_status}


_INTERRUPTED = _error(
    "interrupted",
    "the server process running this job stopped before it finished; "
    "GET /v1/models/{name}/versions shows whether its version was stored",
    503,
)
