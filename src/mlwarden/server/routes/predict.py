"""The governed prediction endpoints: ``/v1/models/{name}/predict`` and the Open Inference
Protocol v2 ``/v2/models/{name}/infer``.

Per request: resolve the alias (cached for ``alias_ttl_s``), take the loaded model from the
cache (by artifact sha256), validate every row against the signature, predict (a proxied
model is called upstream), optionally explain, then hand the rows to the group-commit writer
and, with ``durability="sync"``, answer only once they are committed.
"""

from __future__ import annotations

import asyncio
import os
import threading
import time
from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse
from pydantic import ValidationError as PydanticValidationError

from mlwarden.access import User
from mlwarden.alerts.metrics import observe_prediction
from mlwarden.errors import ValidationError
from mlwarden.monitor.predictions import merge_sensitive
from mlwarden.registry.refs import MAX_VERSION, check_alias, check_name, check_version
from mlwarden.server.auth import check, current_user, header_user
from mlwarden.server.proxy import ProxyServed
from mlwarden.server.routes._util import StrictJsonRoute
from mlwarden.server.schemas import OipRequest, OipResponse, PredictIn, PredictOut
from mlwarden.server.serving import Prediction, to_records, validate_records
from mlwarden.server.writer import Pending
from mlwarden.store.sql.predictions import new_ids

router = APIRouter(tags=["predictions"], route_class=StrictJsonRoute)

#: Rows predicted on the event loop; larger requests go to the thread pool.
_INLINE_ROWS = 64


async def serve(
    ctx: Any,
    user: User,
    name: str,
    alias: str | None,
    version: int | None,
    records: list[Any],
    *,
    explain: bool = False,
    strict: bool | None = None,
    subjects: list[str | None] | None = None,
    sensitive: list[dict[str, Any] | None] | None = None,
    started: float,
) -> dict[str, Any]:
    check_name(name)
    if alias is not None:
        if version is not None:
            raise ValidationError("give an alias or a version, not both", field="alias")
        check_alias(alias)
    if subjects is not None and len(subjects) != len(records):
        raise ValidationError("subjects needs one entry per row", field="subjects")
    mv = ctx.resolver.resolve(name, alias, version)
    # protected attributes go to the log for fairness monitoring, never to the model
    logged_inputs = records if sensitive is None else merge_sensitive(mv, records, sensitive)
    served = ctx.models._items.get((mv.artifact_sha256, mv.name, str(mv.version)))
    if served is None:  # first request for this version: load off the event loop
        served = await run_in_threadpool(ctx.models.get, mv)
    strict = ctx.settings.strict_categories if strict is None else strict
    validate_records(served.spec, records, strict=strict)
    pred: Prediction
    if isinstance(served, ProxyServed):
        pred = await served.apredict(ctx.proxies, records)
    elif len(records) <= _INLINE_ROWS:
        pred = served.predict(records)
    else:
        pred = await run_in_threadpool(served.predict, records)
    if explain:
        pred.reasons = await run_in_threadpool(served.explain, records)
    ids = uuid7s(len(records))
    logged = False
    writer = ctx.writer
    if writer is not None:
        item = Pending(
            actor=user.name,
            name=mv.name,
            model_id=_model_id(ctx, mv.name),
            version=mv.version,
            ids=ids,
            ts=datetime.now(UTC),
            inputs=logged_inputs,
            outputs=pred.outputs,
            scores=pred.scores,
            latency_ms=(time.perf_counter() - started) * 1000.0,
            reasons=pred.reasons,
            subjects=subjects,
        )
        future = writer.submit(item)
        if ctx.settings.durability == "sync":
            await asyncio.wrap_future(future)  # answered only once committed
            logged = True
    observe_prediction(mv.name, mv.version, time.perf_counter() - started, rows=len(records))
    return {
        "model": mv.name,
        "version": mv.version,
        "alias": None if version is not None else (alias or "production"),
        "ids": ids,
        "outputs": pred.outputs,
        "scores": pred.scores,
        "reasons": pred.reasons,
        "logged": logged,
    }


