"""Serving one LightGBM model: `mlflow models serve` against `mlwarden serve`.

The same booster (Adult, categorical columns as integer codes, so both servers take the same
JSON) is served by MLflow (its own venv, `--env-manager local`) and by Warden with every
prediction validated, logged with sync durability (answered only once committed) and audited;
then with async durability (answered before the commit), then with logging off; last, a bare
ASGI app on the same uvicorn (the floor of any Python server here). Load comes
from wrk (a second process on loopback, a Lua script for the POST body), or from an httpx async
generator when wrk is missing. One row per request, 2 and 16 connections, 20 s each (5 s with
--quick).

    python bench/serve.py [--quick] [--skip-mlflow] [--workers 2 [--postgres URL]]

With ``--workers N`` both servers run N worker processes (``mlflow models serve --workers N``,
``mlwarden serve --workers N``), unpinned: on a two-core machine they share both cores with
wrk. ``--postgres URL`` puts Warden's store in a fresh database on that server (dropped after).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import PEER_VENVS, ROOT, emit, peer_python

CONNECTIONS = (2, 16)

# Each server is one Python process (one worker): it runs on CPU 0 and the load generator on
# CPU 1, for MLflow and Warden alike, so neither competes with wrk or migrates between cores
# (unpinned, both lose a quarter of their throughput here and the runs are noisier).
PINNED = hasattr(os, "sched_setaffinity") and len(os.sched_getaffinity(0)) >= 2
SERVER_CPUS, LOAD_CPUS = ({0}, {1}) if PINNED else (None, None)
#: the server processes of each peer (``--workers``) and Warden's store (``--postgres``)
WORKERS = 1
STORE_URI = ""


def pinned(cpus: set[int] | None):  # type: ignore[no-untyped-def]
    """A ``preexec_fn`` that keeps the child (and what it starts) on ``cpus``."""
    return None if cpus is None else (lambda: os.sched_setaffinity(0, cpus))


def prepare(tmp: Path) -> tuple[Any, list[dict[str, Any]], Path]:
    """The model (categories as integer codes), a request row and the booster's text file."""
    import lightgbm as lgb

    import mlwarden as mw

    train, _ = mw.datasets.load_adult()
    X = train.drop(columns="income")
    cats = [c for c in X.columns if str(X[c].dtype) == "category"]
    for c in cats:
        X[c] = X[c].cat.codes.astype("int64")
    model = lgb.LGBMClassifier(n_estimators=100, verbose=-1, random_state=0)
    model.fit(X, train["income"], categorical_feature=cats)
    path = tmp / "model.txt"
    model.booster_.save_model(str(path))
    row = {k: int(v) for k, v in X.iloc[7].items()}
    return (model, X, train["income"]), [row], path


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_up(url: str, proc: subprocess.Popen, log: Path, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited:\n{log.read_text()[-3000:]}")
        try:
            httpx.get(url, timeout=1)
            return
        except httpx.TransportError:
            time.sleep(0.2)
    stop(proc)  # not left running (with its workers) behind the error
    raise RuntimeError(f"server at {url} did not start:\n{log.read_text()[-3000:]}")


def start_mlflow(tmp: Path, booster: Path, port: int) -> subprocess.Popen | None:
    python = peer_python("mlflow")
    if python is None:
        print(f"peer mlflow unavailable: build it with `make bench` ({PEER_VENVS / 'mlflow'})")
        return None
    out = tmp / "mlflow-model"
    subprocess.run(
        [str(python), str(ROOT / "bench" / "peers" / "mlflow_serve_model.py"), str(booster),
         str(out)],
        check=True, capture_output=True, text=True,
    )  # fmt: skip
    env = {
        **os.environ,
        "MLFLOW_DISABLE_TELEMETRY": "true",
        "DO_NOT_TRACK": "1",
        # mlflow starts uvicorn through bash: its venv's bin must come first on PATH
        "PATH": f"{python.parent}:{os.environ.get('PATH', '')}",
    }
    log = tmp / "mlflow.log"
    with log.open("ab") as fh:
        proc = subprocess.Popen(
            [str(python.parent / "mlflow"), "models", "serve", "-m", str(out), "-h",
             "127.0.0.1", "-p", str(port), "--env-manager", "local", "--workers", str(WORKERS)],
            env=env, stdout=fh, stderr=subprocess.STDOUT, preexec_fn=pinned(SERVER_CPUS),
        )  # fmt: skip
    wait_up(f"http://127.0.0.1:{port}/ping", proc, log)
    return proc


def start_warden(
    tmp: Path, port: int, *, log_predictions: bool, durability: str = "sync"
) -> subprocess.Popen:
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT / "src"),
        "MLWARDEN_URI": STORE_URI,
        "MLWARDEN_ARTIFACTS": str(tmp / "warden" / "artifacts"),
        "MLWARDEN_SERVE_WORKERS": str(WORKERS),
        "MLWARDEN_SERVE_PORT": str(port),
        "MLWARDEN_SERVE_DURABILITY": durability,
        "MLWARDEN_SERVE_LOG_PREDICTIONS": str(log_predictions).lower(),
        "MLWARDEN_SERVE_ACCESS_LOG": "false",
    }
    log = tmp / f"warden-{port}.log"
    with log.open("ab") as fh:
        proc = subprocess.Popen(
            [sys.executable, "-m", "mlwarden.server"], env=env, stdout=fh,
            stderr=subprocess.STDOUT, preexec_fn=pinned(SERVER_CPUS),
        )  # fmt: skip
    wait_up(f"http://127.0.0.1:{port}/healthz", proc, log)
    return proc


