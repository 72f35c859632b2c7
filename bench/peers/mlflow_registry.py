"""MLflow's model registry on SQLite, timed per operation (run in MLflow's own venv).

    mlflow_registry.py N                 register / resolve / load, N times each
    mlflow_registry.py e2e DATA_DIR N    log_model(..., registered_model_name=...) end to end
    mlflow_registry.py e2e DATA_DIR N --paired
                                         the same, one timed call per "go" line on stdin,
                                         each answered with a JSON line of its milliseconds

Prints one JSON line of median milliseconds. The end-to-end case fits the Adult pipeline of
``bench/_adult_model.py`` on ``DATA_DIR/train.parquet`` (not timed), then times what a user's
registration does: start a run, log the evaluation metrics, and ``log_model`` with an input
example (signature inferred) and ``registered_model_name``.
"""

from __future__ import annotations

import json
import os
import statistics
import sys
import tempfile
import time

os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
os.environ.setdefault("DO_NOT_TRACK", "1")

import mlflow
from mlflow import MlflowClient
from sklearn.linear_model import LogisticRegression

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))


def timed(fn, repeat):  # type: ignore[no-untyped-def]
    samples = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - t) * 1000)
    return statistics.median(samples)


def main(n: int) -> None:
    tmp = tempfile.mkdtemp()
    mlflow.set_tracking_uri(f"sqlite:///{tmp}/mlflow.db")
    mlflow.set_registry_uri(f"sqlite:///{tmp}/mlflow.db")
    client = MlflowClient()
    experiment = client.create_experiment("bench", artifact_location=f"{tmp}/artifacts")
    mlflow.set_experiment(experiment_id=experiment)
    model = LogisticRegression().fit([[0.0, 1.0], [1.0, 0.0], [0.5, 0.5], [0.2, 0.9]], [0, 1, 1, 0])
    with mlflow.start_run():
        info = mlflow.sklearn.log_model(model, name="model")
    uri = info.model_uri
    register = timed(lambda: mlflow.register_model(uri, "bench"), n)
    client.set_registered_model_alias("bench", "production", "1")
    resolve = timed(lambda: client.get_model_version_by_alias("bench", "production"), n)
    load = timed(lambda: mlflow.sklearn.load_model("models:/bench@production"), max(n // 10, 5))
    print(
        json.dumps(
            {
                "register_ms": register,
                "resolve_ms": resolve,
                "load_ms": load,
                "mlflow": mlflow.__version__,
            }
        )
    )


def end_to_end(data_dir: str, n: int, paired: bool = False) -> None:
    import pandas as pd
    from _adult_model import adult_pipeline, split
    from sklearn.metrics import accuracy_score, roc_auc_score

    train = pd.read_parquet(os.path.join(data_dir, "train.parquet"))
    x_eval, y_eval = split(pd.read_parquet(os.path.join(data_dir, "eval.parquet")))
    model = adult_pipeline(train)
    tmp = tempfile.mkdtemp()
    mlflow.set_tracking_uri(f"sqlite:///{tmp}/mlflow.db")
    mlflow.set_registry_uri(f"sqlite:///{tmp}/mlflow.db")
    experiment = MlflowClient().create_experiment("e2e", artifact_location=f"{tmp}/artifacts")
    mlflow.set_experiment(experiment_id=experiment)
    example = train.drop(columns="income").head(5)

    def register() -> None:
        with mlflow.start_run():
            score = model.predict_proba(x_eval)[:, 1]
            mlflow.log_metrics(
                {
                    "accuracy": accuracy_score(y_eval, score >= 0.5),
                    "roc_auc": roc_auc_score(y_eval, score),
                }
            )
            mlflow.sklearn.log_model(
                model, name="model", input_example=example, registered_model_name="adult"
            )

    register()  # the first call imports what log_model needs; time the ones a user repeats
    samples = []
    for _ in range(n):
        if paired:  # the caller times its own call between ours: load hits both alike
            print(json.dumps({"ready": True}), flush=True)
            if sys.stdin.readline().strip() != "go":
                return
        t = time.perf_counter()
        register()
        samples.append((time.perf_counter() - t) * 1000)
        if paired:
            print(json.dumps({"register_e2e_ms": samples[-1]}), flush=True)
    print(json.dumps({"register_e2e_ms": statistics.median(samples), "mlflow": mlflow.__version__}))


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "e2e":
        end_to_end(sys.argv[2], int(sys.argv[3]), paired="--paired" in sys.argv[4:])
    else:
        main(int(sys.argv[1]) if len(sys.argv) > 1 else 1000)
