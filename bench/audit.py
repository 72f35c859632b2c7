"""Audit log benchmark: batched appends, verification (online and offline), proofs at 1M events.

    python bench/audit.py [--quick] [--backend memory|sqlite|postgresql|all]

``postgresql`` needs ``MLWARDEN_BENCH_POSTGRES_URL`` (or ``MLWARDEN_TEST_POSTGRES_URL``); each
run gets fresh schemas, dropped afterwards.

The peer is what teams often build instead: a hash chain (each row stores
``SHA256(prev_hash || canonical_json(row))``). It verifies, but cannot prove one event without
replaying the chain, so its "proof" time is a full replay up to the event.

Backends register in ``BACKENDS`` as factories ``(workdir: Path) -> AuditBackend``.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import random
import resource
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from mlwarden.audit import AuditBackend, AuditLog, MemoryAuditBackend, Signer, verify_export
from mlwarden.entities.audit import canonical_json

BackendFactory = Callable[[Path], AuditBackend]
PG_URL = os.environ.get("MLWARDEN_BENCH_POSTGRES_URL") or os.environ.get(
    "MLWARDEN_TEST_POSTGRES_URL"
)
_pg_schemas: list[str] = []
GOAL_APPEND_PER_S = 20_000  # issue 17, goal 5: batched appends on each database
GOAL_VERIFY_PER_S = 200_000  # issue 17, goal 5: events verified online on each database


def _sqlite(workdir: Path) -> AuditBackend:
    from mlwarden.store.sql.audit import SqlAuditBackend
    from mlwarden.store.sql.database import Database

    return SqlAuditBackend(Database(f"sqlite:///{workdir / 'audit.db'}"))


def _postgresql(_workdir: Path) -> AuditBackend:
    import psycopg

    from mlwarden.store.sql.audit import SqlAuditBackend
    from mlwarden.store.sql.database import Database

    if not PG_URL:
        raise SystemExit("set MLWARDEN_BENCH_POSTGRES_URL=postgresql://… for --backend postgresql")
    schema = f"bench_audit_{os.getpid()}_{len(_pg_schemas)}"
    with psycopg.connect(PG_URL, autocommit=True) as conn:
        conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
        conn.execute(f'CREATE SCHEMA "{schema}"')
    _pg_schemas.append(schema)
    sep = "&" if "?" in PG_URL else "?"
    return SqlAuditBackend(Database(f"{PG_URL}{sep}options=-csearch_path%3D{schema}"))


def _drop_pg_schemas() -> None:
    if not _pg_schemas:
        return
    import psycopg

    with psycopg.connect(PG_URL, autocommit=True) as conn:  # type: ignore[arg-type]
        for schema in _pg_schemas:
            conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
    _pg_schemas.clear()


BACKENDS: dict[str, BackendFactory] = {
    "memory": lambda _workdir: MemoryAuditBackend(),
    "sqlite": _sqlite,
    "postgresql": _postgresql,
}


def _entries(start: int, n: int) -> list[tuple[str, str, str, dict[str, object]]]:
    return [
        (
            "svc-gateway",
            "prediction.logged",
            f"prediction:{i:012d}",
            {"model": "credit-risk", "version": 3, "score": round((i % 997) / 997, 4), "ok": True},
        )
        for i in range(start, start + n)
    ]


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def hash_chain(n: int, batch: int) -> dict[str, float]:
    """The peer: a per-row hash chain, appended and verified in the same process."""
    rows: list[tuple[str, str]] = []
    prev = "0" * 64
    t0 = time.perf_counter()
    for start in range(0, n, batch):
        for actor, action, subject, payload in _entries(start, min(batch, n - start)):
            text = canonical_json([actor, action, subject, payload])
            prev = hashlib.sha256((prev + text).encode()).hexdigest()
            rows.append((text, prev))
    append_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    prev = "0" * 64
    for text, h in rows:
        prev = hashlib.sha256((prev + text).encode()).hexdigest()
        if prev != h:
            raise AssertionError
    verify_s = time.perf_counter() - t0
    return {"append_s": append_s, "verify_s": verify_s, "replay_us_per_event": verify_s / n * 1e6}


def hash_floor(log: AuditLog, n: int) -> float:
    """Seconds for raw SHA-256 over the exact bytes verification must hash for ``n`` events:
    each leaf encoding, each salted payload, and one 65-byte node input per event."""
    from mlwarden.entities.audit import event_leaf_bytes

    leaves, payloads = [], []
    for e in log.backend.read(1, n):
        leaves.append(b"\x00" + event_leaf_bytes(e))
        payloads.append(bytes.fromhex(e.salt or "") + (e.payload_json or "").encode())
    nodes = [b"\x01" + bytes(64)] * n
    sha = hashlib.sha256
    t0 = time.perf_counter()
    for group in (leaves, payloads, nodes):
        for data in group:
            sha(data).digest()
    return time.perf_counter() - t0


def sql_floors(log: AuditLog, target: AuditBackend, n: int, batch: int) -> dict[str, float]:
    """What the database alone costs for the same rows, through the same driver:

    * write: the stored events (with their recorded leaves), upper tree nodes and
      checkpoints of the first ``n`` events inserted into a fresh store, one transaction per
      batch (``COPY`` on PostgreSQL, ``executemany`` on SQLite), nothing computed;
    * read: the same event rows fetched back page by page, nothing checked.
    """
    from mlwarden.store.sql.audit import _PAGE, SqlAuditBackend

    src = log.backend
    assert isinstance(src, SqlAuditBackend) and isinstance(target, SqlAuditBackend)
    events = [tuple(r[:9]) for r in src.records()][:n]
    per_batch: dict[int, list[tuple[int, int, bytes]]] = {}
    for level, idx, h in src._fetch("SELECT level, idx, hash FROM audit_nodes"):
        last_leaf = ((idx + 1) << level) - 1  # the leaf whose append completed this node
        if last_leaf < n:
            per_batch.setdefault(last_leaf // batch, []).append((level, idx, bytes(h)))
    cps = {c.tree_size: c for c in src.checkpoints()}
    raw = target.db.engine.raw_connection()
    conn = raw.driver_connection
    sqlite = target.db.is_sqlite
    p = "?" if sqlite else "%s"
    cols = "seq, time, actor, action, subject, payload_digest, payload, salt, leaf"
    t0 = time.perf_counter()
    try:
        for b, start in enumerate(range(0, n, batch)):
            rows = events[start : start + batch]
            nodes = per_batch.get(b, [])
            cp = cps[start + len(rows)]
            cur = conn.cursor()
            if sqlite:
                cur.execute("BEGIN IMMEDIATE")
                cur.executemany(
                    f"INSERT INTO audit_events ({cols}) VALUES ({', '.join('?' * 9)})", rows
                )
                cur.executemany(
                    "INSERT INTO audit_nodes (level, idx, hash) VALUES (?, ?, ?)", nodes
                )
            else:
                with cur.copy(f"COPY audit_events ({cols}) FROM STDIN") as copy:
                    for row in rows:
                        copy.write_row(row)
                with cur.copy("COPY audit_nodes (level, idx, hash) FROM STDIN") as copy:
                    for node in nodes:
                        copy.write_row(node)
            cur.execute(
                "INSERT INTO audit_checkpoints (tree_size, root_hash, time, key_id, signature) "
                f"VALUES ({p}, {p}, {p}, {p}, {p})",
                (cp.tree_size, cp.root_hash, cp.time, cp.key_id, cp.signature),
            )
            cur.close()
            conn.commit()
        write_s = time.perf_counter() - t0
    finally:
        raw.close()
    # what the store's verifier reads: one range scan per page
    queries = [f"SELECT {cols} FROM audit_events WHERE seq >= {p} AND seq <= {p} ORDER BY seq"]
    t0 = time.perf_counter()
    for start in range(1, n + 1, _PAGE):
        for sql in queries:
            target._fetch(sql, (start, min(start + _PAGE - 1, n)), binary=True)
    return {"write_s": write_s, "read_s": time.perf_counter() - t0}


def _proc_cpu_s(pid: int) -> float | None:
    """User + system CPU seconds of process ``pid`` (Linux ``/proc``), else ``None``."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def cpu_split(log: AuditLog, rounds: int = 3) -> dict[str, float]:
    """Where one verification's CPU goes, per event (best of ``rounds``): the page reads into
    Python rows, ``verify.scan`` over those rows in memory, and the database server's own CPU
    for the reads (PostgreSQL's backend process, from ``/proc``)."""
    from mlwarden.audit.verify import ScanState, scan
    from mlwarden.store.sql.audit import SqlAuditBackend

    backend = log.backend
    assert isinstance(backend, SqlAuditBackend)
    source = backend.record_source()
    assert source is not None
    server_pid = None
    if source.sqlite_path is not None:
        read, close = source.open()
    else:  # what RecordSource.open does, on a connection whose server process we know
        import psycopg

        from mlwarden.store.sql.audit_pages import record_page_sql

        conn = psycopg.connect(**dict(source.pg_params), autocommit=True)
        server_pid = conn.execute("SELECT pg_backend_pid()").fetchone()[0]  # type: ignore[index]
        sql = record_page_sql("%s")

        def read(start: int, stop: int) -> list[Any]:
            with conn.cursor(binary=True) as cur:
                cur.execute(sql, (start, stop))
                return cur.fetchall()

        close = conn.close
    pages = backend.record_pages()
    n = pages[-1][1]
    best = {"read_us": 1e9, "scan_us": 1e9, "server_us": 1e9}
    try:
        for _ in range(rounds):
            s0 = _proc_cpu_s(server_pid) if server_pid else None
            t0 = time.process_time()
            records = [r for a, b in pages for r in read(a, b)]
            read_s = time.process_time() - t0
            s1 = _proc_cpu_s(server_pid) if server_pid else None
            t0 = time.process_time()
            st = ScanState()
            assert scan(iter(records), st, -1) is None and st.size == n
            scan_s = time.process_time() - t0
            best["read_us"] = min(best["read_us"], read_s / n * 1e6)
            best["scan_us"] = min(best["scan_us"], scan_s / n * 1e6)
            if s0 is not None and s1 is not None:
                best["server_us"] = min(best["server_us"], (s1 - s0) / n * 1e6)
    finally:
        close()
    if best["server_us"] == 1e9:
        del best["server_us"]
    return best


