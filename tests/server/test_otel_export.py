"""OpenTelemetry: a caller's W3C traceparent is stored with its prediction and echoed back;
governance events (decisions, promotions, rollbacks, alerts) reach an OTLP/HTTP receiver in
this process (protobuf decoded with opentelemetry-proto) as spans."""

from __future__ import annotations

import gzip
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest
from serve_support import LiveServer, free_port, records

import mlwarden as mw
from mlwarden.audit.otel import GovernanceExporter
from mlwarden.server import create_app
from mlwarden.settings import OtelSettings

TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
TRACEPARENT = f"00-{TRACE_ID}-00f067aa0ba902b7-01"


class OtlpReceiver:
    """A minimal OTLP/HTTP trace receiver: decodes each ExportTraceServiceRequest."""

    def __init__(self) -> None:
        from opentelemetry.proto.collector.trace.v1 import trace_service_pb2

        self.spans: list[Any] = []
        self.resources: list[dict[str, Any]] = []
        received = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                if self.headers.get("Content-Encoding") == "gzip":
                    body = gzip.decompress(body)
                request = trace_service_pb2.ExportTraceServiceRequest()
                request.ParseFromString(body)
                for rs in request.resource_spans:
                    attrs = {a.key: a.value.string_value for a in rs.resource.attributes}
                    received.resources.append(attrs)
                    for ss in rs.scope_spans:
                        received.spans.extend(ss.spans)
                answer = trace_service_pb2.ExportTraceServiceResponse().SerializeToString()
                self.send_response(200 if self.path == "/v1/traces" else 404)
                self.send_header("Content-Type", "application/x-protobuf")
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", free_port()), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def named(self, name: str) -> list[Any]:
        return [s for s in self.spans if s.name == name]


@pytest.fixture
def receiver() -> Iterator[OtlpReceiver]:
    r = OtlpReceiver()
    r.thread.start()
    yield r
    r.server.shutdown()


def attributes(span: Any) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for a in span.attributes:
        v = a.value
        out[a.key] = getattr(v, v.WhichOneof("value"))
    return out


def test_traceparent_is_stored_and_echoed(live, store, credit_data):
    X = credit_data[2]
    url = f"{live.url}/v1/models/credit/predict"
    r = httpx.post(
        url,
        json={"records": records(X, 2)},
        headers={**store.headers(), "traceparent": TRACEPARENT},
        timeout=30,
    )
    assert r.status_code == 200, r.text
    assert r.headers["traceparent"] == TRACEPARENT
    for pid in r.json()["ids"]:
        assert store.warden.prediction(pid)["traceparent"] == TRACEPARENT
    # OIP v2 as well
    tensors = [
        {"name": c, "shape": [1], "datatype": "BYTES", "data": [records(X[[c]], 1)[0][c]]}
        for c in X.columns
    ]
    v2 = httpx.post(
        f"{live.url}/v2/models/credit/infer",
        json={"inputs": tensors},
        headers={**store.headers(), "traceparent": TRACEPARENT},
        timeout=30,
    )
    assert v2.status_code == 200, v2.text
    assert v2.headers["traceparent"] == TRACEPARENT
    pid = next(o for o in v2.json()["outputs"] if o["name"] == "prediction_id")["data"][0]
    assert store.warden.prediction(pid)["traceparent"] == TRACEPARENT
    # an invalid header is ignored (W3C): the prediction is served, nothing stored or echoed
    bad = httpx.post(
        url,
        json={"records": records(X, 1)},
        headers={**store.headers(), "traceparent": "00-" + "0" * 32 + "-00f067aa0ba902b7-01"},
        timeout=30,
    )
    assert bad.status_code == 200
    assert "traceparent" not in bad.headers
    assert store.warden.prediction(bad.json()["ids"][0])["traceparent"] is None


def test_governance_events_become_spans(store, receiver, lgb_model, credit_data):
    wd = store.warden
    X, y, _ = credit_data
    wd.register_model("credit", lgb_model, train=mw.Dataset(X, y), risk_tier="low")
    exporter = GovernanceExporter(wd.audit, OtelSettings(endpoint=receiver.url))
    wd.set_alias("credit", "staging", 1, reason="candidate")
    decision = wd.check("credit@1", "production-gate")
    wd.set_alias("credit", "production", 2, override=True, reason="release")
    wd.rollback("credit", alias="production", reason="bad release")
    wd.create_user("bob", "viewer")  # not a governance event: not exported
    sent = exporter.export_new()
    assert exporter.export_new() == 0  # each event once
    exporter.shutdown()
    assert sent == len(receiver.spans)
    # the forced move records both the override and the move itself
    assert sorted(s.name for s in receiver.spans) == [
        "alias.override",
        "alias.rollback",
        "alias.set",
        "alias.set",
        "policy.decision",
    ]
    assert receiver.resources[0]["service.name"] == "mlwarden"
    span = receiver.named("policy.decision")[0]
    attrs = attributes(span)
    assert attrs["warden.actor"] == "alice"
    assert attrs["warden.subject"].startswith("model:credit")
    assert attrs["warden.passed"] == decision.passed
    seqs = [attributes(s)["warden.seq"] for s in receiver.spans]
    events = {e.seq: e for e in wd.audit.events(model="credit")}
    for seq in seqs:
        assert events[seq].action in {s.name for s in receiver.spans}
    assert not receiver.named("user.create")


def test_the_server_exports_while_it_runs(store, receiver):
    wd = store.warden
    tree = wd.settings.model_copy(
        update={"otel": OtelSettings(endpoint=receiver.url, interval_s=0.1)}
    )
    app = create_app(tree, wd)
    with LiveServer(app) as server:
        r = httpx.put(
            f"{server.url}/v1/models/credit/aliases/staging",
            json={"version": 1, "reason": "candidate"},
            headers=store.headers(),
            timeout=30,
        )
        assert r.status_code < 300, r.text
        deadline = time.monotonic() + 20
        while not receiver.named("alias.set") and time.monotonic() < deadline:
            time.sleep(0.05)
    assert receiver.named("alias.set"), "no span reached the receiver"
    assert attributes(receiver.named("alias.set")[0])["warden.alias"] == "staging"


def test_missing_endpoint_is_refused(store):
    with pytest.raises(ValueError, match="endpoint"):
        GovernanceExporter(store.warden.audit, OtelSettings())
    assert mw.Settings().otel.endpoint is None
