"""The artifact sandbox and the flavor trust rules: only installed code runs, and an uploaded
artifact is loaded and asked to predict in a limited child process."""

from __future__ import annotations

import time

import numpy as np
import pandas as pd
import pytest

import mlwarden as mw
from mlwarden.errors import ArtifactRejected, UntrustedCode
from mlwarden.registry.flavors import (
    Trust,
    flavor_for,
    flavor_names,
    load_flavor,
    plugin_flavors,
)
from mlwarden.registry.flavors.sklearn import type_allowed, vetted_types
from mlwarden.registry.sandbox import Sandbox, sample_frame
from mlwarden.registry.signature import infer_signature
from mlwarden.store.registry_store import NewVersion

HOSTILE = Trust.of(
    f"_hostile_loaders:{n}" for n in ("fine", "sleep_forever", "allocate", "segfault")
)


@pytest.fixture(scope="module")
def sandbox():
    box = Sandbox(timeout_s=3, memory_mb=256)
    sig = {"inputs": [{"name": "a", "type": "float"}]}
    # warm: the zygote's start-up (seconds on a busy machine) is not what the tests time
    box.check_artifact("generic", {"loader": "_hostile_loaders:fine"}, b"{}", sample_frame(sig),
                       trust=HOSTILE)  # fmt: skip
    yield box
    box.close()


@pytest.fixture(scope="module")
def lgb_artifact():
    import lightgbm as lgb

    rng = np.random.default_rng(0)
    X = pd.DataFrame({"a": rng.random(300), "b": pd.Categorical(rng.choice(["x", "y", "z"], 300))})
    y = (X["a"] > 0.5).astype(int).to_numpy()
    model = lgb.LGBMClassifier(n_estimators=5, verbose=-1).fit(X, y)
    data, info = flavor_for(model).save(model)
    signature = infer_signature(X, y, sensitive=[], classes=[0, 1], has_scores=True)
    return data, info, signature


def test_sample_frame_has_the_dtypes_of_a_request():
    sig = {
        "inputs": [
            {"name": "c", "type": "category", "categories": ["x", "y"]},
            {"name": "i", "type": "integer"},
            {"name": "f", "type": "float"},
            {"name": "b", "type": "boolean"},
            {"name": "t", "type": "datetime"},
            {"name": "s", "type": "string", "categories": ["p"]},
        ]
    }
    frame = sample_frame(sig, rows=4)
    assert list(frame.columns) == ["c", "i", "f", "b", "t", "s"]
    assert isinstance(frame["c"].dtype, pd.CategoricalDtype)
    assert list(frame["c"]) == ["x", "y", "x", "y"]
    assert frame["i"].dtype == np.int64 and frame["f"].dtype == float
    assert frame["b"].dtype == bool and frame["s"].tolist() == ["p"] * 4
    assert sample_frame({"inputs": []}) is None


def test_a_sound_artifact_passes_and_later_checks_reuse_the_zygote(sandbox, lgb_artifact):
    data, info, sig = lgb_artifact
    first = sandbox.check_artifact("lightgbm", info, data, sample_frame(sig))
    assert first["rows"] == 8
    zygote = sandbox._proc.pid
    again = sandbox.check_artifact("lightgbm", info, data, sample_frame(sig))
    assert again["rows"] == 8 and sandbox._proc.pid == zygote  # forked, not started again


def test_garbage_lightgbm_is_rejected(sandbox, lgb_artifact):
    _, info, sig = lgb_artifact
    with pytest.raises(ArtifactRejected, match="lightgbm artifact failed") as err:
        sandbox.check_artifact("lightgbm", info, b"x", sample_frame(sig))
    assert err.value.http_status == 422 and err.value.details["field"] == "artifact"


def test_a_model_that_cannot_predict_its_inputs_is_rejected(sandbox, lgb_artifact):
    data, info, _ = lgb_artifact
    wrong = {"inputs": [{"name": "only", "type": "float"}]}
    with pytest.raises(ArtifactRejected):
        sandbox.check_artifact("lightgbm", info, data, sample_frame(wrong))


