"""Registry benchmark: register N versions, resolve an alias, load a model; and registration
end to end as users do it.

Warden on SQLite and PostgreSQL, side by side with MLflow's registry on SQLite (run in its
own environment, `.bench-venv/mlflow`, which `make bench` builds). Prints per-operation
medians and the ratio, then one JSON line per comparison.

End to end (``register_e2e``): the same Adult pipeline (``_adult_model.py``) fitted on the same
data on both sides, fit not timed. Warden: ``register_model`` with training and evaluation
data and the sensitive features (artifact, sandboxed load check, signature, metrics, reference
profiles, fairness audit, explanation summary, privacy scan, audit event). MLflow: a run, the
evaluation metrics logged, ``log_model(..., input_example=..., registered_model_name=...)``.
The two sides alternate call by call (the peer waits for a "go" line before each timed call),
so load that comes and goes on a shared machine falls on both; each pair's ratio is printed.

    python bench/registry.py [--quick] [-n 1000] [--e2e-n 5] [--postgres URL]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))
import pandas as pd
from _common import emit, median_ms, peer_python, run_peer

import mlwarden as mw


def bench_warden(uri: str, artifacts: str, n: int) -> dict[str, float]:
    from sklearn.linear_model import LogisticRegression

    wd = mw.Warden(uri, artifacts=artifacts, actor="bench")
    model = LogisticRegression().fit([[0.0, 1.0], [1.0, 0.0], [0.5, 0.5], [0.2, 0.9]], [0, 1, 1, 0])
    register = median_ms(lambda: wd.register_model("bench", model), n)
    wd.set_alias("bench", "production", 1, override=True, reason="bench setup")
    resolve = median_ms(lambda: wd.get_model_version("bench@production"), n)
    load = median_ms(lambda: wd.load_model("bench@production"), max(n // 10, 5))
    wd.close()
    return {"register_ms": register, "resolve_ms": resolve, "load_ms": load}


def adult_data(directory: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Adult train and test with plain string columns (MLflow's signature inference rejects
    pandas categoricals), also written to ``directory`` as parquet for the MLflow side."""
    from mlwarden.datasets import load_adult

    frames = []
    for frame, name in zip(load_adult(), ("train", "eval"), strict=True):
        for c in frame.columns:
            if isinstance(frame[c].dtype, pd.CategoricalDtype):
                frame[c] = frame[c].astype(object)
        frame.to_parquet(f"{directory}/{name}.parquet")
        frames.append(frame)
    return frames[0], frames[1]


def warden_e2e(uri: str, artifacts: str, data_dir: str) -> tuple[Callable[[], None], mw.Warden]:
    """Warden's end-to-end registration, warmed up once (as MLflow's), ready to time."""
    from _adult_model import adult_pipeline, split

    train, test = adult_data(data_dir)
    model = adult_pipeline(train)
    (x, y), (xe, ye) = split(train), split(test)
    wd = mw.Warden(uri, artifacts=artifacts, actor="bench")

    def register() -> None:
        wd.register_model(
            "adult",
            model,
            train=mw.Dataset(x, y),
            eval=mw.Dataset(xe, ye),
            sensitive_features=["sex", "race"],
        )

    register()  # as for MLflow: the first call pays the imports
    return register, wd