def start_floor(tmp: Path, port: int) -> subprocess.Popen:
    """``peers/bare_asgi.py`` on this venv's uvicorn: the most any one-worker Python server
    can answer here."""
    log = tmp / "floor.log"
    with log.open("ab") as fh:
        proc = subprocess.Popen(
            [sys.executable, "-m", "uvicorn", "--app-dir", str(ROOT / "bench" / "peers"),
             "bare_asgi:app", "--port", str(port), "--no-access-log", "--lifespan", "off"],
            stdout=fh, stderr=subprocess.STDOUT, preexec_fn=pinned(SERVER_CPUS),
        )  # fmt: skip
    wait_up(f"http://127.0.0.1:{port}/", proc, log)
    return proc


def register(tmp: Path, model: Any, X: Any, y: Any) -> str:
    import mlwarden as mw

    wd = mw.Warden(STORE_URI, artifacts=str(tmp / "warden" / "artifacts"), actor="bench")
    wd.create_user("bench", "admin")
    token = wd.create_token("bench").token
    wd.register_model("adult", model, train=mw.Dataset(X.head(5000), y.head(5000)))
    wd.set_alias("adult", "production", 1, override=True, reason="bench setup")
    wd.close()
    return token


# --------------------------------------------------------------------------- load


def _ms(text: str) -> float:
    value, unit = re.match(r"([\d.]+)(us|ms|s|m)", text).groups()  # type: ignore[union-attr]
    return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60000.0}[unit]


def wrk_load(url: str, body: str, headers: dict[str, str], conns: int, seconds: int, tmp: Path):  # type: ignore[no-untyped-def]
    script = tmp / "post.lua"
    lines = ['wrk.method = "POST"', f"wrk.body = [==[{body}]==]"]
    lines += [f'wrk.headers["{k}"] = "{v}"' for k, v in headers.items()]
    script.write_text("\n".join(lines) + "\n")
    out = subprocess.run(
        ["wrk", "-t", str(min(conns, 2)), "-c", str(conns), "-d", f"{seconds}s", "--latency",
         "-s", str(script), url],
        capture_output=True, text=True, check=True, preexec_fn=pinned(LOAD_CPUS),
    ).stdout  # fmt: skip
    pct = dict(re.findall(r"^\s+(50|99)%\s+(\S+)", out, re.M))
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    sock = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    errors = (int(non2xx.group(1)) if non2xx else 0) + (
        sum(int(g) for g in sock.groups()) if sock else 0
    )
    return {
        "rps": float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1)),  # type: ignore[union-attr]
        "p50_ms": _ms(pct["50"]),
        "p99_ms": _ms(pct["99"]),
        "errors": errors,
    }


def httpx_load(url: str, body: str, headers: dict[str, str], conns: int, seconds: int, tmp: Path):  # type: ignore[no-untyped-def]
    """Fallback load generator: ``conns`` keep-alive connections, one request in flight each.
    It runs in this process, which is not the server's."""

    async def run() -> tuple[list[float], int]:
        lat: list[float] = []
        errors = 0
        limits = httpx.Limits(max_connections=conns)
        async with httpx.AsyncClient(limits=limits, headers={**headers}, timeout=10) as client:
            stop = time.monotonic() + seconds

            async def worker() -> None:
                nonlocal errors
                while time.monotonic() < stop:
                    t = time.perf_counter()
                    r = await client.post(url, content=body)
                    lat.append((time.perf_counter() - t) * 1000)
                    errors += r.status_code != 200

            await asyncio.gather(*(worker() for _ in range(conns)))
        return lat, errors

    lat, errors = asyncio.run(run())
    q = statistics.quantiles(lat, n=100)
    return {"rps": len(lat) / seconds, "p50_ms": q[49], "p99_ms": q[98], "errors": errors}


