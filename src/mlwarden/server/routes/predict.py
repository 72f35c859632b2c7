"""The governed prediction endpoints: ``/v1/models/{name}/predict`` and the Open Inference
Protocol v2 ``/v2/models/{name}/infer``.

Per request: resolve the alias (cached for ``alias_ttl_s``), take the loaded model from the
cache (by artifact sha256), validate every row against the signature, predict (a proxied
model is called upstream), optionally explain, then hand the rows to the group-commit writer
and, with ``durability="sync"``, answer only once they are committed.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, Depends, Query, Request, Response
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse
from starlette.datastructures import QueryParams

from mlwarden.access import User
from mlwarden.alerts.metrics import observe_prediction
from mlwarden.errors import ValidationError
from mlwarden.monitor.predictions import merge_sensitive
from mlwarden.registry.refs import MAX_VERSION, check_alias, check_name, check_version
from mlwarden.server.auth import check, current_user, header_user
from mlwarden.server.proxy import ProxyServed
from mlwarden.server.routes._util import StrictJsonRoute
from mlwarden.server.routes.predict_asgi import PredictBody, parse_body
from mlwarden.server.schemas import OipRequest, OipResponse, PredictIn, PredictOut
from mlwarden.server.writer import Pending
from mlwarden.serving.core import (
    Prediction,
    reason_exclusions,
    to_records,
    validate_records,
)
from mlwarden.store.sql.predictions import new_ids
from mlwarden.tracing import parse_traceparent

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
    traceparent: str | None = None,
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
        exclude = reason_exclusions(ctx.settings.reasons_exclude, mv)
        explained = await run_in_threadpool(served.explain, records, 3, exclude)
        pred.reasons, pred.excluded = explained.codes, explained
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
            traceparent=traceparent,
        )
        committed = writer.log(item, wait=ctx.settings.durability == "sync")
        if committed is not None:
            await committed  # answered only once committed
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
        **(
            {
                "reason_unit": pred.excluded.unit,
                "excluded_features": pred.excluded.excluded_features,
                "excluded_contribution": pred.excluded.excluded_contribution,
            }
            if pred.excluded is not None
            else {}
        ),
        "logged": logged,
    }


def _trace_headers(traceparent: str | None) -> dict[str, str] | None:
    """The caller's trace context echoed back, so its client can link our ids to its span."""
    return None if traceparent is None else {"traceparent": traceparent}


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
        mid = cache[name] = ctx.warden.registry.model_id(name)
    return mid  # type: ignore[no-any-return]


def query_int(query: Mapping[str, str], key: str) -> int | None:
    raw = query.get(key)
    if raw is None:
        return None
    try:
        value = int(raw)
    except ValueError:
        raise ValidationError(f"{key} must be an integer, got {raw!r}", field=key) from None
    if value < 1:
        raise ValidationError(f"{key} must be at least 1", field=key)
    return check_version(value, key)


def query_bool(query: Mapping[str, str], key: str) -> bool | None:
    raw = query.get(key)
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


async def serve_body(
    ctx: Any,
    user: User,
    name: str,
    query: QueryParams,
    body: PredictBody,
    *,
    started: float,
    traceparent: str | None,
) -> dict[str, Any]:
    """A predict request once authorised and parsed (both predict routes): its rows within
    the row limit, served with the query's alias, version, explain and strict."""
    records = to_records(body.records, body.columns, ctx.settings.max_rows)
    return await serve(
        ctx,
        user,
        name,
        query.get("alias"),
        query_int(query, "version"),
        records,
        explain=bool(query_bool(query, "explain")),
        strict=query_bool(query, "strict"),
        subjects=body.subjects,
        sensitive=body.sensitive,
        started=started,
        traceparent=traceparent,
    )


