"""Save a LightGBM booster (native text file) as an MLflow model for `mlflow models serve`
(run in MLflow's own venv). Prints one JSON line with the model folder."""

from __future__ import annotations

import json
import os
import sys

os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
os.environ.setdefault("DO_NOT_TRACK", "1")

import lightgbm as lgb
import mlflow.lightgbm


def main(model_file: str, out: str) -> None:
    booster = lgb.Booster(model_file=model_file)
    mlflow.lightgbm.save_model(booster, out)
    print(json.dumps({"path": out, "mlflow": mlflow.__version__}))


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