def measure(name: str, url: str, body: str, headers: dict[str, str], seconds: int, tmp: Path,
            load) -> dict[str, Any]:  # type: ignore[no-untyped-def]  # fmt: skip
    for _ in range(50):  # warm up: model load, caches, first commits
        httpx.post(url, content=body, headers=headers, timeout=30).raise_for_status()
    results = {}
    for conns in CONNECTIONS:
        results[f"c{conns}"] = r = load(url, body, headers, conns, seconds, tmp)
        print(f"  {name:<22} {conns:>3} conns: {r['rps']:8.0f} req/s  p50 {r['p50_ms']:7.2f} ms"
              f"  p99 {r['p99_ms']:7.2f} ms  errors {r['errors']}", flush=True)  # fmt: skip
    return results


def durable_write_ms(folder: Path, n: int = 300) -> float:
    """Median time of the cheapest durable write on ``folder``'s disk: 4 KiB overwritten in
    place, then ``fdatasync`` (no metadata to flush). A sync-durable server pays at least this
    before each answer."""
    path = folder / "fsync.probe"
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        os.pwrite(fd, b"\0" * 4096, 0)
        os.fsync(fd)
        times = []
        for i in range(n):
            os.pwrite(fd, bytes([i % 256]) * 4096, 0)
            start = time.perf_counter()
            os.fdatasync(fd)
            times.append(time.perf_counter() - start)
    finally:
        os.close(fd)
        path.unlink()
    return statistics.median(times) * 1000


def stop(proc: subprocess.Popen | None) -> None:
    if proc is not None and proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="5 s per run instead of 20 s")
    ap.add_argument("--skip-mlflow", action="store_true")
    ap.add_argument("--workers", type=int, default=1, help="server processes of each peer")
    ap.add_argument("--postgres", metavar="URL", help="Warden's store on this PostgreSQL server")
    args = ap.parse_args()
    seconds = 5 if args.quick else 20
    global WORKERS, STORE_URI, SERVER_CPUS, LOAD_CPUS, PINNED
    WORKERS = args.workers
    if WORKERS > 1:  # the workers spread over every core; so does wrk
        SERVER_CPUS, LOAD_CPUS, PINNED = None, None, False
    tmp = Path(tempfile.mkdtemp(prefix="bench-serve-"))
    STORE_URI = f"sqlite:///{tmp / 'warden' / 'warden.db'}"
    if args.postgres:
        STORE_URI = fresh_database(args.postgres)
    try:
        run(args, tmp, seconds)
    finally:
        if args.postgres:
            drop_database(args.postgres, STORE_URI)
        shutil.rmtree(tmp, ignore_errors=True)


def _admin(server_url: str):  # type: ignore[no-untyped-def]
    import sqlalchemy as sa

    url = sa.make_url(server_url).set(drivername="postgresql+psycopg")
    return sa.create_engine(url, isolation_level="AUTOCOMMIT")


def fresh_database(server_url: str) -> str:
    import sqlalchemy as sa

    name = f"bench_serve_{os.getpid()}"
    engine = _admin(server_url)
    with engine.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    engine.dispose()
    return str(sa.make_url(server_url).set(database=name).render_as_string(hide_password=False))


def drop_database(server_url: str, url: str) -> None:
    import sqlalchemy as sa

    engine = _admin(server_url)
    with engine.connect() as conn:
        conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{sa.make_url(url).database}" WITH (FORCE)'))
    engine.dispose()