@router.post(
    "/v1/models/{name}/predict",
    response_model=PredictOut,
    summary="Predict with the version behind an alias (default production) or a version",
    openapi_extra=_PREDICT_OPENAPI,
)
async def predict(name: str, request: Request) -> Any:
    """Documents the route; requests are answered by ``predict_asgi.PredictRoute`` before
    FastAPI sees them. Reached only through an app built without it: the same steps."""
    started = time.perf_counter()
    user = await header_user(request)
    ctx = request.app.state.ctx
    check(ctx, user, "predict", f"model:{name}")
    body = parse_body(await request.body())
    traceparent = parse_traceparent(request.headers.get("traceparent"))
    result = await serve_body(
        ctx, user, name, request.query_params, body, started=started, traceparent=traceparent
    )
    # the body is built to PredictOut's shape; validating it again would cost more than the
    # prediction
    return JSONResponse(result, headers=_trace_headers(traceparent))


_INPUT_TYPES = {"integer": "INT64", "float": "FP64", "boolean": "BOOL"}


def _predict_datatype(output: dict[str, Any]) -> str:
    """The OIP datatype of the ``predict`` tensor, from the signature's output."""
    if output.get("type") == "class":
        classes = output.get("classes") or []
        if classes and all(isinstance(c, bool) for c in classes):
            return "BOOL"
        if classes and all(isinstance(c, int) and not isinstance(c, bool) for c in classes):
            return "INT64"
        if classes and all(isinstance(c, int | float) and not isinstance(c, bool) for c in classes):
            return "FP64"
        return "BYTES"
    if output.get("type") == "number":
        return "INT64" if "int" in str(output.get("dtype", "")) else "FP64"
    return "BYTES"


def output_tensors(signature: dict[str, Any]) -> list[dict[str, Any]]:
    """The tensors ``infer`` answers with, as metadata lists them: one definition for both."""
    output = signature.get("output") or {}
    tensors = [
        {"name": "predict", "datatype": _predict_datatype(output), "shape": [-1]},
        {"name": "prediction_id", "datatype": "BYTES", "shape": [-1]},
    ]
    if output.get("scores"):
        tensors.append({"name": "score", "datatype": "FP64", "shape": [-1]})
    return tensors


def _as_datatype(values: list[Any], datatype: str) -> list[Any]:
    if datatype == "BYTES":
        return [None if v is None else str(v) for v in values]
    if datatype == "INT64":
        return [None if v is None else int(v) for v in values]
    if datatype == "FP64":
        return [None if v is None else float(v) for v in values]
    return values


def _oip_parameters(
    body: OipRequest, alias: str | None, explain: bool | None
) -> tuple[str | None, bool]:
    """The alias and explain flag from the query and the request's ``parameters`` (the
    protocol's place for them); the two may not disagree."""
    params = body.parameters or {}
    unknown = sorted(set(params) - {"alias", "explain"})
    if unknown:
        raise ValidationError(
            f"unknown parameters {unknown}: this model takes 'alias' and 'explain'",
            field="parameters",
        )
    p_alias = params.get("alias")
    if p_alias is not None and not isinstance(p_alias, str):
        raise ValidationError("parameters.alias must be a string", field="parameters.alias")
    if alias is not None and p_alias is not None and alias != p_alias:
        raise ValidationError(
            f"the query names alias {alias!r} and parameters.alias {p_alias!r}: give one",
            field="parameters.alias",
        )
    p_explain = params.get("explain")
    if p_explain is not None and not isinstance(p_explain, bool):
        raise ValidationError(
            "parameters.explain must be true or false", field="parameters.explain"
        )
    if explain is not None and p_explain is not None and explain != p_explain:
        raise ValidationError(
            "the query's explain and parameters.explain disagree", field="parameters.explain"
        )
    return alias if alias is not None else p_alias, bool(explain or p_explain)