def _log(backend: AuditBackend, signer: Signer) -> AuditLog:
    """What ``Warden.audit`` is: the SQL store's log reads verifier records in one query."""
    from mlwarden.audit.sql_log import SqlAuditLog
    from mlwarden.store.sql.audit import SqlAuditBackend

    return (SqlAuditLog if isinstance(backend, SqlAuditBackend) else AuditLog)(backend, signer)


def run(
    factory: BackendFactory, n: int, batch: int, proof_size: int, workdir: Path
) -> dict[str, float]:
    log = _log(factory(workdir), Signer.generate())
    t0 = time.perf_counter()
    for start in range(0, n, batch):
        log.append_many(_entries(start, min(batch, n - start)))
    append_s = time.perf_counter() - t0

    # One call per event (registry style): one signature per event, and one to check.
    single = min(2000, n)
    (workdir / "single").mkdir()
    assert log.signer is not None
    one_by_one = _log(factory(workdir / "single"), log.signer)
    t0 = time.perf_counter()
    for actor, action, subject, payload in _entries(0, single):
        one_by_one.append(actor, action, subject, payload)
    single_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    assert one_by_one.verify().ok
    single_verify_s = time.perf_counter() - t0

    # Online verification: on a SQL store of >= 100k events in parallel (one process a CPU);
    # and the same log in one scan (one process). Alternated, twice each, best of each: the
    # first read after the appends (cold caches, PostgreSQL's autovacuum) favours neither.
    one_scan = _log(log.backend, log.signer)
    if hasattr(one_scan, "verify_workers"):
        one_scan.verify_workers = 1
    verify_s = verify_one_scan_s = float("inf")
    for _ in range(2):
        t0 = time.perf_counter()
        online = log.verify()
        verify_s = min(verify_s, time.perf_counter() - t0)
        assert online.ok and online.events_checked == n, online
        t0 = time.perf_counter()
        assert one_scan.verify() == online
        verify_one_scan_s = min(verify_one_scan_s, time.perf_counter() - t0)
    parallel = n >= getattr(log, "parallel_min", n + 1) and log.backend.record_source()  # type: ignore[attr-defined]

    path = workdir / "audit-export.jsonl"
    t0 = time.perf_counter()
    log.export(path)
    export_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    offline = verify_export(path, log.public_key)
    verify_export_s = time.perf_counter() - t0
    assert offline.ok and offline.events_checked == n, offline

    floors = {"sha256_s": hash_floor(log, n)}
    cpu: dict[str, float] = {}
    if not isinstance(log.backend, MemoryAuditBackend):
        (workdir / "floor").mkdir()
        floors |= sql_floors(log, factory(workdir / "floor"), n, batch)
        cpu = cpu_split(log)

    # Grow to proof_size events, then time proofs at random seqs against the latest checkpoint.
    t0 = time.perf_counter()
    big = 10_000
    for start in range(n, proof_size, big):
        log.append_many(_entries(start, min(big, proof_size - start)))
    grow_s = time.perf_counter() - t0
    cp = log.checkpoint()
    rng = random.Random(7)
    seqs = [rng.randint(1, cp.tree_size) for _ in range(2000)]
    times = []
    for seq in seqs:
        t = time.perf_counter()
        proof = log.prove(seq)
        times.append(time.perf_counter() - t)
    assert all(log.prove(s).verify(cp) for s in seqs[:200])
    t0 = time.perf_counter()
    for s in seqs[:200]:
        log.prove(s).verify(cp)
    prove_verify_ms = (time.perf_counter() - t0) / 200 * 1e3
    t0 = time.perf_counter()
    for old in (1, 1000, cp.tree_size // 3, cp.tree_size - 1):
        assert log.consistency(old).verify()
    consistency_ms = (time.perf_counter() - t0) / 4 * 1e3
    return {
        "append_s": append_s,
        "single_per_s": single / single_s,
        "single_verify_per_s": single / single_verify_s,
        "verify_s": verify_s,
        "verify_one_scan_s": verify_one_scan_s,
        "verify_processes": (getattr(log, "verify_workers", None) or os.cpu_count() or 1)
        if parallel
        else 1,
        "export_s": export_s,
        "verify_export_s": verify_export_s,
        "grow_s": grow_s,
        "proof_ms_median": statistics.median(times) * 1e3,
        "proof_ms_p99": sorted(times)[int(len(times) * 0.99)] * 1e3,
        "proof_and_verify_ms": prove_verify_ms,
        "consistency_ms": consistency_ms,
        "path_len": len(proof.path),
        "checkpoints": len(log.backend.checkpoints()),
        **{f"floor_{k}": v for k, v in floors.items()},
        **{f"cpu_{k}": v for k, v in cpu.items()},
    }


def report(backend: str, w: dict[str, float], n: int, batch: int, proof_size: int) -> dict:  # type: ignore[type-arg]
    peer = hash_chain(n, batch)
    warden_s = w["append_s"] + w["verify_s"]
    rows = [
        (f"append (batches of {batch})", n / w["append_s"], n / peer["append_s"], "ev/s"),
        ("verify, online", n / w["verify_s"], n / peer["verify_s"], "ev/s"),
        ("verify, online, one scan", n / w["verify_one_scan_s"], None, "ev/s"),
        ("verify export file, offline", n / w["verify_export_s"], None, "ev/s"),
        ("export", n / w["export_s"], None, "ev/s"),
        ("append, one call per event", w["single_per_s"], None, "ev/s"),
        ("verify that (1 checkpoint per event)", w["single_verify_per_s"], None, "ev/s"),
    ]
    print(f"\naudit log, backend={backend}, {n:,} events; proofs at {proof_size:,} events")
    print(f"{'':34} {'warden':>14} {'hash chain':>14}")
    for name, ours, theirs, unit in rows:
        t = f"{theirs:>14,.0f}" if theirs else f"{'-':>14}"
        print(f"{name:34} {ours:>14,.0f} {t}  {unit}")
    replay_ms = peer["replay_us_per_event"] * proof_size / 2 / 1e3
    print(f"{'inclusion proof, median':34} {w['proof_ms_median']:>14.3f} {replay_ms:>14.1f}  ms")
    print(f"{'inclusion proof, p99':34} {w['proof_ms_p99']:>14.3f} {'-':>14}  ms")
    print(f"{'proof + verify':34} {w['proof_and_verify_ms']:>14.3f} {'-':>14}  ms")
    print(f"{'consistency proof + verify':34} {w['consistency_ms']:>14.3f} {'-':>14}  ms")
    print(f"(path length {w['path_len']}, {w['checkpoints']:,} signed checkpoints; growing to")
    print(f" {proof_size:,} took {w['grow_s']:.1f} s; hash-chain proof = replaying half the chain)")
    append_per_s, verify_per_s = n / w["append_s"], n / w["verify_s"]
    sha_per_s = n / w["floor_sha256_s"]
    write_per_s = n / w["floor_write_s"] if "floor_write_s" in w else None
    read_per_s = n / w["floor_read_s"] if "floor_read_s" in w else None
    # Verification must both read and hash; one after the other, that is its floor here.
    verify_floor = 1 / (1 / sha_per_s + (1 / read_per_s if read_per_s else 0))
    print("floors (same rows, same run; the database or hashlib alone, nothing checked):")
    print(f"  raw sha256 over the bytes verification hashes {sha_per_s:>12,.0f} ev/s")
    if write_per_s and read_per_s:
        print(f"  raw driver insert of the stored rows           {write_per_s:>12,.0f} ev/s")
        print(f"  raw driver fetch of the same rows              {read_per_s:>12,.0f} ev/s")
    print(f"  read + hash, one after the other               {verify_floor:>12,.0f} ev/s")
    if "cpu_read_us" in w:
        split = [("page reads", w["cpu_read_us"]), ("checks (scan)", w["cpu_scan_us"])]
        if "cpu_server_us" in w:
            split.append(("database server", w["cpu_server_us"]))
        print("CPU per event, verification: " + ", ".join(f"{k} {v:.2f} µs" for k, v in split))
    for what, ours, goal, theirs in (
        ("appends/s", append_per_s, GOAL_APPEND_PER_S, n / peer["append_s"]),
        ("verified/s", verify_per_s, GOAL_VERIFY_PER_S, n / peer["verify_s"]),
    ):
        verdict = "met" if ours >= goal else "NOT met"
        print(
            f"goal {what} >= {goal:,}: {backend} {ours:,.0f} ({verdict}); hash chain "
            f"{theirs:,.0f}, ratio {ours / theirs:.2f}"
        )
    return {
        "bench": "audit",
        "size": f"{n // 1000}k events, proofs at {proof_size // 1000}k",
        "backend": backend,
        "append_per_s": round(n / w["append_s"]),
        "single_append_per_s": round(w["single_per_s"]),
        "single_verify_per_s": round(w["single_verify_per_s"]),
        "verify_per_s": round(n / w["verify_s"]),
        "verify_one_scan_per_s": round(n / w["verify_one_scan_s"]),
        "verify_processes": w["verify_processes"],
        "verify_export_per_s": round(n / w["verify_export_s"]),
        "proof_ms": round(w["proof_ms_median"], 4),
        "proof_ms_p99": round(w["proof_ms_p99"], 4),
        "warden_s": round(warden_s, 3),
        "peer": "hash-chain",
        "peer_s": round(peer["append_s"] + peer["verify_s"], 3),
        "peer_proof_ms": round(replay_ms, 1),
        "ratio": round((peer["append_s"] + peer["verify_s"]) / warden_s, 2),
        "proof_ratio": round(replay_ms / w["proof_ms_median"], 1),
        "warden_peak_mb": round(_peak_mb()),
        "goal_append_per_s": GOAL_APPEND_PER_S,
        "goal_verify_per_s": GOAL_VERIFY_PER_S,
        "append_goal_met": append_per_s >= GOAL_APPEND_PER_S,
        "verify_goal_met": verify_per_s >= GOAL_VERIFY_PER_S,
        "peer_append_per_s": round(n / peer["append_s"]),
        "peer_verify_per_s": round(n / peer["verify_s"]),
        "append_ratio": round(append_per_s * peer["append_s"] / n, 3),
        "verify_ratio": round(verify_per_s * peer["verify_s"] / n, 3),
        "floor_sha256_per_s": round(sha_per_s),
        "floor_write_per_s": None if write_per_s is None else round(write_per_s),
        "floor_read_per_s": None if read_per_s is None else round(read_per_s),
        "floor_verify_per_s": round(verify_floor),
        "append_vs_floor": None if write_per_s is None else round(append_per_s / write_per_s, 3),
        "verify_vs_floor": round(verify_per_s / verify_floor, 3),
        **{k: round(v, 3) for k, v in w.items() if k.startswith("cpu_")},
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="small sizes, well under a minute")
    ap.add_argument("--backend", default="memory", choices=[*sorted(BACKENDS), "all"])
    ap.add_argument("--events", type=int, default=None, help="events to append and verify")
    ap.add_argument("--batch", type=int, default=1000)
    ap.add_argument("--proof-size", type=int, default=None, help="tree size for the proof timing")
    ap.add_argument(
        "--pg-proof-size",
        type=int,
        default=None,
        help="tree size for PostgreSQL's proof timing (default: --proof-size)",
    )
    args = ap.parse_args(argv)
    n = args.events or (20_000 if args.quick else 100_000)
    proof_size = args.proof_size or (100_000 if args.quick else 1_000_000)
    names = ["memory", "sqlite", "postgresql"] if args.backend == "all" else [args.backend]
    if args.backend == "all" and not PG_URL:
        names.remove("postgresql")
        print("(postgresql skipped: MLWARDEN_BENCH_POSTGRES_URL is not set)")

    results = []
    for name in names:
        size = args.pg_proof_size or proof_size if name == "postgresql" else proof_size
        size = max(size, n)
        try:
            with tempfile.TemporaryDirectory(prefix="mlwarden-bench-audit-") as tmp:
                w = run(BACKENDS[name], n, args.batch, size, Path(tmp))
        finally:
            _drop_pg_schemas()
        results.append(report(name, w, n, args.batch, size))
    if len(results) == 1:
        print(json.dumps(results[0]))
    else:
        for r in results:
            print(json.dumps(r))
    return 0


if __name__ == "__main__":
    sys.exit(main())
