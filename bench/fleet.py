"""Fleet benchmark (issue 17 goal 4): 500 models, each with one day of 10,000 logged
predictions (5M rows) on PostgreSQL, every window evaluated (drift, quality, performance,
fairness) by ``wd.monitor_fleet``; then the same job again (final windows kept), the weekly
roll-up from the stored profiles, the job on a Dask ``LocalCluster`` by number of workers,
and the dashboard's inventory of the fleet through a real server on loopback.

Peer, side by side: today's path per model (``MonitorService.run``: re-read the rows and
recompute every window, one model after another) on a sample of models, extrapolated to the
fleet; the ratio is peer seconds over the fleet job's seconds.

The store is seeded once into its own PostgreSQL schema (one model registered for real, the
others sharing its artifact and evidence through the registry store; predictions by
``wd.log_predictions``, binary COPY) and reused with ``--reuse``; its tables are analyzed
before anything is measured (autovacuum may be off, as on the development machine).

    python bench/fleet.py [--quick] [--reuse] [--uri postgresql://…] [--dask 1,2]
        [--models N --rows R] [--executor thread|process]

Dask's speed-up is printed against its own one-worker run in the same session
(``dask_speedup``): on a machine whose cores are already busy it stays near 1x.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).parent))
from _common import emit

import mlwarden as mw

PG = "postgresql://postgres@127.0.0.1:5432/test"
DAY = datetime(2026, 12, 1, tzinfo=UTC)  # the logged day: a final window
FEATURES = 8


def schema_uri(url: str, schema: str, fresh: bool) -> str:
    import psycopg

    with psycopg.connect(url, autocommit=True) as conn:
        if fresh:
            conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
        conn.execute(f'CREATE SCHEMA IF NOT EXISTS "{schema}"')
    sep = "&" if "?" in url else "?"
    return f"{url}{sep}options=-csearch_path%3D{schema}"


def frame(rng: np.random.Generator, n: int, shift: float = 0.0) -> pd.DataFrame:
    X = pd.DataFrame(
        rng.normal(0, 1, (n, FEATURES)) + shift, columns=[f"f{j}" for j in range(FEATURES)]
    )
    X["region"] = rng.choice(["north", "south", "east", "west"], n)
    return X


def seed(wd: Any, n_models: int, n_rows: int) -> float:
    """Register the fleet and log one day of predictions per model; returns seconds."""
    from sklearn.compose import make_column_transformer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder

    from mlwarden.store.registry_store import NewModel, NewVersion

    started = time.perf_counter()
    rng = np.random.default_rng(0)
    X = frame(rng, 4000)
    y = (X["f0"] + X["f1"] + rng.normal(0, 1, len(X)) > 0).astype(int)
    sex = pd.DataFrame({"sex": rng.choice(["f", "m"], len(X))})
    model = make_pipeline(
        make_column_transformer(
            (OneHotEncoder(handle_unknown="ignore"), ["region"]), remainder="passthrough"
        ),
        LogisticRegression(),
    ).fit(X, y)
    first = wd.register_model(
        "fleet-0000",
        model,
        train=mw.Dataset(X[:3000], y[:3000], sensitive=sex[:3000]),
        eval=mw.Dataset(X[3000:], y[3000:], sensitive=sex[3000:]),
        sensitive_features=["sex"],
    )
    store = wd.registry.store
    evidence = {k: store.get_evidence(first.name, 1, k) for k in first.evidence}
    spec = NewVersion(
        first.artifact_sha256,
        first.artifact_size,
        first.flavor,
        dict(first.flavor_info),
        dict(first.signature),
        dict(first.lineage),
        dict(first.metrics),
        dict(first.params),
    )
    for m in range(1, n_models):  # what registration stores, without refitting 499 models
        name = f"fleet-{m:04d}"
        store.get_or_create_model(
            NewModel(name, f"team-{m % 17}", "high", "bench", None, {}), "bench"
        )
        store.create_version(name, spec, evidence, "bench")
    ts = pd.Series(DAY + pd.to_timedelta(np.linspace(0, 86_399, n_rows), "s"))
    for m in range(n_models):
        shifted = m % 7 == 0  # one model in seven drifts
        Xc = frame(rng, n_rows, 0.8 if shifted else 0.0)
        name = f"fleet-{m:04d}"
        ids = wd.log_predictions(
            name,
            Xc,
            model.predict(Xc),
            scores=model.predict_proba(Xc)[:, 1],
            timestamps=ts,
            sensitive=pd.DataFrame({"sex": rng.choice(["f", "m"], n_rows)}),
        )
        labelled = n_rows // 5  # a fifth of the day's predictions get their ground truth
        truth = ((Xc["f0"] + Xc["f1"]).to_numpy()[:labelled] > 0).astype(int)
        wd.log_labels(name, ids[:labelled], truth.tolist())
        if m % 50 == 0:
            print(f"  seeded {m + 1}/{n_models} models", flush=True)
    return time.perf_counter() - started


def analyze(wd: Any) -> None:
    """Planner statistics for the seeded tables, as autovacuum gathers them after a load:
    without them (autovacuum off, a fresh schema) PostgreSQL guesses 4 rows per model and
    probes the labels' key once per prediction instead of hash-joining the model's labels
    (76 against 30 ms a window)."""
    from sqlalchemy import text

    with wd.db.engine.begin() as conn:
        conn.execute(text("ANALYZE predictions"))
        conn.execute(text("ANALYZE labels"))


def seeded(wd: Any, n_models: int, n_rows: int) -> bool:
    names = [m.name for m in wd.list_models()]
    if len(names) != n_models:
        return False
    last = wd.monitoring.traffic(names[-1])
    return sum(last.values()) == n_rows


@contextmanager
def counting(wd: Any) -> Iterator[list[str]]:
    """The SQL statements sent meanwhile (a fleet job's round trips, beside its checkouts)."""
    from sqlalchemy import event

    sent: list[str] = []

    def record(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        sent.append(statement)

    event.listen(wd.db.engine, "before_cursor_execute", record)
    try:
        yield sent
    finally:
        event.remove(wd.db.engine, "before_cursor_execute", record)


def naive(wd: Any, names: list[str]) -> float:
    """Today's path, per model: read every row and recompute every window (serial)."""
    started = time.perf_counter()
    for name in names:
        wd.monitoring.run(wd.serving_version(name), window="1d", store=False)
    return time.perf_counter() - started


def inventory_ms(wd: Any, repeat: int) -> tuple[float, int]:
    """Median time of ``GET /`` (the inventory) through uvicorn on loopback, signed in."""
    import socket

    import httpx
    import uvicorn

    from mlwarden.server import ServerSettings, create_app

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    app = create_app(ServerSettings(access_log=False, log_predictions=False), wd)
    server = uvicorn.Server(uvicorn.Config(app, port=port, log_level="warning", lifespan="on"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30) as client:
            for _ in range(200):
                try:
                    client.get("/readyz")
                    break
                except httpx.TransportError:
                    time.sleep(0.05)
            token = wd.create_token("carol").token
            assert client.post("/login", json={"token": token}).status_code == 200
            samples, size = [], 0
            for i in range(repeat + 2):
                started = time.perf_counter()
                r = client.get("/")
                elapsed = (time.perf_counter() - started) * 1000
                assert r.status_code == 200, r.text[:300]
                size = len(r.content)
                if i >= 2:  # warm-up: templates compiled, connections open
                    samples.append(elapsed)
    finally:
        server.should_exit = True
        thread.join(30)
    return statistics.median(samples), size


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="50 models x 2,000 rows")
    parser.add_argument("--reuse", action="store_true", help="keep a seeded store")
    parser.add_argument("--uri", default=PG, help="PostgreSQL (a schema is made in it)")
    parser.add_argument("--models", type=int, help="fleet size (default 500, --quick 50)")
    parser.add_argument("--rows", type=int, help="predictions per model (10,000; --quick 2,000)")
    parser.add_argument("--workers", type=int, default=2, help="workers of the fleet job")
    parser.add_argument(
        "--executor", default="thread", choices=("thread", "process"), help="the fleet job's"
    )
    parser.add_argument("--dask", default="1,2", help="Dask LocalCluster sizes ('' for none)")
    parser.add_argument("--sample", type=int, default=10, help="models the naive peer runs")
    parser.add_argument("--repeat", type=int, default=9, help="inventory requests")
    args = parser.parse_args()
    n_models, n_rows = (50, 2000) if args.quick else (500, 10_000)
    n_models, n_rows = args.models or n_models, args.rows or n_rows
    schema = f"bench_fleet_{n_models}x{n_rows}"
    uri = schema_uri(args.uri, schema, fresh=not args.reuse)
    artifacts = Path("/tmp") / f"mlwarden-{schema}"
    wd = mw.Warden(uri, artifacts=str(artifacts), actor="alice")
    if not args.reuse or not seeded(wd, n_models, n_rows):
        if args.reuse:
            wd.close()
            uri = schema_uri(args.uri, schema, fresh=True)
            wd = mw.Warden(uri, artifacts=str(artifacts), actor="alice")
        wd.create_user("alice", "admin")
        wd.create_user("carol", "validator")
        print(f"seeding {n_models} models x {n_rows} rows into schema {schema} ...", flush=True)
        print(f"seeded in {seed(wd, n_models, n_rows):.1f} s", flush=True)
    analyze(wd)
    names = [m.name for m in wd.list_models()]
    sample = names[: max(1, min(args.sample, n_models))]

    naive_s = naive(wd, sample) / len(sample) * n_models
    print(f"naive, extrapolated: {naive_s:.1f} s", flush=True)
    # since= the logged day: every window is evaluated again, as on a first run
    with counting(wd) as cold_statements:
        cold = wd.monitor_fleet(
            window="1d", since=DAY, executor=args.executor, workers=args.workers
        )
    assert not cold.errors, cold.errors
    print(f"fleet job: {cold.seconds:.1f} s ({len(cold_statements)} statements)", flush=True)
    with counting(wd) as warm_statements:
        warm = wd.monitor_fleet(window="1d", executor=args.executor, workers=args.workers)
    print(f"fleet job again: {warm.seconds:.1f} s ({len(warm_statements)} statements)", flush=True)
    started = time.perf_counter()
    for name in names:  # the week from the stored daily profiles: no raw row read
        wd.monitor_rollup(name, source="1d", window="7d")
    rollup_s = time.perf_counter() - started
    print(f"7d roll-up: {rollup_s:.1f} s", flush=True)
    inv_ms, inv_bytes = inventory_ms(wd, args.repeat)
    print(f"inventory: {inv_ms:.1f} ms", flush=True)
    dask: dict[str, float] = {}
    for n in [int(x) for x in args.dask.split(",") if x.strip()]:
        job = wd.monitor_fleet(window="1d", since=DAY, executor="dask", workers=n)
        assert not job.errors, job.errors
        dask[str(n)] = round(job.seconds, 2)
        print(f"dask {n} workers: {job.seconds:.1f} s", flush=True)
    wd.close()
    # speed-up against the smallest cluster measured in this run (1 worker by default)
    base = dask[min(dask, key=int)] if dask else None
    speedup = {n: round(base / s, 2) for n, s in dask.items()} if base else {}

    size = f"{n_models} models x {n_rows:,} rows"
    print(f"\nfleet of {size} on PostgreSQL ({cold.rows:,} rows evaluated)")
    print(f"  naive per model, extrapolated from {len(sample)}: {naive_s:8.1f} s")
    print(
        f"  fleet job, {args.workers} {args.executor} workers, every window new: "
        f"{cold.seconds:8.1f} s"
    )
    print(f"  fleet job again (final windows kept):     {warm.seconds:8.1f} s")
    print(
        f"  SQL statements per model: {len(cold_statements) / n_models:.2f} "
        f"(again: {len(warm_statements) / n_models:.2f})"
    )
    print(f"  7d roll-up from stored profiles, all:     {rollup_s:8.1f} s")
    for n, s in dask.items():
        print(f"  Dask LocalCluster, {n} worker(s):           {s:8.1f} s ({speedup[n]}x)")
    print(f"  dashboard inventory (GET /, {inv_bytes:,} bytes): {inv_ms:.1f} ms")
    print(f"  drifted models: {len(cold.drifted)}")
    emit(
        {
            "bench": "fleet",
            "size": size,
            "warden_s": round(cold.seconds, 2),
            "statements_per_model": round(len(cold_statements) / n_models, 2),
            "repeat_statements_per_model": round(len(warm_statements) / n_models, 2),
            "peer": "per-model monitor run (extrapolated)",
            "peer_s": round(naive_s, 2),
            "ratio": round(naive_s / cold.seconds, 2),
            "repeat_s": round(warm.seconds, 2),
            "repeat_ratio": round(naive_s / max(warm.seconds, 1e-9), 1),
            "rollup_7d_s": round(rollup_s, 2),
            "dask_s_by_workers": dask,
            "dask_speedup": speedup,
            "inventory_ms": round(inv_ms, 1),
            "executor": args.executor,
            "workers": args.workers,
        }
    )


if __name__ == "__main__":
    main()
