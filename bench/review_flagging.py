"""What flagging predictions for human review as they are logged costs the prediction log.

Two models on one SQLite store, logged in the same batches of the same rows: ``plain`` has no
review rule, ``reviewed`` has one (low confidence or an age segment, flagging about a third
of the rows), so each of its batches also evaluates the rule per row, queues the flagged rows
and appends a ``review.flag`` event in the log's transaction. The peer is the plain model:
the ratio is plain time / reviewed time (1.0: free).

    python bench/review_flagging.py [--quick] [--rows 50000] [--batch 500]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from _common import emit

import mlwarden as mw

RULE = "score > 0.3 && score < 0.7 || inputs.age >= 60"


def timed(wd: mw.Warden, name: str, X, outputs, scores, batch: int) -> float:  # type: ignore[no-untyped-def]
    start = time.perf_counter()
    for i in range(0, len(X), batch):
        wd.log_predictions(name, X.iloc[i : i + batch], outputs[i : i + batch],
                           scores=scores[i : i + batch])  # fmt: skip
    return time.perf_counter() - start


def main() -> None:
    from sklearn.linear_model import LogisticRegression

    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--rows", type=int, default=50_000)
    parser.add_argument("--batch", type=int, default=500)
    args = parser.parse_args()
    rows = 10_000 if args.quick else args.rows
    train, _ = mw.datasets.load_adult()
    X = train.drop(columns="income")
    X = X.sample(rows, replace=len(X) < rows, random_state=0).reset_index(drop=True)
    tmp = tempfile.mkdtemp()
    wd = mw.Warden(f"sqlite:///{tmp}/w.db", artifacts=f"{tmp}/a", actor="bench")
    model = LogisticRegression().fit(train[["age"]], train["income"])
    for name in ("plain", "reviewed"):
        wd.register_model(name, model)
    wd.oversight.set_rule("reviewed", RULE, actor="bench")
    outputs = model.predict(X[["age"]])
    scores = model.predict_proba(X[["age"]])[:, 1]
    timed(wd, "plain", X.head(args.batch), outputs, scores, args.batch)  # warm-up
    plain = timed(wd, "plain", X, outputs, scores, args.batch)
    reviewed = timed(wd, "reviewed", X, outputs, scores, args.batch)
    flagged = wd.oversight.override_rate("reviewed")["pending"]
    wd.close()
    print(f"{rows:,} rows in batches of {args.batch}: plain {rows / plain:,.0f} rows/s, "
          f"with a review rule {rows / reviewed:,.0f} rows/s ({flagged:,} flagged)")  # fmt: skip
    emit(
        {
            "bench": "review_flagging",
            "size": f"{rows} rows x 14 cols, batches of {args.batch}",
            "warden_s": round(reviewed, 3),
            "peer": "the same log without a review rule",
            "peer_s": round(plain, 3),
            "ratio": round(plain / reviewed, 2),
            "flagged": flagged,
        }
    )


if __name__ == "__main__":
    main()
