"""The governed prediction endpoints: ``/v1/models/{name}/predict`` and the Open Inference
Protocol v2 ``/v2/models/{name}/infer``.

Per request: resolve the alias (cached for ``alias_ttl_s``), take the loaded model from the
cache (by artifact sha256), validate every row against the signature, predict (a proxied
model is called upstream), optionally explain, then hand the rows to the group-commit writer
and, with ``durability="sync"``, answer only once they are committed.
"""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.concurrency import run_in_threadpool

from mlwarden.access import User
from mlwarden.errors import ValidationError
from mlwarden.registry.refs import check_alias, check_name
from mlwarden.server.auth import check, current_user
from mlwarden.server.proxy import ProxyServed
from mlwarden.server.schemas import OipRequest, OipResponse, PredictIn, PredictOut
from mlwarden.server.serving import Prediction, to_records, validate_records
from mlwarden.server.writer import Pending
from mlwarden.store.sql.predictions import new_ids

router = APIRouter(tags=["predictions"])

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
    ids = new_ids(len(records))
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
            inputs=records,
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


def _model_id(ctx: Any, name: str) -> int:
    cache = ctx.__dict__.setdefault("_model_ids", {})
    mid = cache.get(name)
    if mid is None:
        mid = cache[name] = ctx.warden.registry.store.model_id(name)
    return mid  # type: ignore[no-any-return]


@router.post(
    "/v1/models/{name}/predict",
    response_model=PredictOut,
    summary="Predict with the version behind an alias (default production) or a version",
)
async def predict(
    name: str,
    body: PredictIn,
    request: Request,
    alias: str | None = Query(None, description="alias to serve (default: production)"),
    version: int | None = Query(None, ge=1, description="an explicit version instead"),
    explain: bool = Query(False, description="add reason codes (tree models)"),
    strict: bool | None = Query(None, description="refuse unseen categories and nulls"),
    user: User = Depends(current_user),
) -> Any:
    started = time.perf_counter()
    ctx = request.app.state.ctx
    check(ctx, user, "read", f"model:{name}")
    records = to_records(body.records, body.columns, ctx.settings.max_rows)
    return await serve(
        ctx,
        user,
        name,
        alias,
        version,
        records,
        explain=explain,
        strict=strict,
        subjects=body.subjects,
        started=started,
    )


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
    version: int | None = Query(None, ge=1),
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
    version: int | None = Query(None, ge=1),
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
