"""Seed a real MLflow server: a pickled sklearn model (alias champion), a LightGBM Booster."""

import sys

import lightgbm as lgb
import mlflow
from sklearn.datasets import load_iris
from sklearn.linear_model import LogisticRegression

mlflow.set_tracking_uri(sys.argv[1])
X, y = load_iris(return_X_y=True, as_frame=True)
yb = (y == 0).astype(int)
with mlflow.start_run() as run:
    mlflow.log_param("C", 0.5)
    mlflow.log_metric("auc", 0.97)
    mlflow.log_input(mlflow.data.from_pandas(X.assign(target=yb), name="iris"), context="training")
    clf = LogisticRegression(C=0.5, max_iter=200).fit(X, yb)
    # pickle-only: what older MLflow wrote by default
    mlflow.sklearn.log_model(
        clf, name="model", registered_model_name="iris-sk", serialization_format="cloudpickle"
    )
    mlflow.sklearn.log_model(  # with an input example: MLflow records a column signature
        clf,
        name="skops-model",
        registered_model_name="iris-skops",
        serialization_format="skops",
        input_example=X.head(3),
    )
client = mlflow.MlflowClient()
client.update_registered_model("iris-sk", description="setosa or not")
client.set_registered_model_tag("iris-sk", "team", "risk")
client.set_registered_model_alias("iris-sk", "champion", "1")
with mlflow.start_run():
    booster = lgb.train({"objective": "binary", "verbose": -1}, lgb.Dataset(X, yb), 5)
    mlflow.lightgbm.log_model(booster, name="model", registered_model_name="iris-lgb")
if len(sys.argv) > 2:  # a second sklearn version, for --watch
    with mlflow.start_run():
        mlflow.sklearn.log_model(
            LogisticRegression(max_iter=200).fit(X, yb),
            name="model",
            registered_model_name="iris-sk",
            serialization_format="cloudpickle",
        )
print("seeded")
