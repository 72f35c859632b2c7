"""Benchmark: Warden profiles + drift report vs Evidently's DataDriftPreset.

    python bench/drift.py            # 1,000,000 rows x 25 columns, then 10,000,000 rows chunked
    python bench/drift.py --quick    # 50,000 rows, then 1,000,000 chunked (under a minute)

Data: a reference and a current frame of 20 numeric + 5 categorical columns, seeded; the current
frame is shifted in 3 numeric and 1 categorical column. Both tools read the same Parquet files
(written once to a temp dir) into pandas frames, and are timed from those in-memory frames.

Warden: ``profile(ref, reference=True)``, ``profile(cur, bins_from=ref)``, ``compare()``.
Evidently 0.7.23: ``Report([DataDriftPreset()]).run(current, reference)``. Evidently cannot
import with pandas 3, so it runs as a subprocess of ``.bench-venv/evidently/bin/python`` (built
from ``bench/requirements-evidently.txt``); without that venv the peer is reported unavailable.

Memory: peak resident set size above the RSS measured right after the input frames are loaded,
sampled from /proc/self/statm every 5 ms by a background thread (same method for both tools).
The chunked 10M-row run reports its process's absolute peak RSS (VmHWM) on one core.

Ends with one JSON line (the bench convention).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
PEER_PYTHON = ROOT / ".bench-venv" / "evidently" / "bin" / "python"
N_NUM, N_CAT = 20, 5
SHIFTED_NUM = ("n0", "n1", "n2")
SHIFTED_CAT = ("c0",)
SEED = 20260101


# ---------------------------------------------------------------------- shared helpers
def rss_mb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def hwm_mb() -> float:
    """Peak RSS of this process image (VmHWM). Unlike ``ru_maxrss``, which Linux carries across
    exec and so includes the forking parent's RSS, VmHWM starts afresh with the new program."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


class PeakRSS:
    """Samples RSS every 5 ms in a thread; ``peak_above`` is MB above the value at start."""

    def __enter__(self) -> PeakRSS:
        self.base = self.peak = rss_mb()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def _run(self) -> None:
        while not self._stop.wait(0.005):
            self.peak = max(self.peak, rss_mb())

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, rss_mb())
        self.peak_above = self.peak - self.base


def make_frames(rows: int, seed: int = SEED, *, current: bool = True, lean: bool = False):
    """(reference, current) pandas frames: 20 numeric + 5 categorical columns.

    ``lean`` keeps categorical columns as Arrow-backed strings instead of Python objects (the
    chunked run, so generator memory does not hide the profiler's); ``current=False`` skips the
    shifted frame (returned as None).
    """
    import pandas as pd

    rng = np.random.default_rng(seed)
    labels = [np.array([f"{c}_{k}" for k in range(8)]) for c in range(N_CAT)]
    base_p = np.array([0.3, 0.2, 0.15, 0.1, 0.1, 0.07, 0.05, 0.03])
    moved_p = np.array([0.15, 0.2, 0.15, 0.1, 0.1, 0.07, 0.05, 0.18])
    frames = []
    for shifted in (False, True) if current else (False,):
        cols = {}
        for i in range(N_NUM):
            loc = 0.5 if shifted and f"n{i}" in SHIFTED_NUM else 0.0
            if i % 4 == 3:  # some skewed columns
                cols[f"n{i}"] = rng.lognormal(loc, 0.8, rows)
            else:
                cols[f"n{i}"] = rng.normal(loc + i, 1.0 + i / 10, rows)
        for c in range(N_CAT):
            p = moved_p if shifted and f"c{c}" in SHIFTED_CAT else base_p
            codes = rng.choice(len(p), rows, p=p)
            values = labels[c][codes]
            cols[f"c{c}"] = pd.array(values, dtype="str") if lean else values.astype(object)
        frames.append(pd.DataFrame(cols))
    return frames[0], (frames[1] if current else None)