def test_an_untrusted_loader_never_runs(sandbox, tmp_path):
    marker = tmp_path / "ran"
    info = {"loader": "_hostile_loaders:write_marker"}
    with pytest.raises(ArtifactRejected, match="not trusted"):
        sandbox.check_artifact("generic", info, str(marker).encode(), None)
    payload = f"open({str(marker)!r}, 'w').write('pwned')".encode()
    with pytest.raises(ArtifactRejected, match="not trusted"):
        sandbox.check_artifact("generic", {"loader": "runpy:run_path"}, payload, None)
    assert not marker.exists()


@pytest.mark.parametrize(
    ("loader", "problem", "words"),
    [
        ("sleep_forever", "timeout", "within 3 s"),
        ("allocate", "memory", "out of memory"),
        ("segfault", "crash", "SIGSEGV"),
    ],
)
def test_hostile_loaders_are_contained(sandbox, loader, problem, words):
    sig = {"inputs": [{"name": "a", "type": "float"}]}
    started = time.monotonic()
    with pytest.raises(ArtifactRejected, match=words) as err:
        sandbox.check_artifact(
            "generic", {"loader": f"_hostile_loaders:{loader}"}, b"{}", sample_frame(sig),
            trust=HOSTILE,
        )  # fmt: skip
    assert err.value.details["problem"] == problem
    assert time.monotonic() - started < 3 + 12  # the 3 s limit, and room for a loaded host
    # the zygote survives its worker's end: the next check works
    ok = sandbox.check_artifact(
        "generic", {"loader": "_hostile_loaders:fine"}, b"{}", sample_frame(sig), trust=HOSTILE
    )
    assert ok["rows"] == 8


def test_a_dead_zygote_is_started_again(lgb_artifact):
    data, info, sig = lgb_artifact
    box = Sandbox(timeout_s=5)
    try:
        box.check_artifact("lightgbm", info, data, sample_frame(sig))
        assert box._proc is not None
        box._proc.kill()
        box._proc.wait()
        assert box.check_artifact("lightgbm", info, data, sample_frame(sig))["rows"] == 8
    finally:
        box.close()


def test_generic_loader_needs_trust():
    flavor = load_flavor("generic")
    with pytest.raises(UntrustedCode) as err:
        flavor.load(b"print(1)", {"loader": "runpy:run_path"})
    assert err.value.http_status == 403
    assert err.value.details["field"] == "flavor_info.loader"
    trusted = load_flavor("generic", Trust.of(["_hostile_loaders:fine"]))
    assert trusted.load(b"{}", {"loader": "_hostile_loaders:fine"}).predict([1, 2]).shape == (2,)


def test_unknown_flavor_is_refused():
    with pytest.raises(UntrustedCode, match="not installed"):
        load_flavor("pickle")


def test_skops_types_are_computed_here_and_checked():
    import os

    import skops.io as sio
    from sklearn.preprocessing import FunctionTransformer

    data = sio.dumps(FunctionTransformer(os.system))
    with pytest.raises(UntrustedCode, match=r"posix\.system"):
        vetted_types(data)
    # whatever the stored info claims, the host's rules decide
    with pytest.raises(UntrustedCode):
        load_flavor("sklearn").load(data, {"trusted_types": ["posix.system"]})
    assert type_allowed("lightgbm.sklearn.LGBMClassifier")
    assert not type_allowed("numpy.load") and not type_allowed("builtins.eval")
    assert type_allowed("mypkg.Scaler", Trust.of(types=["mypkg"]))
    with pytest.raises(ArtifactRejected, match="not a skops file"):
        vetted_types(b"garbage")