async def _infer(
    request: Request,
    response: Response,
    user: User,
    name: str,
    body: OipRequest,
    alias: str | None,
    version: int | None,
    explain: bool | None,
) -> dict[str, Any]:
    started = time.perf_counter()
    ctx = request.app.state.ctx
    check(ctx, user, "predict", f"model:{name}")
    alias, explain_ = _oip_parameters(body, alias, explain)
    wanted = None
    if body.outputs is not None:
        wanted = [o.get("name") for o in body.outputs]
    columns: dict[str, list[Any]] = {}
    for t in body.inputs:
        data = t.data
        if data and isinstance(data[0], list):  # shape [n, 1] sent nested
            data = [d[0] if isinstance(d, list) and len(d) == 1 else d for d in data]
        columns[t.name] = data
    records = to_records(None, columns, ctx.settings.max_rows)
    traceparent = parse_traceparent(request.headers.get("traceparent"))
    res = await serve(
        ctx,
        user,
        name,
        alias,
        version,
        records,
        explain=explain_,
        started=started,
        traceparent=traceparent,
    )
    if traceparent is not None:
        response.headers["traceparent"] = traceparent
    n = len(res["ids"])
    mv = ctx.resolver.resolve(res["model"], None, res["version"])
    values = {"predict": res["outputs"], "prediction_id": res["ids"], "score": res["scores"]}
    outputs = [
        {**t, "shape": [n], "data": _as_datatype(values[t["name"]], t["datatype"])}
        for t in output_tensors(mv.signature)
        if values[t["name"]] is not None
    ]
    if wanted is not None:
        have = {t["name"] for t in outputs}
        missing = [w for w in wanted if w not in have]
        if missing:
            raise ValidationError(
                f"unknown outputs {missing}: this model answers {sorted(have)}", field="outputs"
            )
        outputs = [t for t in outputs if t["name"] in wanted]
    return {
        "model_name": res["model"],
        "model_version": str(res["version"]),
        "id": body.id,
        "parameters": {
            "alias": res["alias"],
            "logged": res["logged"],
            **({"reasons": res["reasons"]} if res["reasons"] is not None else {}),
            **{
                k: res[k]
                for k in ("reason_unit", "excluded_features", "excluded_contribution")
                if k in res
            },
        },
        "outputs": outputs,
    }


_EXPLAIN = Query(None, description="add reason codes (also parameters.explain)")


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
    response: Response,
    alias: str | None = Query(
        None, description="alias to serve (default: production; also parameters.alias)"
    ),
    version: int | None = Query(None, ge=1, le=MAX_VERSION),
    explain: bool | None = _EXPLAIN,
    user: User = Depends(current_user),
) -> Any:
    return await _infer(request, response, user, name, body, alias, version, explain)


@router.post(
    "/v2/models/{name}/versions/{version}/infer",
    response_model=OipResponse,
    summary="Open Inference Protocol v2: infer with one version",
    tags=["predictions"],
)
async def infer_version(
    name: str,
    version: int,
    body: OipRequest,
    request: Request,
    response: Response,
    explain: bool | None = _EXPLAIN,
    user: User = Depends(current_user),
) -> Any:
    return await _infer(request, response, user, name, body, None, _path_version(version), explain)


def _path_version(version: int) -> int:
    if version < 1:
        raise ValidationError("version must be at least 1", field="version")
    return check_version(version, "version")


def _metadata(ctx: Any, name: str, alias: str | None, version: int | None) -> dict[str, Any]:
    check_name(name)
    if alias is not None:
        check_alias(alias)
    mv = ctx.resolver.resolve(name, alias, version)
    return {
        "name": mv.name,
        "versions": [str(mv.version)],
        "platform": mv.flavor,
        "inputs": [
            {
                "name": c["name"],
                "datatype": _INPUT_TYPES.get(c.get("type", ""), "BYTES"),
                "shape": [-1],
            }
            for c in mv.signature.get("inputs") or []
        ],
        "outputs": output_tensors(mv.signature),
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
    return _metadata(ctx, name, alias, version)


@router.get(
    "/v2/models/{name}/versions/{version}",
    summary="Open Inference Protocol v2: metadata of one version",
)
def version_metadata(
    name: str, version: int, request: Request, user: User = Depends(current_user)
) -> dict[str, Any]:
    ctx = request.app.state.ctx
    check(ctx, user, "read", f"model:{name}")
    return _metadata(ctx, name, None, _path_version(version))