# ---------------------------------------------------------------------- peer (own venv)
def peer_main(folder: str) -> None:
    """Runs inside the Evidently venv: read the Parquet pair, time Report.run."""
    import pandas as pd
    from evidently import DataDefinition, Dataset, Report
    from evidently.presets import DataDriftPreset

    ref = pd.read_parquet(Path(folder) / "reference.parquet")
    cur = pd.read_parquet(Path(folder) / "current.parquet")
    num = [c for c in ref.columns if c.startswith("n")]
    cat = [c for c in ref.columns if c.startswith("c")]
    definition = DataDefinition(numerical_columns=num, categorical_columns=cat)
    with PeakRSS() as mem:
        t0 = time.perf_counter()
        snapshot = Report([DataDriftPreset()]).run(
            Dataset.from_pandas(cur, data_definition=definition),
            Dataset.from_pandas(ref, data_definition=definition),
        )
        result = snapshot.dict()
        seconds = time.perf_counter() - t0
    values = {}
    for m in result["metrics"]:
        col = m["config"].get("column")
        if col is not None:
            values[col] = m["value"]
    print(json.dumps({"peer_s": seconds, "peer_peak_mb": mem.peak_above, "values": values}))


def run_peer(folder: str, python: Path = PEER_PYTHON) -> dict | None:
    if not python.exists():
        print(f"peer unavailable: {python} not found (see bench/requirements-evidently.txt)")
        return None
    proc = subprocess.run(
        [str(python), __file__, "--_peer", folder],
        capture_output=True,
        text=True,
        env={**os.environ, "OMP_NUM_THREADS": "1", "DO_NOT_TRACK": "1"},
    )
    if proc.returncode != 0:
        print(proc.stderr[-2000:], file=sys.stderr)
        return None
    return json.loads(proc.stdout.strip().splitlines()[-1])


# ---------------------------------------------------------------------- warden
def run_warden(ref, cur) -> dict:
    from mlwarden.engines.drift import compare
    from mlwarden.engines.profile import profile

    with PeakRSS() as mem:
        t0 = time.perf_counter()
        ref_profile = profile(ref, reference=True)
        t1 = time.perf_counter()
        cur_profile = profile(cur, bins_from=ref_profile)
        t2 = time.perf_counter()
        report = compare(ref_profile, cur_profile)
        t3 = time.perf_counter()
    return {
        "warden_s": t3 - t0,
        "profile_ref_s": t1 - t0,
        "profile_cur_s": t2 - t1,
        "compare_s": t3 - t2,
        "warden_peak_mb": mem.peak_above,
        "profile_bytes": len(ref_profile.to_bytes()),
        "values": {r.column: r.statistic for r in report.results},
        "drifted": report.drifted_columns,
    }


def big_main(rows: int, chunk: int) -> None:
    """Profile ``rows`` rows generated chunk by chunk; prints time and absolute peak RSS."""
    from mlwarden.engines.profile import profile

    state = {"gen_s": 0.0}

    def chunks():
        for i in range(0, rows, chunk):
            t = time.perf_counter()
            ref, _ = make_frames(min(chunk, rows - i), seed=SEED + i, current=False, lean=True)
            state["gen_s"] += time.perf_counter() - t
            yield ref

    t0 = time.perf_counter()
    prof = profile(chunks())
    total = time.perf_counter() - t0
    peak = hwm_mb()
    print(
        json.dumps(
            {
                "rows": prof.n_rows,
                "total_s": total,
                "profile_s": total - state["gen_s"],
                "gen_s": state["gen_s"],
                "peak_rss_mb": peak,
            }
        )
    )


def run_big(rows: int, chunk: int) -> dict:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1"}
    cmd = [sys.executable, __file__, "--_big", str(rows), "--chunk", str(chunk)]
    if sys.platform.startswith("linux"):
        cmd = ["taskset", "-c", "0", *cmd]  # one core
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, check=True)
    return json.loads(proc.stdout.strip().splitlines()[-1])