def run(args: argparse.Namespace, tmp: Path, seconds: int) -> None:
    load = wrk_load if shutil.which("wrk") else httpx_load
    generator = "wrk" if load is wrk_load else "httpx-async"
    (model, X, y), rows, booster = prepare(tmp)
    token = register(tmp, model, X, y)
    print(f"load generator: {generator}; {seconds} s per run; one row per request; "
          + ("servers on CPU 0, load on CPU 1" if PINNED else "not pinned"))  # fmt: skip
    results: dict[str, Any] = {}
    json_headers = {"Content-Type": "application/json"}

    mlflow_proc = None
    if not args.skip_mlflow:
        port = free_port()
        mlflow_proc = start_mlflow(tmp, booster, port)
        if mlflow_proc is not None:
            try:
                url = f"http://127.0.0.1:{port}/invocations"
                body = json.dumps({"dataframe_records": rows})
                check = httpx.post(url, content=body, headers=json_headers, timeout=30).json()
                expected = float(model.predict_proba(X.iloc[[7]])[0, 1])
                assert abs(check["predictions"][0] - expected) < 1e-9, check
                results["mlflow"] = measure("mlflow models serve", url, body, json_headers,
                                            seconds, tmp, load)  # fmt: skip
            finally:
                stop(mlflow_proc)

    auth = {**json_headers, "Authorization": f"Bearer {token}"}
    body = json.dumps({"records": rows})
    runs = (
        ("warden_sync", "mlwarden (sync log)", True, "sync"),
        ("warden_async", "mlwarden (async log)", True, "async"),
        ("warden_nolog", "mlwarden (no log)", False, "sync"),
    )
    for key, label, logging, durability in runs:
        port = free_port()
        proc = start_warden(tmp, port, log_predictions=logging, durability=durability)
        try:
            url = f"http://127.0.0.1:{port}/v1/models/adult/predict"
            check = httpx.post(url, content=body, headers=auth, timeout=30).json()
            assert abs(check["scores"][0] - model.predict_proba(X.iloc[[7]])[0, 1]) < 1e-9
            assert check["logged"] is (logging and durability == "sync")
            results[key] = measure(label, url, body, auth, seconds, tmp, load)
        finally:
            stop(proc)

    port = free_port()
    proc = start_floor(tmp, port)
    try:
        results["asgi_floor"] = measure("bare ASGI (floor)", f"http://127.0.0.1:{port}/", body,
                                        json_headers, seconds, tmp, load)  # fmt: skip
    finally:
        stop(proc)

    import mlwarden as mw

    wd = mw.Warden(STORE_URI, artifacts=str(tmp / "warden" / "artifacts"), actor="bench")
    logged = len(wd.predictions("adult"))
    verified = wd.audit.verify().ok
    wd.close()

    print(f"\n{'server':<16}{'conns':>6}{'req/s':>10}{'p50 ms':>10}{'p99 ms':>10}")
    for key, res in results.items():
        for c, r in res.items():
            print(f"{key:<16}{c[1:]:>6}{r['rps']:>10.0f}{r['p50_ms']:>10.2f}{r['p99_ms']:>10.2f}")
    record: dict[str, Any] = {
        "bench": "serve",
        "model": "lightgbm adult 100 trees",
        "seconds": seconds,
        "load": generator,
        "pinned": PINNED,
        "workers": WORKERS,
        "store": STORE_URI.split(":", 1)[0],
        "peer": "mlflow models serve",
        **{k: v for k, v in results.items()},
        "logged_rows": logged,
        "audit_verified": verified,
    }
    floor = results["asgi_floor"]
    record["floor_share_nolog_c16"] = round(
        results["warden_nolog"]["c16"]["rps"] / floor["c16"]["rps"], 2
    )
    if "mlflow" in results:
        m, w = results["mlflow"], results["warden_sync"]
        record["floor_over_mlflow_c2"] = round(floor["c2"]["rps"] / m["c2"]["rps"], 1)
        record["floor_over_mlflow_c16"] = round(floor["c16"]["rps"] / m["c16"]["rps"], 1)
        record["rps_ratio_c2"] = round(w["c2"]["rps"] / m["c2"]["rps"], 1)
        record["rps_ratio_c16"] = round(w["c16"]["rps"] / m["c16"]["rps"], 1)
        record["p99_ratio_c16"] = round(w["c16"]["p99_ms"] / m["c16"]["p99_ms"], 3)
        print(
            f"\nwarden (sync log) / mlflow: {record['rps_ratio_c2']}x req/s at 2 conns, "
            f"{record['rps_ratio_c16']}x at 16; p99 at 16 conns {record['p99_ratio_c16']} of "
            "mlflow's"
        )
        print(
            f"a bare ASGI app on the same uvicorn answers {record['floor_over_mlflow_c2']}x / "
            f"{record['floor_over_mlflow_c16']}x mlflow's req/s (the ceiling of a one-worker "
            "Python server here)"
        )
        # At 2 connections each connection waits for its answer: req/s = 2 / cycle time. 10x
        # MLflow needs a cycle of 2 / (10 x its req/s); HTTP alone (the bare app's p50) and
        # one durable write already take part of it, the rest is all the server may spend.
        budget = 2 / (10 * m["c2"]["rps"]) * 1000
        record["durable_write_ms"] = round(durable_write_ms(tmp), 3)
        record["c2_budget_for_10x_ms"] = round(budget, 3)
        left = budget - floor["c2"]["p50_ms"] - record["durable_write_ms"]
        print(
            f"10x mlflow at 2 conns needs a request cycle of {budget:.3f} ms: HTTP alone (bare "
            f"ASGI p50) {floor['c2']['p50_ms']:.3f} ms and one durable write (fdatasync p50) "
            f"{record['durable_write_ms']:.3f} ms leave {left:.3f} ms for parsing, auth, "
            f"validation, prediction and logging; warden without logging takes "
            f"{results['warden_nolog']['c2']['p50_ms']:.3f} ms (p50)"
        )
    emit(record)


if __name__ == "__main__":
    main()
