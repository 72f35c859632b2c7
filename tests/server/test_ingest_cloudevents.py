"""KServe inference-logger CloudEvents into the prediction log, over a live uvicorn server:
events built by the ``cloudevents`` SDK in binary and structured modes, V1 and OIP v2
payloads, paired by id; unpaired, malformed, oversized and unauthorized ones refused."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest
from cloudevents.core.bindings.http import to_binary, to_structured
from cloudevents.core.formats.json import JSONFormat
from cloudevents.core.v1.event import CloudEvent
from serve_support import records

from mlwarden.monitor.kserve import row_ids

KIND = "org.kubeflow.serving.inference"


def event(kind: str, event_id: str, data: Any, service: str | None = "credit") -> CloudEvent:
    attrs = {
        "id": event_id,
        "source": "http://localhost:9081/",
        "type": f"{KIND}.{kind}",
        "specversion": "1.0",
        "datacontenttype": "application/json",
    }
    if service:
        attrs |= {"inferenceservicename": service, "namespace": "default"}
    return CloudEvent(attrs, data)


def post(live, store, ev: CloudEvent, *, structured: bool = False, **kw: Any) -> httpx.Response:
    message = (to_structured if structured else to_binary)(ev, JSONFormat())
    headers = {**message.headers, **store.headers(kw.pop("token", None))}
    return httpx.post(
        f"{live.url}/v1/ingest/cloudevents",
        content=message.body,
        headers=headers,
        timeout=30,
        **kw,
    )


def logged(store, ids: list[str]) -> dict[str, Any]:
    frame = store.warden.predictions("credit")
    return {row["id"]: row for row in frame.to_dict(orient="records") if row["id"] in ids}


def test_binary_v1_pair_is_logged_and_audited(live, store, credit_data, lgb_model):
    X = credit_data[2].head(3)
    rows = records(X)
    names = list(X.columns)
    eid = str(uuid.uuid4())
    before = len(store.warden.audit.events(action="predictions.log"))
    # V1 instances as lists in the model's input order, as sklearn servers receive them
    request = event("request", eid, {"instances": [[r[n] for n in names] for r in rows]})
    first = post(live, store, request)
    assert first.status_code == 202, first.text
    assert first.json()["status"] == "waiting"
    assert logged(store, [eid]) == {}
    preds = [str(p) for p in lgb_model.predict(X)]
    second = post(live, store, event("response", eid, {"predictions": preds}))
    assert second.status_code == 201, second.text
    ids = second.json()["ids"]
    assert ids == row_ids(eid, 3)  # ids fit the 36-character column, stable across retries
    assert len(set(ids)) == 3 and all(len(i) == 36 for i in ids)
    found = logged(store, ids)
    assert [str(found[i]["output"]) for i in ids] == preds
    audited = store.warden.audit.events(action="predictions.log")
    assert len(audited) == before + 1
    assert audited[-1].actor == "alice"


def test_structured_v2_pair_response_first(live, store, credit_data, lgb_model):
    X = credit_data[2].head(2)
    cols = {c: records(X[[c]]) for c in X.columns}
    tensors = [
        {"name": c, "shape": [2], "datatype": "BYTES", "data": [r[c] for r in cols[c]]}
        for c in X.columns
    ]
    preds = [str(p) for p in lgb_model.predict(X)]
    eid = str(uuid.uuid4())
    response = {
        "model_name": "credit",
        "outputs": [{"name": "predict", "shape": [2], "datatype": "BYTES", "data": preds}],
    }
    assert post(live, store, event("response", eid, response), structured=True).status_code == 202
    done = post(live, store, event("request", eid, {"inputs": tensors}), structured=True)
    assert done.status_code == 201, done.text
    found = logged(store, done.json()["ids"])
    assert sorted(str(r["output"]) for r in found.values()) == sorted(preds)


def test_a_redelivered_pair_is_refused_as_a_duplicate(live, store, credit_data):
    rows = records(credit_data[2].head(1))
    eid = "a-request-id-longer-than-a-uuid-is-allowed-" + uuid.uuid4().hex
    post(live, store, event("request", eid, {"instances": rows}))
    first = post(live, store, event("response", eid, {"predictions": ["<=50K"]}))
    assert first.status_code == 201, first.text
    assert first.json()["ids"] == row_ids(eid, 1)
    post(live, store, event("request", eid, {"instances": rows}))
    again = post(live, store, event("response", eid, {"predictions": ["<=50K"]}))
    assert again.status_code == 409, again.text
    assert len(logged(store, row_ids(eid, 1))) == 1


def test_unpaired_and_duplicate_halves(live, store, credit_data):
    eid = str(uuid.uuid4())
    lone = post(live, store, event("response", eid, {"predictions": ["<=50K"]}))
    assert lone.status_code == 202
    again = post(live, store, event("response", eid, {"predictions": ["<=50K"]}))
    assert again.status_code == 422
    assert again.json()["details"]["field"] == "id"
    assert logged(store, [eid]) == {}


def test_a_pair_that_does_not_match_logs_nothing(live, store, credit_data):
    rows = records(credit_data[2].head(2))
    eid = str(uuid.uuid4())
    post(live, store, event("request", eid, {"instances": rows}))
    bad = post(live, store, event("response", eid, {"predictions": ["<=50K"]}))
    assert bad.status_code == 422
    assert "1 outputs for 2 request rows" in bad.json()["message"]
    assert logged(store, row_ids(eid, 2)) == {}


@pytest.mark.parametrize(
    ("headers", "body", "status", "field"),
    [
        ({"content-type": "application/json"}, b"{}", 422, "ce-specversion"),
        (
            {"ce-specversion": "1.0", "ce-id": "x", "ce-source": "s", "ce-type": f"{KIND}.request"},
            b'{"instances": [1,',
            400,
            "data",
        ),
        (
            {"ce-specversion": "1.0", "ce-id": "x", "ce-source": "s", "ce-type": "com.example.x"},
            b'{"instances": []}',
            422,
            "type",
        ),
        (
            {"ce-specversion": "0.3", "ce-id": "x", "ce-source": "s", "ce-type": f"{KIND}.request"},
            b"{}",
            422,
            "specversion",
        ),
        (
            {"ce-specversion": "1.0", "ce-source": "s", "ce-type": f"{KIND}.request"},
            b"{}",
            422,
            "id",
        ),
        (
            {"ce-specversion": "1.0", "ce-id": "x", "ce-source": "s", "ce-type": f"{KIND}.request"},
            b"[" * 100 + b"]" * 100,
            400,
            "data",
        ),
        (
            {"ce-specversion": "1.0", "ce-id": "x", "ce-source": "s", "ce-type": f"{KIND}.request"},
            b'{"instances": [1, NaN]}',
            400,
            "data",
        ),
    ],
)
def test_malformed_events_are_named_4xx(live, store, headers, body, status, field):
    headers = {"content-type": "application/json", "ce-inferenceservicename": "credit", **headers}
    r = httpx.post(
        f"{live.url}/v1/ingest/cloudevents",
        content=body,
        headers={**headers, **store.headers()},
        timeout=30,
    )
    assert r.status_code == status, r.text
    assert r.json()["details"]["field"] == field


def test_structured_without_a_model_name_is_refused(live, store):
    anonymous = event("request", "x", {"instances": [[1]]}, service=None)
    r = post(live, store, anonymous, structured=True)
    assert r.status_code == 422
    assert r.json()["details"]["field"] == "model"


def test_oversized_event_is_413(live, store):
    big = {"instances": [{"pad": "x" * (9 * 1024 * 1024)}]}
    r = post(live, store, event("request", "big", big))
    assert r.status_code == 413


def test_role_is_checked_before_the_body_is_parsed(live, store):
    wd = store.warden
    wd.create_user("vic", "viewer")
    viewer = wd.create_token("vic").token
    garbage = {"content-type": "application/json", "ce-inferenceservicename": "credit"}
    r = httpx.post(
        f"{live.url}/v1/ingest/cloudevents",
        content=b"not json at all",
        headers={**garbage, **store.headers(viewer)},
        timeout=30,
    )
    assert r.status_code == 403, r.text
    anonymous = httpx.post(
        f"{live.url}/v1/ingest/cloudevents", content=b"{}", headers=garbage, timeout=30
    )
    assert anonymous.status_code == 401
