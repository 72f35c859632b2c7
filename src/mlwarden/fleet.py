"""Fleet monitoring across processes: the worker side of ``Warden.monitor_fleet``.

Threads share one ``Warden``; processes and Dask workers cannot share its connections, so each
opens its own on the same store (URI and artifact root, nothing from the client) once, and
evaluates a chunk of models through ``MonitorService.evaluate_fleet``: one code path whatever
runs it.
"""

from __future__ import annotations

import functools
from datetime import datetime
from typing import Any

from mlwarden.monitor.fleet import ModelOutcome

EXECUTORS = ("serial", "thread", "process", "dask")


@functools.cache
def _warden(uri: str, artifacts: str) -> Any:
    from mlwarden.client import Warden

    return Warden(uri, artifacts=artifacts)


def evaluate_chunk(
    uri: str,
    artifacts: str,
    refs: list[str],
    window: str,
    since: datetime | None,
    until: datetime | None,
) -> list[ModelOutcome]:
    """Evaluate ``refs`` (``name@version``) in this process; picklable for pools and Dask."""
    wd = _warden(uri, artifacts)
    report = wd.monitoring.evaluate_fleet(
        resolve(wd, refs), window=window, since=since, until=until
    )
    return list(report.models)


def resolve(wd: Any, refs: list[str]) -> list[Any]:
    """The versions ``refs`` name, read with the chunk's serving versions in a fixed few
    statements (not three per model); a ref that is no longer what its model serves (an
    alias moved since the job started) is read on its own."""
    from mlwarden.registry.refs import parse_ref

    parsed = [parse_ref(ref) for ref in refs]
    serving = wd.registry.serving_versions(sorted({r.name for r in parsed}))
    found = {(mv.name, mv.version): mv for mv in serving}
    return [
        found.get((r.name, r.version)) or wd.registry.get_version(ref)
        for r, ref in zip(parsed, refs, strict=True)
    ]


def chunks(items: list[str], n: int) -> list[list[str]]:
    """``items`` in about ``n`` interleaved chunks (big and small models spread evenly)."""
    n = max(1, min(n, len(items)))
    return [items[i::n] for i in range(n)]


def run_distributed(
    executor: str,
    workers: int,
    uri: str,
    artifacts: str,
    refs: list[str],
    window: str,
    since: datetime | None,
    until: datetime | None,
) -> list[ModelOutcome]:
    """Map chunks of ``refs`` over ``workers`` processes or a Dask ``LocalCluster``."""
    # several chunks per worker: a slow model does not leave the other workers idle
    parts = chunks(refs, workers * 4)
    task = functools.partial(
        evaluate_chunk, uri, artifacts, window=window, since=since, until=until
    )
    if executor == "process":
        from concurrent.futures import ProcessPoolExecutor

        with ProcessPoolExecutor(workers) as pool:
            done = list(pool.map(task, parts))
    else:
        try:
            from distributed import Client, LocalCluster
        except ImportError as exc:
            from mlwarden.errors import ValidationError

            raise ValidationError(
                "executor 'dask' needs the dask extra: pip install 'mlwarden[dask]'",
                field="executor",
            ) from exc
        with (
            LocalCluster(
                n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=None
            ) as cluster,
            Client(cluster) as client,
        ):
            done = client.gather(client.map(task, parts, pure=False))
    return [outcome for part in done for outcome in part]
