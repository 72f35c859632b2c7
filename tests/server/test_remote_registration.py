"""Remote registration is measured by the server (issue 14, requirement 4, stage 3): the SDK
uploads the artifact and the datasets, the server loads the artifact with its own flavor and
computes the signature, metrics and evidence; the result matches a local registration."""

from __future__ import annotations

import os

import pytest

import mlwarden as mw

VERIFIED_GATE = """\
name: verified-auc
verified: [metrics.roc_auc, fairness]
rules:
  - id: auc
    check: version.metrics.roc_auc >= 0.8
"""


@pytest.fixture
def remote(inproc, store):
    with inproc.warden(store.token) as wd:
        yield wd


def _datasets(small_adult):
    train, test = small_adult
    X, y = train.drop(columns="income"), train["income"]
    Xt, yt = test.drop(columns="income"), test["income"]
    return mw.Dataset(X, y, name="adult-train"), mw.Dataset(Xt, yt, name="adult-eval")


def test_remote_registration_measures_what_a_local_one_does(
    remote, store, lgb_model, small_adult, tmp_path
):
    train, eval_ = _datasets(small_adult)
    kwargs = {"train": train, "eval": eval_, "sensitive_features": ["sex", "race"]}
    local = store.warden.register_model("local-credit", lgb_model, **kwargs)
    mv = remote.register_model("remote-credit", lgb_model, description="remote", **kwargs)

    assert mv.created_by == "alice" and mv.flavor == "lightgbm"
    assert mv.artifact_sha256 == local.artifact_sha256  # the uploaded bytes, stored as sent
    assert mv.metrics == local.metrics and "roc_auc" in mv.metrics
    assert mv.measured_metrics == mv.metrics
    assert set(mv.provenance.values()) == {"measured"}
    assert mv.provenance == local.provenance
    assert mv.signature == local.signature
    for role in ("train", "eval"):
        assert mv.lineage["datasets"][role]["sha256"] == local.lineage["datasets"][role]["sha256"]
    assert list(mv.lineage["reported_by_client"]) == ["code", "client_environment"]
    assert set(mv.evidence) == set(local.evidence)
    for kind in sorted(set(local.evidence) - {"reference_profile"}):
        assert remote.get_evidence("remote-credit@1", kind) == store.warden.get_evidence(
            "local-credit@1", kind
        ), kind  # fairness, importance, calibration, privacy: identical
    # quantile sketches are randomised, so two profiles of the same data agree on the rest
    theirs = remote.get_evidence("remote-credit@1", "reference_profile")
    ours = store.warden.get_evidence("local-credit@1", "reference_profile")
    for key in ("status", "rows", "source", "excluded_identifying_columns"):
        assert theirs[key] == ours[key]
    assert set(theirs["summary"]["columns"]) == set(ours["summary"]["columns"])
    assert set(theirs["segments"]["sex"]) == set(ours["segments"]["sex"])

    # a gate that requires verified (measured) evidence passes on it
    gate = tmp_path / "verified.yaml"
    gate.write_text(VERIFIED_GATE)
    decision = remote.check("remote-credit@1", gate)
    assert decision.passed, decision.results
    verdicts = {r.id: r.verdict for r in decision.results}
    assert verdicts["verified:metrics.roc_auc"] == "pass"
    assert verdicts["verified:fairness"] == "pass"

    events = store.warden.audit.events("remote-credit", action="version.register")
    assert events[-1].payload["via"] == "api"
    assert events[-1].payload["provenance"]["metrics.roc_auc"] == "measured"


def test_uploads_are_content_addressed_and_skipped_when_held(remote, inproc, store):
    data = os.urandom(3 * 1024 * 1024 + 7)  # over one write batch
    sent: list[str] = []
    with inproc.client(
        headers=store.headers(),
        event_hooks={"request": [lambda r: sent.append(r.method)]},
    ) as http:
        remote._http = http
        digest = remote._upload(data)
        assert sent == ["HEAD", "PUT"]
        assert remote._upload(data) == digest
        assert sent == ["HEAD", "PUT", "HEAD"]  # held: not sent again
        again = http.put(
            f"/v1/blobs/{digest}",
            content=data,
            headers={"Content-Type": "application/octet-stream"},
        )
        assert again.status_code == 200 and again.json()["created"] is False
    assert store.warden.artifacts.get(digest) == data


def test_generic_flavor_is_refused_remotely(remote, lgb_model, inproc, store):
    with pytest.raises(mw.ValidationError, match="installed flavors"):
        remote.register_model("rule", lgb_model, save_fn=lambda m, p: None, load_fn=print)
    with inproc.client() as http:
        r = http.post(
            "/v1/models/rule/registrations",
            headers=store.headers(),
            json={
                "artifact_sha256": "0" * 64,
                "flavor": "generic",
                "flavor_info": {"loader": "os:system"},
            },
        )
    assert r.status_code == 422 and r.json()["details"]["field"] == "flavor"
    assert "rule" not in [m.name for m in store.warden.list_models()]


def test_a_failing_job_raises_the_servers_error_and_stores_nothing(remote, store, small_adult):
    garbage = remote._upload(b"not a lightgbm model")
    r = remote._call(
        "POST",
        "/v1/models/garbage/registrations",
        json={"artifact_sha256": garbage, "flavor": "lightgbm"},
    )
    assert r["state"] in ("queued", "running", "failed")
    with pytest.raises(mw.ValidationError, match="lightgbm artifact failed the check"):
        remote._wait(r, "registering garbage")
    assert "garbage" not in [m.name for m in store.warden.list_models()]
    # a blob never uploaded is refused at once
    with pytest.raises(mw.ValidationError, match="no uploaded blob"):
        remote._call(
            "POST",
            "/v1/models/garbage/registrations",
            json={"artifact_sha256": "a" * 64, "flavor": "lightgbm"},
        )