class PairedPeer:
    """MLflow's end-to-end registration in its own environment, one timed call per
    :meth:`next`: the two sides alternate call by call, so load that comes and goes on a
    shared machine falls on both alike (run one after the other, they saw different load)."""

    def __init__(self, data_dir: str, n: int) -> None:
        python = peer_python("mlflow")
        self.proc = None
        if python is None:
            print("peer mlflow unavailable: build it with `make bench`")
            return
        script = Path(__file__).parent / "peers" / "mlflow_registry.py"
        self.proc = subprocess.Popen(
            [str(python), str(script), "e2e", data_dir, str(n), "--paired"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        self.version: str | None = None

    def ready(self) -> bool:
        """Wait until the peer is idle before its next call (its start-up, imports and
        warm-up call must not overlap the Warden call timed before it)."""
        if self.proc is None:
            return False
        assert self.proc.stdout is not None
        if "ready" not in json.loads(self.proc.stdout.readline() or "{}"):
            print("peer mlflow failed", file=sys.stderr)
            self.proc = None
            return False
        return True

    def next(self) -> float:
        """One timed call (after :meth:`ready`)."""
        assert self.proc is not None and self.proc.stdin is not None
        assert self.proc.stdout is not None
        self.proc.stdin.write("go\n")
        self.proc.stdin.flush()
        return float(json.loads(self.proc.stdout.readline())["register_e2e_ms"])

    def close(self) -> dict[str, Any]:
        if self.proc is None:
            return {}
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.close()
        out = self.proc.stdout.read()  # not communicate(): it would skip what readline buffered
        self.proc.wait(timeout=600)
        return json.loads(out.strip().splitlines()[-1]) if out.strip() else {}


def postgres_schema(url: str) -> tuple[str, str]:
    import psycopg

    schema = f"bench_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA "{schema}"')
    return schema, postgres_schema_uri(url, schema)


def postgres_schema_uri(url: str, schema: str) -> str:
    return f"{url}{'&' if '?' in url else '?'}options=-csearch_path%3D{schema}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="100 versions")
    parser.add_argument("-n", type=int, default=1000)
    parser.add_argument("--e2e-n", type=int, default=5, help="end-to-end registrations timed")
    parser.add_argument(
        "--postgres",
        default=os.environ.get(
            "MLWARDEN_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test"
        ),
    )
    parser.add_argument("--e2e-only", action="store_true", help="only the end-to-end case")
    args = parser.parse_args()
    n = 100 if args.quick else args.n
    tmp = tempfile.mkdtemp()
    if not args.e2e_only:
        bench_rows(args, n, tmp)
    bench_e2e(args, tmp)


def bench_rows(args: argparse.Namespace, n: int, tmp: str) -> None:

    results = {"warden-sqlite": bench_warden(f"sqlite:///{tmp}/w.db", f"{tmp}/a", n)}
    schema = None
    try:
        schema, pg_uri = postgres_schema(args.postgres)
        results["warden-postgresql"] = bench_warden(pg_uri, f"{tmp}/pa", n)
    except Exception as exc:  # the benchmark still reports SQLite and MLflow
        print(f"PostgreSQL skipped: {exc}")
    finally:
        if schema:
            import psycopg

            with psycopg.connect(args.postgres, autocommit=True) as conn:
                conn.execute(f'DROP SCHEMA "{schema}" CASCADE')
    peer = run_peer("mlflow", "mlflow_registry.py", str(n))
    if peer:
        results["mlflow-sqlite"] = peer

    ops = ("register_ms", "resolve_ms", "load_ms")
    print(f"\nRegistry, {n} versions — median milliseconds per operation")
    print(f"{'backend':<20}" + "".join(f"{op:>14}" for op in ops))
    for name, r in results.items():
        print(f"{name:<20}" + "".join(f"{r[op]:>14.3f}" for op in ops))
    record = {"bench": "registry", "size": f"{n} versions"}
    warden = results["warden-sqlite"]
    record.update({f"warden_{k}": round(v, 3) for k, v in warden.items()})
    if "warden-postgresql" in results:
        record.update(
            {f"warden_pg_{k}": round(v, 3) for k, v in results["warden-postgresql"].items()}
        )
    if peer:
        print(
            f"{'ratio (MLflow/Warden SQLite)':<20}"
            + "".join(f"{peer[op] / warden[op]:>14.1f}" for op in ops)
        )
        record.update(
            {
                "peer": f"mlflow {peer.get('mlflow')}",
                **{f"peer_{k}": round(peer[k], 3) for k in ops},
                **{f"ratio_{k.removesuffix('_ms')}": round(peer[k] / warden[k], 1) for k in ops},
            }
        )
    emit(record)


def bench_e2e(args: argparse.Namespace, tmp: str) -> None:
    e2e_n = 2 if args.quick else args.e2e_n
    data_dir = tempfile.mkdtemp()
    register, wd = warden_e2e(f"sqlite:///{tmp}/e2e.db", f"{tmp}/e2e", data_dir)
    peer = PairedPeer(data_dir, e2e_n)
    ours: list[float] = []
    theirs: list[float] = []
    for _ in range(e2e_n):
        ready = peer.ready()
        ours.append(median_ms(register, 1))
        if ready:
            theirs.append(peer.next())
    wd.close()
    final = peer.close()
    warden_ms = statistics.median(ours)
    print(f"\nRegistration end to end, Adult pipeline, {e2e_n} pairs, alternating (ms)")
    print(f"{'warden-sqlite':<20}" + "".join(f"{v:>10.0f}" for v in ours))
    e2e: dict[str, Any] = {
        "bench": "registry_e2e",
        "size": f"adult pipeline, 32,561 train / 16,281 eval rows, {e2e_n} registrations",
        "warden_ms": round(warden_ms, 1),
    }
    if len(theirs) == e2e_n:
        pairs = [p / w for w, p in zip(ours, theirs, strict=True)]
        peer_ms = statistics.median(theirs)
        print(f"{'mlflow-sqlite':<20}" + "".join(f"{v:>10.0f}" for v in theirs))
        print(f"{'ratio per pair':<20}" + "".join(f"{r:>10.2f}" for r in pairs))
        print(f"{'ratio of medians':<20}{peer_ms / warden_ms:>10.2f}")
        e2e.update(
            {
                "peer": f"mlflow {final.get('mlflow')}",
                "peer_ms": round(peer_ms, 1),
                "ratio": round(peer_ms / warden_ms, 2),
                "min_pair_ratio": round(min(pairs), 2),
                "pair_ratios": [round(r, 2) for r in pairs],
            }
        )
    emit(e2e)


if __name__ == "__main__":
    main()
