"""Prediction-log throughput: ``wd.log_predictions`` in batches, on SQLite and PostgreSQL.

The peer is what a scoring job would otherwise do: ``DataFrame.to_sql`` of the same rows
(inputs, prediction, score) into the same database. Goal: at least 100,000 rows/s.

    python bench/prediction_log.py [--quick] [--rows 500000] [--postgres URL]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from _common import emit
from registry import postgres_schema

import mlwarden as mw


def setup(uri: str, artifacts: str):  # type: ignore[no-untyped-def]
    from sklearn.linear_model import LogisticRegression

    train, _ = mw.datasets.load_adult()
    wd = mw.Warden(uri, artifacts=artifacts, actor="bench")
    X = train.drop(columns="income")
    wd.register_model("scoring", LogisticRegression().fit(X[["age"]], train["income"]))
    return wd, X


def run(uri: str, artifacts: str, rows: int, batch: int) -> dict[str, float]:
    from sqlalchemy import create_engine

    wd, X = setup(uri, artifacts)
    reps = int(np.ceil(batch / len(X)))
    frame = X.sample(batch, replace=reps > 1, random_state=0).reset_index(drop=True)
    y = np.where(frame["age"].to_numpy() > 40, ">50K", "<=50K")
    scores = np.random.default_rng(0).random(batch)
    start = time.perf_counter()
    for _ in range(rows // batch):
        wd.log_predictions("scoring", frame, y, scores=scores)
    warden_s = time.perf_counter() - start

    peer = frame.assign(prediction=y, score=scores)
    engine = create_engine(wd.db.engine.url)  # same database, plain SQLAlchemy
    start = time.perf_counter()
    for _ in range(rows // batch):
        peer.to_sql("peer_predictions", engine, if_exists="append", index=False, chunksize=10_000)
    peer_s = time.perf_counter() - start
    wd.close()
    done = (rows // batch) * batch
    return {
        "rows": done,
        "warden_s": warden_s,
        "peer_s": peer_s,
        "warden_rows_per_s": done / warden_s,
        "peer_rows_per_s": done / peer_s,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--rows", type=int, default=500_000)
    parser.add_argument("--batch", type=int, default=50_000)
    parser.add_argument(
        "--postgres",
        default=os.environ.get(
            "MLWARDEN_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test"
        ),
    )
    args = parser.parse_args()
    rows = 100_000 if args.quick else args.rows
    tmp = tempfile.mkdtemp()
    results = {"sqlite": run(f"sqlite:///{tmp}/w.db", f"{tmp}/a", rows, args.batch)}
    try:
        schema, uri = postgres_schema(args.postgres)
        results["postgresql"] = run(uri, f"{tmp}/pa", rows, args.batch)
        import psycopg

        with psycopg.connect(args.postgres, autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA "{schema}" CASCADE')
    except Exception as exc:
        print(f"PostgreSQL skipped: {exc}")
    print(f"\nPrediction log, {rows:,} rows in batches of {args.batch:,} (14 input columns)")
    print(f"{'backend':<12}{'warden rows/s':>16}{'to_sql rows/s':>16}{'ratio':>8}")
    for name, r in results.items():
        print(
            f"{name:<12}{r['warden_rows_per_s']:>16,.0f}{r['peer_rows_per_s']:>16,.0f}"
            f"{r['peer_s'] / r['warden_s']:>8.1f}"
        )
    s = results["sqlite"]
    record = {
        "bench": "prediction_log",
        "size": f"{rows} rows x 14 cols",
        "warden_s": round(s["warden_s"], 3),
        "peer": "pandas.to_sql",
        "peer_s": round(s["peer_s"], 3),
        "ratio": round(s["peer_s"] / s["warden_s"], 2),
        "warden_rows_per_s": round(s["warden_rows_per_s"]),
    }
    if "postgresql" in results:
        p = results["postgresql"]
        record.update(
            {
                "warden_pg_rows_per_s": round(p["warden_rows_per_s"]),
                "peer_pg_rows_per_s": round(p["peer_rows_per_s"]),
            }
        )
    emit(record)


if __name__ == "__main__":
    main()
