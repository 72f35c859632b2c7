"""KServe inference-logger CloudEvents into the prediction log.

KServe's logger (``spec.predictor.logger``) posts each request and each response of an
InferenceService as its own CloudEvent, both with the same ``id``: type
``org.kubeflow.serving.inference.request`` then ``….response``, the payload as the model
server saw it (V1 ``{"instances": …}`` / ``{"predictions": …}``, or Open Inference Protocol v2
``{"inputs": [tensors]}`` / ``{"outputs": [tensors]}``). This module parses both HTTP modes
(binary: ``ce-*`` headers and the payload as body; structured: one JSON envelope) without
the CloudEvents SDK, pairs the halves by id in a bounded buffer, and turns a pair into the
rows, outputs and ids ``log_predictions`` takes (which masks and audits them).

Halves wait in the store (``IngestStore``), so the two halves of one inference may reach
different workers or replicas.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import unquote

from mlwarden.errors import MalformedJson, ValidationError
from mlwarden.monitor.predictions import MAX_PREDICTION_ID
from mlwarden.store.ingest_store import IngestStore

REQUEST_SUFFIX = ".inference.request"
RESPONSE_SUFFIX = ".inference.response"
STRUCTURED = "application/cloudevents+json"
#: deepest JSON nesting an event may have (a v2 tensor of rows is three levels down)
MAX_DEPTH = 32
#: longest ``id`` and extension value kept
MAX_ATTRIBUTE = 256


@dataclass(frozen=True)
class Event:
    """One logger event: its id, whether it is the request or the response half, the
    InferenceService it came from (extension ``inferenceservicename``) and its payload."""

    id: str
    kind: str  # "request" | "response"
    service: str | None
    payload: Any
    time: str | None = None
    traceparent: str | None = None


@dataclass(frozen=True)
class Pair:
    request: Event
    response: Event


def _depth_ok(value: Any, limit: int = MAX_DEPTH) -> bool:
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if depth > limit:
            return False
        if isinstance(item, dict):
            stack.extend((v, depth + 1) for v in item.values())
        elif isinstance(item, list):
            stack.extend((v, depth + 1) for v in item)
    return True


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def load_json(body: bytes, what: str) -> Any:
    """``body`` as JSON (RFC 8259: no NaN), at most ``MAX_DEPTH`` deep; ``MalformedJson``."""
    try:
        value = json.loads(body, parse_constant=_no_constant)
    except (ValueError, RecursionError) as exc:
        raise MalformedJson(f"{what} is not valid JSON: {exc}", field=what) from exc
    if not _depth_ok(value):
        raise MalformedJson(f"{what} nests deeper than {MAX_DEPTH} levels", field=what)
    return value


def _attribute(value: Any, name: str, *, required: bool = True) -> str | None:
    if value is None or value == "":
        if required:
            raise ValidationError(f"the CloudEvent has no {name}", field=name)
        return None
    if not isinstance(value, str) or len(value) > MAX_ATTRIBUTE:
        raise ValidationError(
            f"the CloudEvent's {name} must be a string of at most {MAX_ATTRIBUTE} characters",
            field=name,
        )
    return value


def parse_event(headers: dict[str, str], body: bytes) -> Event:
    """One CloudEvent from an HTTP request: ``headers`` lower-cased; binary mode when
    ``ce-specversion`` is present, structured mode for ``application/cloudevents+json``."""
    ctype = headers.get("content-type", "").split(";")[0].strip().lower()
    if ctype == STRUCTURED:
        envelope = load_json(body, "body")
        if not isinstance(envelope, dict):
            raise ValidationError("a structured CloudEvent is a JSON object", field="body")
        attrs = {k: envelope.get(k) for k in envelope if k not in ("data", "data_base64")}
        if "data_base64" in envelope:
            raise ValidationError(
                "data_base64 is not supported: KServe's logger sends JSON data",
                field="data_base64",
            )
        payload = envelope.get("data")
        if isinstance(payload, str):  # JSON data sent as a string
            payload = load_json(payload.encode(), "data")
    elif "ce-specversion" in headers:
        # header values are percent-encoded (CloudEvents HTTP binding, section 3.1.3.2)
        attrs = {k[3:]: unquote(v) for k, v in headers.items() if k.startswith("ce-")}
        if ctype and not (ctype == "application/json" or ctype.endswith("+json")):
            raise ValidationError(f"data of type {ctype} is not JSON", field="datacontenttype")
        payload = load_json(body, "data")
    else:
        raise ValidationError(
            "not a CloudEvent: send ce-* headers (binary mode) or "
            f"Content-Type: {STRUCTURED} (structured mode)",
            field="ce-specversion",
        )
    if str(attrs.get("specversion")) != "1.0":
        raise ValidationError("only CloudEvents specversion 1.0 is understood", field="specversion")
    _attribute(attrs.get("source"), "source")
    event_type = _attribute(attrs.get("type"), "type") or ""
    if event_type.endswith(REQUEST_SUFFIX):
        kind = "request"
    elif event_type.endswith(RESPONSE_SUFFIX):
        kind = "response"
    else:
        raise ValidationError(
            f"event type {event_type!r} is neither an inference request nor a response",
            field="type",
        )
    return Event(
        id=_attribute(attrs.get("id"), "id") or "",
        kind=kind,
        service=_attribute(
            attrs.get("inferenceservicename"), "inferenceservicename", required=False
        ),
        payload=payload,
        time=_attribute(attrs.get("time"), "time", required=False),
        traceparent=_attribute(attrs.get("traceparent"), "traceparent", required=False),
    )


class Pairing:
    """Request and response halves waiting for each other, by (model, id), in the store, so
    halves reaching different server processes still pair: at most ``max_pending`` (the
    oldest are dropped first) for at most ``ttl_s`` seconds."""

    def __init__(self, store: IngestStore, max_pending: int = 10_000, ttl_s: float = 300.0) -> None:
        self.store = store
        self.max_pending = max_pending
        self.ttl_s = ttl_s

    def add(self, model: str, event: Event) -> Pair | None:
        """File ``event``; the complete pair once both halves are in, else None."""
        now = datetime.now(UTC)
        halves = self.store.file_half(
            model,
            event.id,
            "request" if event.kind == "request" else "response",
            json.dumps(asdict(event)),
            now=now,
            expire_before=now - timedelta(seconds=self.ttl_s),
            max_pending=self.max_pending,
        )
        if halves is None:
            raise ValidationError(
                f"a {event.kind} with id {event.id!r} is already waiting for its pair",
                field="id",
            )
        request, response = halves
        if request is None or response is None:
            return None
        return Pair(Event(**json.loads(request)), Event(**json.loads(response)))


def _rows_from_instances(instances: Any, names: list[str]) -> list[dict[str, Any]]:
    if not isinstance(instances, list) or not instances:
        raise ValidationError("instances must be a non-empty list", field="instances")
    rows = []
    for i, inst in enumerate(instances):
        if isinstance(inst, dict):
            rows.append(inst)
        elif isinstance(inst, list) and len(inst) == len(names):
            rows.append(dict(zip(names, inst, strict=True)))
        else:
            raise ValidationError(
                f"instance {i} is neither an object nor a list of the model's "
                f"{len(names)} inputs {names}",
                field="instances",
            )
    return rows


def _tensor(t: Any, where: str) -> tuple[str, list[int], list[Any]]:
    if not isinstance(t, dict) or not isinstance(t.get("name"), str):
        raise ValidationError(f"{where}: a tensor is an object with a name", field=where)
    shape, data = t.get("shape"), t.get("data")
    if not isinstance(shape, list) or not all(isinstance(d, int) and d >= 0 for d in shape):
        raise ValidationError(f"{where} {t['name']}: shape must be a list of sizes", field=where)
    if not isinstance(data, list):
        raise ValidationError(f"{where} {t['name']}: data must be a list", field=where)
    flat: list[Any] = []
    for d in data:  # row-major, flattened (nested lists are allowed by the protocol)
        flat.extend(d if isinstance(d, list) else [d])
    return t["name"], shape, flat


def _rows_from_tensors(inputs: Any, names: list[str]) -> list[dict[str, Any]]:
    if not isinstance(inputs, list) or not inputs:
        raise ValidationError("inputs must be a non-empty list of tensors", field="inputs")
    tensors = [_tensor(t, "inputs") for t in inputs]
    if len(tensors) == 1 and tensors[0][0] not in names:
        # one [n, k] tensor of rows, the model's inputs in signature order
        _, shape, flat = tensors[0]
        k = len(names)
        if len(shape) != 2 or shape[1] != k or len(flat) != shape[0] * k:
            raise ValidationError(
                f"a single input tensor must have shape [n, {k}] (the model's inputs {names})",
                field="inputs",
            )
        return [dict(zip(names, flat[r * k : (r + 1) * k], strict=True)) for r in range(shape[0])]
    columns = {name: flat for name, _, flat in tensors}
    lengths = {len(v) for v in columns.values()}
    if len(lengths) != 1:
        raise ValidationError("input tensors must all have one value per row", field="inputs")
    n = lengths.pop()
    return [{k: v[i] for k, v in columns.items()} for i in range(n)]


def request_rows(payload: Any, names: list[str]) -> list[dict[str, Any]]:
    """The rows of a V1 (``instances``) or v2 (``inputs``) request payload."""
    if isinstance(payload, dict) and "instances" in payload:
        return _rows_from_instances(payload["instances"], names)
    if isinstance(payload, dict) and "inputs" in payload:
        return _rows_from_tensors(payload["inputs"], names)
    raise ValidationError(
        "the request event's data has neither instances (V1) nor inputs (v2)", field="data"
    )


def _scalars(values: list[Any], field_: str) -> list[Any]:
    for v in values:
        if isinstance(v, (dict, list)):
            raise ValidationError(f"{field_}: one scalar output per row", field=field_)
    return values


def response_outputs(payload: Any) -> list[Any]:
    """One output per row from a V1 (``predictions``) or v2 (``outputs``) response payload:
    the v2 tensor named ``predict`` (else the first)."""
    if isinstance(payload, dict) and "predictions" in payload:
        preds = payload["predictions"]
        if not isinstance(preds, list):
            raise ValidationError("predictions must be a list", field="predictions")
        return _scalars(preds, "predictions")
    if isinstance(payload, dict) and "outputs" in payload:
        outputs = payload["outputs"]
        if not isinstance(outputs, list) or not outputs:
            raise ValidationError("outputs must be a non-empty list of tensors", field="outputs")
        tensors = [_tensor(t, "outputs") for t in outputs]
        chosen = next((t for t in tensors if t[0] == "predict"), tensors[0])
        return _scalars(chosen[2], "outputs")
    raise ValidationError(
        "the response event's data has neither predictions (V1) nor outputs (v2)", field="data"
    )


def row_ids(event_id: str, n: int) -> list[str]:
    """Prediction ids of an ``n``-row event: one name-based UUID per row (ids are at most 36
    characters), the same on a retried delivery, so a retry is refused as a duplicate."""
    return [str(uuid.uuid5(uuid.NAMESPACE_URL, f"kserve:{event_id}#{i}")) for i in range(n)]


def batch(pair: Pair, names: list[str]) -> tuple[list[dict[str, Any]], list[Any], list[str]]:
    """Rows, outputs and prediction ids (the event id for one row, else ``row_ids``)."""
    rows = request_rows(pair.request.payload, names)
    outputs = response_outputs(pair.response.payload)
    if len(outputs) != len(rows):
        raise ValidationError(
            f"the response has {len(outputs)} outputs for {len(rows)} request rows",
            field="data",
        )
    base = pair.request.id
    # one row keeps KServe's id (the request's X-Request-Id) when it fits the column
    if len(rows) == 1 and len(base) <= MAX_PREDICTION_ID:
        return rows, outputs, [base]
    return rows, outputs, row_ids(base, len(rows))
