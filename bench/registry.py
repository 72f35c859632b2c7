"""Registry benchmark: register N versions, resolve an alias, load a model.

Warden on SQLite and PostgreSQL, side by side with MLflow's registry on SQLite (run in its
own environment, `.bench-venv/mlflow`, which `make bench` builds). Prints per-operation
medians and the ratio, then one JSON line.

    python bench/registry.py [--quick] [-n 1000] [--postgres URL]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from _common import emit, median_ms, run_peer

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
    parser.add_argument(
        "--postgres",
        default=os.environ.get(
            "MLWARDEN_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test"
        ),
    )
    args = parser.parse_args()
    n = 100 if args.quick else args.n
    tmp = tempfile.mkdtemp()

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


if __name__ == "__main__":
    main()
