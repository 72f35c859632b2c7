"""Serving throughput of this checkout against an earlier one, measured side by side.

Both servers (the same LightGBM model, SQLite, one worker each on CPU 0) run at once; wrk (on
CPU 1) loads them in alternation, round after round, so a shared, noisy machine shifts both
alike. Each checkout registers the model with its own code. Prints the medians and the ratio
head / base per mode; issue 14 asks for no regression beyond 5%. Also the server process's CPU time
per request (all its threads, from ``/proc``): on a loaded machine throughput moves with the
neighbours, CPU per request much less. (Per-thread figures are left out: this machine's kernel
reports the whole process for the main thread and zero for the others.)

    git worktree add --detach ../base <revision>
    python bench/serve_regression.py --base ../base [--quick]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import ROOT, emit
from serve import stop, wrk_load

#: (name, log predictions, connections)
MODES = (("sync log", True, 16), ("sync log", True, 2), ("no log", False, 2))


def start(root: Path, tmp: Path, port: int, log: bool) -> tuple[subprocess.Popen, dict]:
    home = tmp / "home"  # each checkout its own default key folder
    home.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "PYTHONPATH": str(root / "src"), "HOME": str(home)}
    proc = subprocess.Popen(
        [sys.executable, str(ROOT / "bench" / "peers" / "serve_revision.py"), str(root),
         str(tmp), str(port), "1" if log else "0"],
        stdout=subprocess.PIPE, text=True, env=env,
    )  # fmt: skip
    assert proc.stdout is not None
    for line in proc.stdout:  # LightGBM may print before the JSON line
        if line.startswith('{"token"'):
            return proc, json.loads(line)
    raise RuntimeError(f"{root}: the server did not start")


def server_pid(proc: subprocess.Popen) -> int | None:
    """The ``mlwarden serve`` process that ``serve_revision.py`` started (Linux only)."""
    try:
        children = Path(f"/proc/{proc.pid}/task/{proc.pid}/children").read_text().split()
    except OSError:
        return None
    return int(children[0]) if children else None


def cpu_s(pid: int | None) -> float:
    """User + system CPU seconds of process ``pid``, all its threads."""
    if pid is None:
        return float("nan")
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--base", type=Path, help="a checkout of the baseline")
    ap.add_argument("--quick", action="store_true", help="4 rounds of 4 s instead of 6 of 8 s")
    args = ap.parse_args()
    if args.base is None:
        print("no --base checkout given: nothing to compare (see the docstring)")
        return
    rounds, seconds = (4, 4) if args.quick else (6, 8)
    tmp = Path(tempfile.mkdtemp())
    out: dict[str, dict] = {}
    print(f"{'mode':<10} {'conns':>5} {'base req/s':>11} {'head req/s':>11} {'ratio':>6}")
    for mode, log, conns in MODES:
        servers = {}
        try:
            for i, (name, root) in enumerate((("base", args.base.resolve()), ("head", ROOT))):
                servers[name] = start(root, tmp / f"{name}-{mode}-{conns}".replace(" ", ""),
                                      18900 + i, log)  # fmt: skip
            rps: dict[str, list[float]] = {"base": [], "head": []}
            cpu: dict[str, list[float]] = {"base": [], "head": []}
            pids = {name: server_pid(proc) for name, (proc, _) in servers.items()}
            for r in range(rounds):
                for i, name in enumerate(("base", "head") if r % 2 == 0 else ("head", "base")):
                    meta = servers[name][1]
                    port = 18900 + (name == "head")
                    url = f"http://127.0.0.1:{port}/v1/models/adult/predict"
                    body = json.dumps({"records": [meta["row"]]})
                    hdr = {"Authorization": f"Bearer {meta['token']}",
                           "Content-Type": "application/json"}  # fmt: skip
                    if r == 0 and i < 2:
                        for _ in range(50):  # warm up
                            httpx.post(url, content=body, headers=hdr, timeout=30)
                    pid = pids[name]
                    before = cpu_s(pid)
                    result = wrk_load(url, body, hdr, conns, seconds, tmp)
                    if result["errors"]:  # an error answer is no measure of serving
                        raise SystemExit(f"{name}: {result['errors']} failed requests")
                    got = result["rps"]
                    n = got * seconds / 1e6  # requests, in millions: CPU s / n = µs a request
                    rps[name].append(got)
                    cpu[name].append((cpu_s(pid) - before) / n)
        finally:
            for proc, _ in servers.values():
                stop(proc)
        base, head = statistics.median(rps["base"]), statistics.median(rps["head"])
        key = f"{mode.replace(' ', '_')}_c{conns}"
        ratio = round(head / base, 3)
        us = {f"{name}_cpu_us": round(statistics.median(cpu[name]), 1) for name in ("base", "head")}
        out[key] = {"base_rps": round(base), "head_rps": round(head), "ratio": ratio, **us}
        print(
            f"{mode:<10} {conns:>5} {base:>11.0f} {head:>11.0f} {head / base:>6.3f}   server CPU "
            f"µs a request: base {us['base_cpu_us']}, head {us['head_cpu_us']}",
            flush=True,
        )
    emit({"bench": "serve_regression", "base": str(args.base), "rounds": rounds,
          "seconds": seconds, **out})  # fmt: skip


if __name__ == "__main__":
    main()