# ---------------------------------------------------------------------- main
def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="small sizes, under a minute")
    ap.add_argument("--rows", type=int, default=None)
    ap.add_argument("--big-rows", type=int, default=None)
    ap.add_argument("--chunk", type=int, default=500_000)
    ap.add_argument("--no-peer", action="store_true")
    ap.add_argument("--peer-python", type=Path, default=PEER_PYTHON, help="Evidently venv python")
    ap.add_argument("--_peer", help=argparse.SUPPRESS)
    ap.add_argument("--_big", type=int, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args._peer:
        return peer_main(args._peer)
    if args._big:
        return big_main(args._big, args.chunk)
    sys.path.insert(0, str(ROOT / "src"))
    import pandas as pd

    rows = args.rows or (50_000 if args.quick else 1_000_000)
    big_rows = args.big_rows or (1_000_000 if args.quick else 10_000_000)
    size = f"{rows / 1e6:g}M x {N_NUM + N_CAT}" if rows >= 1e6 else f"{rows // 1000}k x 25"
    with tempfile.TemporaryDirectory() as folder:
        ref, cur = make_frames(rows)
        ref.to_parquet(Path(folder) / "reference.parquet")
        cur.to_parquet(Path(folder) / "current.parquet")
        del ref, cur
        ref = pd.read_parquet(Path(folder) / "reference.parquet")
        cur = pd.read_parquet(Path(folder) / "current.parquet")
        warden = run_warden(ref, cur)
        del ref, cur
        peer = None if args.no_peer else run_peer(folder, args.peer_python)
    big = run_big(big_rows, min(args.chunk, big_rows))

    print(f"\nDrift report, reference and current of {size} (20 numeric + 5 categorical)")
    print(f"{'':24}{'warden':>12}{'evidently':>12}")
    print(f"{'time (s)':24}{warden['warden_s']:>12.2f}", end="")
    print(f"{peer['peer_s']:>12.2f}" if peer else f"{'unavailable':>12}")
    print(f"{'peak memory (MB)':24}{warden['warden_peak_mb']:>12.0f}", end="")
    print(f"{peer['peer_peak_mb']:>12.0f}" if peer else f"{'unavailable':>12}")
    print(
        f"  warden: profile ref {warden['profile_ref_s']:.2f} s, cur {warden['profile_cur_s']:.2f}"
        f" s, compare {warden['compare_s']:.3f} s; reference profile {warden['profile_bytes']} B"
    )
    print(f"  warden drifted columns: {warden['drifted']}")
    if peer:
        print(f"\n{'column':8}{'warden':>10}{'evidently':>11}{'diff':>9}")
        for col, v in warden["values"].items():
            pv = peer["values"].get(col)
            if pv is not None:
                print(f"{col:8}{v:>10.4f}{pv:>11.4f}{v - pv:>+9.4f}")
    print(
        f"\nChunked profile of {big['rows']:,} rows x 25 on one core: {big['profile_s']:.1f} s "
        f"profiling (+{big['gen_s']:.1f} s generating), peak RSS {big['peak_rss_mb']:.0f} MB"
    )
    ratio = peer["peer_s"] / warden["warden_s"] if peer else None
    line = {
        "bench": "drift",
        "size": size,
        "warden_s": round(warden["warden_s"], 2),
        "peer": "evidently" if peer else "evidently (unavailable)",
        "peer_s": round(peer["peer_s"], 1) if peer else None,
        "ratio": round(ratio, 1) if ratio else None,
        "warden_peak_mb": round(warden["warden_peak_mb"]),
        "peer_peak_mb": round(peer["peer_peak_mb"]) if peer else None,
        "big_rows": big["rows"],
        "big_profile_s": round(big["profile_s"], 1),
        "big_peak_rss_mb": round(big["peak_rss_mb"]),
        "memory": "RSS sampling every 5 ms, above the loaded input frames",
    }
    print(json.dumps(line))


if __name__ == "__main__":
    main()
