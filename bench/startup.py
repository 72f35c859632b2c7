"""Start-up benchmark: `import mlwarden` and `mlwarden --help`, each in a fresh interpreter.

Side by side with `import mlflow` and `mlflow --help` from MLflow's own environment
(`.bench-venv/mlflow`, which `make bench` builds; reported as unavailable when absent). Each
command runs `-n` times (default 5) and the median wall time counts: the first runs warm the
page cache, so this is "cold-ish", the start-up a user sees on a second invocation. Then
`python -X importtime -c "import mlwarden"` is summarised: the total and the ten top-level
packages that cost the most (their own import time, summed over their modules).

    python bench/startup.py [--quick] [-n 5]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))
from _common import ROOT, emit, peer_python


def _env() -> dict[str, str]:
    """This checkout's `src/` first, so the bench measures the code next to it."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(
        p for p in (str(ROOT / "src"), env.get("PYTHONPATH", "")) if p
    )
    return env


def median_run_s(argv: list[str], repeat: int) -> float:
    samples = []
    for _ in range(repeat):
        start = time.perf_counter()
        subprocess.run(argv, env=_env(), check=True, capture_output=True, timeout=300)
        samples.append(time.perf_counter() - start)
    return statistics.median(samples)


def cli_argv(python: Path, script: str, module: str) -> list[str]:
    """The console script next to the interpreter, else ``python -m``."""
    exe = python.parent / script
    return [str(exe), "--help"] if exe.exists() else [str(python), "-m", module, "--help"]


def importtime(python: str, module: str, top: int = 10) -> dict[str, Any]:
    """Total import time and the `top` costliest top-level packages (self time, summed)."""
    proc = subprocess.run(
        [python, "-X", "importtime", "-c", f"import {module}"],
        env=_env(),
        capture_output=True,
        text=True,
        check=True,
        timeout=300,
    )
    entries = [
        line.removeprefix("import time:").split("|")
        for line in proc.stderr.splitlines()
        if line.startswith("import time:") and "[us]" not in line
    ]
    by_package: dict[str, int] = defaultdict(int)
    total_us = 0
    for self_us, cumulative_us, name in entries:
        by_package[name.strip().split(".")[0]] += int(self_us)
        if not name.startswith("  "):  # top level: its cumulative time is part of the total
            total_us += int(cumulative_us)
    ranked = sorted(by_package.items(), key=lambda kv: -kv[1])[:top]
    return {
        "total_ms": round(total_us / 1000, 1),
        "modules": len(entries),
        "top": [{"package": name, "self_ms": round(us / 1000, 1)} for name, us in ranked],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="3 runs each")
    parser.add_argument("-n", type=int, default=5)
    args = parser.parse_args()
    repeat = 3 if args.quick else args.n

    python = Path(sys.executable)
    times: dict[str, float | None] = {
        "warden_import_s": median_run_s([str(python), "-c", "import mlwarden"], repeat),
        "warden_help_s": median_run_s(cli_argv(python, "mlwarden", "mlwarden"), repeat),
        "mlflow_import_s": None,
        "mlflow_help_s": None,
    }
    peer = peer_python("mlflow")
    if peer is None:
        print(f"peer mlflow unavailable: build it with `make bench` ({ROOT / '.bench-venv'})")
    else:
        times["mlflow_import_s"] = median_run_s([str(peer), "-c", "import mlflow"], repeat)
        times["mlflow_help_s"] = median_run_s(cli_argv(peer, "mlflow", "mlflow"), repeat)

    def cell(value: float | None) -> str:
        return "n/a" if value is None else f"{value:.3f} s"

    print(f"{f'median of {repeat}':<12} {'Warden':>10} {'MLflow':>10}")
    for label, key in (("import", "import_s"), ("--help", "help_s")):
        print(f"{label:<12} {cell(times['warden_' + key]):>10} {cell(times['mlflow_' + key]):>10}")

    summary = importtime(str(python), "mlwarden")
    print(
        f"\npython -X importtime -c 'import mlwarden': {summary['total_ms']} ms over "
        f"{summary['modules']} modules; the costliest packages (own import time):"
    )
    for row in summary["top"]:
        print(f"  {row['package']:<24} {row['self_ms']:>8.1f} ms")
    emit({"bench": "startup", "repeat": repeat, **times, "importtime": summary})


if __name__ == "__main__":
    main()