def uuid7s(n: int) -> list[str]:
    """UUIDv7 ids, as ``new_ids`` makes them (but not sorted: a request has a few rows); for
    those plain ``int`` arithmetic is several times cheaper than setting up numpy's
    generator."""
    if n > 16:
        return new_ids(n)
    ms = time.time_ns() // 1_000_000
    out = []
    for _ in range(n):
        r = _entropy.take()  # 80 random bits, 74 used
        v = (
            (ms << 80)
            | (0x7 << 76)
            | ((r >> 68) & 0xFFF) << 64
            | (0b10 << 62)
            | (r & 0x3FFF_FFFF_FFFF_FFFF)
        )
        h = f"{v:032x}"
        out.append(f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}")
    return out


class _Entropy:
    """``os.urandom`` read 4 KiB at a time. Each read is a system call that lets go of the
    GIL, and getting it back means waiting for the log writer thread: one read per request
    cost the event loop more than the prediction. Cleared in a forked child, so no two
    processes hand out the same bytes."""

    _SIZE = 4096

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._clear()
        os.register_at_fork(after_in_child=self._clear)

    def _clear(self) -> None:
        self._buf, self._pos = b"", 0

    def take(self) -> int:
        """80 random bits."""
        with self._lock:
            if self._pos + 10 > len(self._buf):
                self._buf, self._pos = os.urandom(self._SIZE), 0
            pos = self._pos
            self._pos = pos + 10
            return int.from_bytes(self._buf[pos : pos + 10], "big")


_entropy = _Entropy()


def _model_id(ctx: Any, name: str) -> int:
    cache = ctx.__dict__.setdefault("_model_ids", {})
    mid = cache.get(name)
    if mid is None:
        mid = cache[name] = ctx.warden.registry.store.model_id(name)
    return mid  # type: ignore[no-any-return]


def _query_int(request: Request, key: str) -> int | None:
    raw = request.query_params.get(key)
    if raw is None:
        return None
    try:
        value = int(raw)
    except ValueError:
        raise ValidationError(f"{key} must be an integer, got {raw!r}", field=key) from None
    if value < 1:
        raise ValidationError(f"{key} must be at least 1", field=key)
    return check_version(value, key)


def _query_bool(request: Request, key: str) -> bool | None:
    raw = request.query_params.get(key)
    if raw is None:
        return None
    value = raw.lower()
    if value in ("1", "true", "yes", "on"):
        return True
    if value in ("0", "false", "no", "off"):
        return False
    raise ValidationError(f"{key} must be true or false, got {raw!r}", field=key)


def _query(name: str, schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"name": name, "in": "query", "required": False, "schema": schema,
            "description": description}  # fmt: skip


# The hot path parses its query and body itself: FastAPI's per-request dependency solving
# costs more than validating and predicting one row. The OpenAPI entry says the same thing
# FastAPI would have generated.
_PREDICT_OPENAPI: dict[str, Any] = {
    "security": [{"token": []}],
    "parameters": [
        _query("alias", {"type": "string"}, "alias to serve (default: production)"),
        _query(
            "version",
            {"type": "integer", "minimum": 1, "maximum": MAX_VERSION},
            "an explicit version instead",
        ),
        _query("explain", {"type": "boolean", "default": False}, "add reason codes (trees)"),
        _query("strict", {"type": "boolean"}, "refuse unseen categories and nulls"),
    ],
    "requestBody": {
        "required": True,
        "content": {"application/json": {"schema": PredictIn.model_json_schema()}},
    },
}


