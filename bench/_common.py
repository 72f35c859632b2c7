"""Helpers shared by the benchmarks: timing, peak memory, peer environments, the JSON line."""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
PEER_VENVS = ROOT / ".bench-venv"


def median_ms(fn: Callable[[], Any], repeat: int) -> float:
    samples = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - start) * 1000)
    return statistics.median(samples)


def peer_python(name: str) -> Path | None:
    """The interpreter of a peer's own environment (built by `make bench`), if present."""
    python = PEER_VENVS / name / "bin" / "python"
    return python if python.exists() else None


def run_peer(name: str, script: str, *args: str, timeout: int = 3600) -> dict[str, Any] | None:
    python = peer_python(name)
    if python is None:
        print(f"peer {name} unavailable: build it with `make bench` ({PEER_VENVS / name})")
        return None
    proc = subprocess.run(
        [str(python), str(ROOT / "bench" / "peers" / script), *args],
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    if proc.returncode != 0:
        print(f"peer {name} failed:\n{proc.stderr[-2000:]}", file=sys.stderr)
        return None
    return json.loads(proc.stdout.strip().splitlines()[-1])


def emit(record: dict[str, Any]) -> None:
    print(json.dumps(record))