def test_entry_point_flavors_are_installed_code(tmp_path, monkeypatch, sandbox):
    pkg = tmp_path / "mw_plain_flavor"
    pkg.mkdir()
    (pkg / "__init__.py").write_text(
        "import json\n"
        "import numpy as np\n"
        "from mlwarden.registry.flavors import Flavor\n"
        "class Const:\n"
        "    def __init__(self, v): self.v = v\n"
        "    def predict(self, X): return np.full(len(X), self.v)\n"
        "class PlainFlavor(Flavor):\n"
        "    name = 'plain'\n"
        "    def matches(self, model): return isinstance(model, Const)\n"
        "    def save(self, model): return json.dumps(model.v).encode(), {}\n"
        "    def load(self, data, info): return Const(json.loads(data))\n"
    )
    dist = tmp_path / "mw_plain_flavor-0.1.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: mw-plain-flavor\nVersion: 0.1\n")
    (dist / "entry_points.txt").write_text(
        "[mlwarden.flavors]\nplain = mw_plain_flavor:PlainFlavor\n"
        "sklearn = mw_plain_flavor:PlainFlavor\n"  # a plugin cannot replace a built-in
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    plugin_flavors.cache_clear()
    try:
        assert "plain" in flavor_names()
        assert type(load_flavor("sklearn")).__name__ == "SklearnFlavor"
        assert load_flavor("plain").load(b"7", {}).predict([0, 0]).tolist() == [7, 7]
        # the sandbox's child finds it too (same import path)
        fresh = Sandbox(timeout_s=10)
        try:
            sig = {"inputs": [{"name": "a", "type": "float"}]}
            assert fresh.check_artifact("plain", {}, b"3", sample_frame(sig))["rows"] == 8
        finally:
            fresh.close()
    finally:
        monkeypatch.undo()
        plugin_flavors.cache_clear()
    assert "plain" not in flavor_names()


def test_a_stored_generic_version_with_an_untrusted_loader_is_not_loaded(warden, tmp_path):
    from _generic_model import ThresholdModel, load, save

    X = pd.DataFrame({"age": np.arange(20.0)})
    y = (X["age"] > 9).astype(int)
    mv = warden.register_model(
        "rule", ThresholdModel("age", 9), save_fn=save, load_fn=load, train=mw.Dataset(X, y)
    )
    # the process that registered its own function may load it again
    assert warden.load_model(mv.ref).predict(X).sum() == 10
    marker = tmp_path / "ran"
    data = f"open({str(marker)!r}, 'w').write('pwned')".encode()
    digest = warden.artifacts.put(data)
    spec = NewVersion(
        artifact_sha256=digest,
        artifact_size=len(data),
        flavor="generic",
        flavor_info={"loader": "runpy:run_path"},
        signature={"inputs": [], "output": {}},
        lineage={},
        metrics={},
        params={},
        description=None,
    )
    with warden.db.transaction():
        bad = warden.registry.store.create_version("rule", spec, {}, "mallory")
    with pytest.raises(UntrustedCode):
        warden.load_model(bad.ref)
    # another process over the same store trusts neither loader
    other = mw.Warden(warden.uri, artifacts=str(warden.artifacts.root), actor="bob")
    try:
        with pytest.raises(UntrustedCode):
            other.load_model(mv.ref)
        with pytest.raises(UntrustedCode):
            other.load_model(bad.ref)
        allowed = mw.Warden(
            warden.uri,
            artifacts=str(warden.artifacts.root),
            settings=mw.Settings(trusted_loaders="_generic_model:load", actor="bob"),
        )
        try:
            assert allowed.load_model(mv.ref).predict(X).sum() == 10
        finally:
            allowed.close()
    finally:
        other.close()
    assert not marker.exists()


def test_trusted_loaders_setting_reads_a_comma_separated_list(monkeypatch):
    monkeypatch.setenv("MLWARDEN_TRUSTED_LOADERS", "a.b:load, c:d")
    monkeypatch.setenv("MLWARDEN_TRUSTED_TYPES", "mypkg")
    settings = mw.Settings()
    assert settings.trusted_loaders == ["a.b:load", "c:d"]
    assert settings.trusted_types == ["mypkg"]
    assert settings.sandbox_timeout_s > 0 and settings.sandbox_memory_mb >= 64