@router.post(
    "/v1/models/{name}/predict",
    response_model=PredictOut,
    summary="Predict with the version behind an alias (default production) or a version",
    openapi_extra=_PREDICT_OPENAPI,
)
async def predict(name: str, request: Request) -> Any:
    started = time.perf_counter()
    user = await header_user(request)
    ctx = request.app.state.ctx
    check(ctx, user, "read", f"model:{name}")
    try:
        body = PredictIn.model_validate_json(await request.body())
    except PydanticValidationError as exc:
        errors = exc.errors(include_url=False, include_context=False, include_input=False)
        if any(e["type"] == "json_invalid" for e in errors):
            raise MalformedJson("the body is not valid JSON", error=errors[0]["msg"]) from None
        raise ValidationError(
            f"invalid request body: {errors[0]['msg']}",
            errors=[{"loc": list(e["loc"]), "message": e["msg"]} for e in errors],
        ) from None
    records = to_records(body.records, body.columns, ctx.settings.max_rows)
    result = await serve(
        ctx,
        user,
        name,
        request.query_params.get("alias"),
        _query_int(request, "version"),
        records,
        explain=bool(_query_bool(request, "explain")),
        strict=_query_bool(request, "strict"),
        subjects=body.subjects,
        sensitive=body.sensitive,
        started=started,
    )
    # the body is built to PredictOut's shape; validating it again would cost more than the
    # prediction
    return JSONResponse(result)


class MalformedJson(ValidationError):
    http_status = 400
    code = "malformed_json"


def _datatype(values: list[Any]) -> str:
    if all(isinstance(v, bool) for v in values):
        return "BOOL"
    if all(isinstance(v, int) and not isinstance(v, bool) for v in values):
        return "INT64"
    if all(isinstance(v, int | float) and not isinstance(v, bool) for v in values):
        return "FP64"
    return "BYTES"


@router.post(
    "/v2/models/{name}/infer",
    response_model=OipResponse,
    summary="Open Inference Protocol v2: one input tensor per column",
    tags=["predictions"],
)
async def infer(
    name: str,
    body: OipRequest,
    request: Request,
    alias: str | None = Query(None, description="alias to serve (default: production)"),
    version: int | None = Query(None, ge=1, le=MAX_VERSION),
    user: User = Depends(current_user),
) -> Any:
    started = time.perf_counter()
    ctx = request.app.state.ctx
    check(ctx, user, "read", f"model:{name}")
    columns: dict[str, list[Any]] = {}
    for t in body.inputs:
        data = t.data
        if data and isinstance(data[0], list):  # shape [n, 1] sent nested
            data = [d[0] if isinstance(d, list) and len(d) == 1 else d for d in data]
        columns[t.name] = data
    params = body.parameters or {}
    explain = bool(params.get("explain", False))
    records = to_records(None, columns, ctx.settings.max_rows)
    res = await serve(ctx, user, name, alias, version, records, explain=explain, started=started)
    n = len(res["ids"])
    outputs = [
        {"name": "predict", "shape": [n], "datatype": _datatype(res["outputs"]),
         "data": res["outputs"]},
        {"name": "prediction_id", "shape": [n], "datatype": "BYTES", "data": res["ids"]},
    ]  # fmt: skip
    if res["scores"] is not None:
        outputs.append({"name": "score", "shape": [n], "datatype": "FP64", "data": res["scores"]})
    return {
        "model_name": res["model"],
        "model_version": str(res["version"]),
        "id": body.id,
        "parameters": {
            "alias": res["alias"],
            "logged": res["logged"],
            **({"reasons": res["reasons"]} if res["reasons"] is not None else {}),
        },
        "outputs": outputs,
    }


@router.get("/v2/models/{name}", summary="Open Inference Protocol v2: model metadata")
def metadata(
    name: str,
    request: Request,
    alias: str | None = Query(None),
    version: int | None = Query(None, ge=1, le=MAX_VERSION),
    user: User = Depends(current_user),
) -> dict[str, Any]:
    ctx = request.app.state.ctx
    check(ctx, user, "read", f"model:{name}")
    check_name(name)
    if alias is not None:
        check_alias(alias)
    mv = ctx.resolver.resolve(name, alias, version)
    types = {"integer": "INT64", "float": "FP64", "boolean": "BOOL"}
    return {
        "name": mv.name,
        "versions": [str(mv.version)],
        "platform": mv.flavor,
        "inputs": [
            {"name": c["name"], "datatype": types.get(c.get("type", ""), "BYTES"), "shape": [-1]}
            for c in mv.signature.get("inputs") or []
        ],
        "outputs": [
            {"name": "predict", "datatype": "BYTES", "shape": [-1]},
            {"name": "prediction_id", "datatype": "BYTES", "shape": [-1]},
        ],
    }
