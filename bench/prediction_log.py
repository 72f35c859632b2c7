"""Prediction-log throughput: ``wd.log_predictions`` in batches, on SQLite and PostgreSQL.

The peer is what a scoring job would otherwise do: ``DataFrame.to_sql`` of the same rows
(inputs, prediction, score) into the same database. Goal: at least 100,000 rows/s. The
driver column is the ceiling: the same stored rows written straight through sqlite3 or
psycopg into an identical table.

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
from registry import postgres_schema, postgres_schema_uri

import mlwarden as mw
from mlwarden.store.sql.predictions import COLUMNS


def setup(uri: str, artifacts: str):  # type: ignore[no-untyped-def]
    from sklearn.linear_model import LogisticRegression

    train, _ = mw.datasets.load_adult()
    wd = mw.Warden(uri, artifacts=artifacts, actor="bench")
    X = train.drop(columns="income")
    wd.register_model("scoring", LogisticRegression().fit(X[["age"]], train["income"]))
    return wd, X


def driver_ceiling(uri: str, artifacts: str, sample: list[tuple], rows: int) -> float:
    """Rows/s of the same stored rows (fresh ids, made beforehand) written straight through
    the driver into an empty ``predictions`` table of the same schema, one transaction per
    batch: executemany on SQLite, binary COPY on PostgreSQL. What the storage itself allows
    on this machine, without JSON, ids, masking or the audit event."""
    from mlwarden.store.sql.predictions import COLUMNS, PG_TYPES, new_ids

    wd = mw.Warden(uri, artifacts=artifacts, actor="bench")  # the schema, nothing logged
    batches = [
        [(i, *r[1:]) for i, r in zip(new_ids(len(sample)), sample, strict=True)]
        for _ in range(rows // len(sample))
    ]
    raw = wd.db.engine.raw_connection()
    conn = raw.driver_connection
    cols = ",".join(COLUMNS)
    start = time.perf_counter()
    for tuples in batches:
        if wd.db.is_sqlite:
            conn.execute("BEGIN IMMEDIATE")
            conn.executemany(
                f"INSERT INTO predictions ({cols}) VALUES ({','.join('?' * len(COLUMNS))})",
                tuples,
            )
            conn.execute("COMMIT")
        else:
            sql = f"COPY predictions ({cols}) FROM STDIN (FORMAT BINARY)"
            with conn.cursor() as cur, cur.copy(sql) as copy:
                copy.set_types(PG_TYPES)
                for row in tuples:
                    copy.write_row(row)
            conn.commit()
    elapsed = time.perf_counter() - start
    raw.close()
    wd.close()
    return sum(map(len, batches)) / elapsed


def run(uri: str, artifacts: str, rows: int, batch: int, ceiling_uri: str) -> dict[str, float]:
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
    with wd.db.engine.connect() as conn:  # one batch as stored, for the driver ceiling
        sample = [tuple(r) for r in conn.exec_driver_sql(
            f"SELECT {','.join(COLUMNS)} FROM predictions LIMIT {batch}")]  # fmt: skip
    ceiling = driver_ceiling(ceiling_uri, artifacts + "-ceiling", sample, rows)

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
        "driver_rows_per_s": ceiling,
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
    results = {
        "sqlite": run(
            f"sqlite:///{tmp}/w.db", f"{tmp}/a", rows, args.batch, f"sqlite:///{tmp}/c.db"
        )
    }
    schemas: list[str] = []
    try:
        for _ in range(2):
            schemas.append(postgres_schema(args.postgres)[0])
        uri, ceiling_uri = (postgres_schema_uri(args.postgres, s) for s in schemas)
        results["postgresql"] = run(uri, f"{tmp}/pa", rows, args.batch, ceiling_uri)
    except Exception as exc:
        print(f"PostgreSQL skipped: {exc}")
    finally:
        if schemas:
            import psycopg

            with psycopg.connect(args.postgres, autocommit=True) as conn:
                for schema in schemas:
                    conn.execute(f'DROP SCHEMA "{schema}" CASCADE')
    print(f"\nPrediction log, {rows:,} rows in batches of {args.batch:,} (14 input columns)")
    print(
        f"{'backend':<12}{'warden rows/s':>16}{'to_sql rows/s':>16}{'ratio':>8}"
        f"{'driver rows/s':>16}{'of driver':>11}"
    )
    for name, r in results.items():
        print(
            f"{name:<12}{r['warden_rows_per_s']:>16,.0f}{r['peer_rows_per_s']:>16,.0f}"
            f"{r['peer_s'] / r['warden_s']:>8.1f}{r['driver_rows_per_s']:>16,.0f}"
            f"{r['warden_rows_per_s'] / r['driver_rows_per_s']:>11.0%}"
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
        "driver_rows_per_s": round(s["driver_rows_per_s"]),
    }
    if "postgresql" in results:
        p = results["postgresql"]
        record.update(
            {
                "warden_pg_rows_per_s": round(p["warden_rows_per_s"]),
                "peer_pg_rows_per_s": round(p["peer_rows_per_s"]),
                "driver_pg_rows_per_s": round(p["driver_rows_per_s"]),
            }
        )
    emit(record)


if __name__ == "__main__":
    main()
