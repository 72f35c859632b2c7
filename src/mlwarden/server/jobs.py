"""Long jobs (remote registrations) run on worker threads, never on the event loop.

Jobs live in the memory of the server process that accepted them: ``GET /v1/jobs/{id}``
answers from that process (a restart forgets them, and behind several workers a poll that
lands on another process gets a 404). The version a job registered is in the store either way.
"""

from __future__ import annotations

import logging
import threading
import uuid
from collections import OrderedDict
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

from mlwarden.entities.wire import Wire
from mlwarden.errors import WardenError

log = logging.getLogger("mlwarden.server.jobs")

State = Literal["queued", "running", "succeeded", "failed"]
#: finished jobs kept for reading, the oldest forgotten first
KEEP_FINISHED = 1000


@dataclass
class Job(Wire):
    id: str
    kind: str
    owner: str
    subject: str
    state: State = "queued"
    progress: str = "queued"
    result: Any = None
    error: dict[str, Any] | None = None
    created_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    updated_at: datetime = field(default_factory=lambda: datetime.now(UTC))


class JobRunner:
    """A small thread pool and the jobs it ran."""

    def __init__(self, workers: int = 1) -> None:
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="mlwarden-job")
        self._jobs: OrderedDict[str, Job] = OrderedDict()
        self._lock = threading.Lock()

    def submit(
        self, kind: str, owner: str, subject: str, work: Callable[[Callable[[str], None]], Any]
    ) -> Job:
        """Queue ``work(progress)``; its return value becomes the job's result."""
        job = Job(id=uuid.uuid4().hex, kind=kind, owner=owner, subject=subject)
        with self._lock:
            self._jobs[job.id] = job
            self._forget_old()
        self._pool.submit(self._run, job, work)
        return job

    def get(self, job_id: str) -> Job | None:
        with self._lock:
            return self._jobs.get(job_id)

    def shutdown(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)

    def _update(self, job: Job, **changes: Any) -> None:
        with self._lock:
            for key, value in changes.items():
                setattr(job, key, value)
            job.updated_at = datetime.now(UTC)

    def _run(self, job: Job, work: Callable[[Callable[[str], None]], Any]) -> None:
        self._update(job, state="running", progress="started")
        try:
            result = work(lambda text: self._update(job, progress=text))
        except WardenError as exc:
            self._update(
                job,
                state="failed",
                progress="failed",
                error={**exc.to_dict(), "http_status": exc.http_status},
            )
        except Exception as exc:  # reported by name only, like the API's 500s
            log.exception("job %s (%s %s) failed", job.id, job.kind, job.subject)
            self._update(
                job,
                state="failed",
                progress="failed",
                error={
                    "error": "internal_error",
                    "message": f"internal error: {type(exc).__name__}",
                    "details": {},
                    "http_status": 500,
                },
            )
        else:
            self._update(job, state="succeeded", progress="done", result=result)

    def _forget_old(self) -> None:
        finished = [j.id for j in self._jobs.values() if j.state in ("succeeded", "failed")]
        for job_id in finished[: max(0, len(finished) - KEEP_FINISHED)]:
            del self._jobs[job_id]
