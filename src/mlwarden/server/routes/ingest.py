"""``POST /v1/ingest/cloudevents``: KServe inference-logger events into the prediction log
(docs/integrations.md, "KServe inference logger").

The role is checked from the token before a byte of the body is read; the body is bounded by
the server's ``max_body_bytes`` and parsed with a depth limit (``mlwarden.monitor.kserve``).
A request half answers 202 (waiting for its response), a completed pair 201 with the ids the
rows were logged under: masked and audited like any ``log_predictions`` batch.
"""

from __future__ import annotations

from typing import Any

import pandas as pd
from fastapi import APIRouter, Depends, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from mlwarden.access import User
from mlwarden.errors import ValidationError
from mlwarden.monitor.kserve import Pairing, batch, parse_event
from mlwarden.registry.refs import MAX_VERSION, check_name
from mlwarden.server.auth import check, current_user
from mlwarden.server.routes.monitor import LOG_ACTION
from mlwarden.store.sql.ingest import SqlIngestStore


class IngestOut(BaseModel):
    status: str  # "waiting" | "logged"
    model: str
    id: str | None = None
    ids: list[str] | None = None


router = APIRouter(prefix="/v1", tags=["predictions and monitoring"])

_BODY = {
    "requestBody": {
        "description": "a KServe logger CloudEvent: binary mode (ce-* headers, JSON data) "
        "or structured mode (application/cloudevents+json)",
        "content": {
            "application/json": {"schema": {"type": "object"}},
            "application/cloudevents+json": {"schema": {"type": "object"}},
        },
    }
}


def pairing(request: Request) -> Pairing:
    state = request.app.state
    if not hasattr(state, "kserve_pairing"):
        state.kserve_pairing = Pairing(SqlIngestStore(state.ctx.warden.db))
    return state.kserve_pairing


@router.post(
    "/ingest/cloudevents",
    status_code=201,
    response_model=IngestOut,
    responses={202: {"model": IngestOut, "description": "one half filed, waiting for its pair"}},
    summary="KServe inference logger: request and response CloudEvents, paired by id",
    openapi_extra=_BODY,
)
async def ingest_cloudevents(
    request: Request,
    model: str | None = Query(
        None, description="the Warden model (default: the event's inferenceservicename)"
    ),
    version: int | None = Query(None, ge=1, le=MAX_VERSION, description="default: production"),
    user: User = Depends(current_user),
) -> Any:
    ctx = request.app.state.ctx
    headers = {k.lower(): v for k, v in request.headers.items()}
    named = model or headers.get("ce-inferenceservicename") or "*"
    check(ctx, user, LOG_ACTION, f"model:{named}")  # before the body is read
    event = parse_event(headers, await request.body())
    name = model or event.service
    if not name:
        raise ValidationError(
            "which model? pass ?model=NAME or send the inferenceservicename extension",
            field="model",
        )
    check_name(name)
    if name != named:
        check(ctx, user, LOG_ACTION, f"model:{name}")
    pair = await run_in_threadpool(pairing(request).add, name, event)
    if pair is None:
        return JSONResponse({"status": "waiting", "id": event.id, "model": name}, 202)
    wd = ctx.acting(user)

    def log() -> list[str]:
        mv = wd.serving_version(name, version)
        rows, outputs, ids = batch(pair, mv.input_names)
        when = pair.request.time
        return wd.log_predictions(
            name,
            pd.DataFrame.from_records(rows),
            outputs,
            ids=ids,
            version=mv.version,
            timestamps=None if when is None else [when] * len(ids),
        )

    ids = await run_in_threadpool(log)
    return {"status": "logged", "model": name, "ids": ids}
