"""``mlwarden import mlflow`` against a real ``mlflow server`` (SQLite backend) started from
its own environment: versions, aliases, tags, descriptions and runs mirrored; LightGBM read
natively; a pickle refused unless an admin trusts it (audited); re-sync idempotent."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from interop_support import mlflow_python, mlflow_server
from sklearn.datasets import load_iris
from typer.testing import CliRunner

import mlwarden as mw
from mlwarden.cli.main import app
from mlwarden.errors import ValidationError
from mlwarden.registry.mlflow_import import import_mlflow, signature_inputs

SEED = Path(__file__).with_name("scripts") / "mlflow_seed.py"


@pytest.fixture(scope="module")
def tracking(tmp_path_factory) -> Iterator[tuple[str, Path]]:
    folder = tmp_path_factory.mktemp("mlflow")
    with mlflow_server(folder) as url:
        mlflow_python(SEED, url)
        yield url, folder


@pytest.fixture
def local(tmp_path) -> Iterator[mw.Warden]:
    wd = mw.Warden(f"sqlite:///{tmp_path / 'w.db'}", actor="alice")
    wd.create_user("alice", "admin")
    wd.create_user("dave", "developer")
    yield wd
    wd.close()


def test_import_mirrors_and_refuses_pickles_unless_trusted(local, tracking):
    url, _ = tracking
    first = import_mlflow(local, url)
    assert sorted(line.split(" ")[0] for line in first.imported) == ["iris-lgb@1", "iris-skops@1"]
    assert [r.split(":")[0] for r in first.refused] == ["iris-sk v1"]
    assert "pickle" in first.refused[0]
    lgb_v = local.get_model_version("iris-lgb@1")
    assert lgb_v.flavor == "lightgbm"
    assert lgb_v.lineage["mlflow"]["read_as"] == "lightgbm-native"
    skops_v = local.get_model_version("iris-skops@1")
    assert (skops_v.flavor, skops_v.lineage["mlflow"]["read_as"]) == ("sklearn", "skops")
    # MLflow's column signature becomes the version's: it validates and serves like any other
    iris = load_iris(as_frame=True).frame.drop(columns="target")
    assert [(c["name"], c["type"]) for c in skops_v.signature["inputs"]] == [
        (column, "float") for column in iris.columns
    ]
    served = local.predict("iris-skops", iris.head(2), version=1)
    assert len(served["outputs"]) == len(served["ids"]) == 2
    with pytest.raises(ValidationError, match="sepal length"):
        local.predict("iris-skops", iris.head(2).drop(columns="sepal length (cm)"), version=1)
    assert not local.audit.events(action="mlflow.trust_pickle")

    trusted = import_mlflow(local, url, trust_pickle=True)
    assert [line.split(" ")[0] for line in trusted.imported] == ["iris-sk@1"]
    assert trusted.aliases == ["iris-sk@champion -> 1"]
    sk = local.get_model_version("iris-sk@1")
    assert sk.flavor == "sklearn"  # stored as skops, never as the pickle
    ml = sk.lineage["mlflow"]
    assert ml["params"] == {"C": "0.5"}
    assert ml["metrics"]["auc"] == pytest.approx(0.97)
    assert [d["name"] for d in ml["datasets"]] == ["iris"]
    assert ml["datasets"][0]["context"] == "training"
    assert sk.metrics["mlflow.auc"] == pytest.approx(0.97)
    assert sk.provenance["metrics.mlflow.auc"] == "asserted"
    model = local.get_model("iris-sk")
    assert model.description == "setosa or not" and model.tags["team"] == "risk"
    assert model.aliases["champion"] == 1
    trusts = local.audit.events(action="mlflow.trust_pickle")
    assert len(trusts) == 1 and trusts[0].actor == "alice"

    events = local.audit.size
    again = import_mlflow(local, url, trust_pickle=True)
    assert again.imported == [] and again.aliases == [] and len(again.skipped) == 3
    assert local.audit.size == events  # nothing changed, nothing audited


def test_trust_pickle_is_an_admins_decision(local, tracking):
    url, _ = tracking
    dave = mw.Warden(local.uri, actor="dave", artifacts=local.settings.resolved_artifacts())
    try:
        with pytest.raises(mw.PermissionDenied):
            import_mlflow(dave, url, trust_pickle=True)
    finally:
        dave.close()
    assert local.audit.events(action="access.denied")[-1].actor == "dave"


def test_cli_follows_new_versions(local, tracking, tmp_path):
    url, _ = tracking
    runner = CliRunner()
    args = ["import", "mlflow", "--tracking-uri", url, "--model", "iris-sk", "--uri", local.uri]
    out = runner.invoke(app, [*args, "--trust-pickle"], env={"MLWARDEN_ACTOR": "alice"})
    assert out.exit_code == 0, out.output
    assert "1 imported" in out.output
    mlflow_python(SEED, url, "second")  # a new MLflow version appears
    out = runner.invoke(app, [*args, "--trust-pickle"], env={"MLWARDEN_ACTOR": "alice"})
    assert out.exit_code == 0, out.output
    assert "imported iris-sk@2 (mlflow v2)" in out.output
    bad = runner.invoke(
        app, ["import", "mlflow", "--tracking-uri", "http://127.0.0.1:9", "--uri", local.uri]
    )
    assert bad.exit_code != 0
    assert "Traceback" not in bad.output


@pytest.mark.parametrize(
    "signature",
    [
        None,
        {"inputs": '[{"type": "tensor", "tensor-spec": {"dtype": "float64", "shape": [-1, 4]}}]'},
        {"inputs": "not json"},
        {"inputs": '{"a": 1}'},
    ],
)
def test_signatures_without_named_columns_give_no_inputs(signature):
    assert signature_inputs(signature) == []


def test_a_column_signature_maps_types_and_required():
    text = json.dumps(
        [
            {"type": "long", "name": "age", "required": True},
            {"type": "string", "name": "city", "required": False},
        ]
    )
    assert signature_inputs({"inputs": text}) == [
        {"name": "age", "type": "integer", "nullable": False, "sensitive": False},
        {"name": "city", "type": "string", "nullable": True, "sensitive": False},
    ]
