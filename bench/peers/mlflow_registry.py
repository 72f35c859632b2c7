"""MLflow's model registry on SQLite, timed per operation (run in MLflow's own venv).

Prints one JSON line: median milliseconds for register, alias resolution and load.
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


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 1000)
