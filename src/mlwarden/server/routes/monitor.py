"""The prediction log over HTTP (batch logging, labels, reading, retention) and monitoring."""

from __future__ import annotations

import math
from datetime import datetime
from typing import Any

import pandas as pd
from fastapi import APIRouter, Depends, Query, Request

from mlwarden.access import User
from mlwarden.errors import ValidationError
from mlwarden.registry.refs import MAX_VERSION
from mlwarden.server.auth import check, current_user, may_unseal
from mlwarden.server.routes._util import MAX_BULK_PAGE, Page, StrictJsonRoute, out, paging
from mlwarden.server.schemas import (
    IdsOut,
    LabelsIn,
    LabelsOut,
    LogPredictionsIn,
    MonitorReportOut,
    PredictionsOut,
    PurgeIn,
    PurgeOut,
)
from mlwarden.serving.core import to_records

router = APIRouter(prefix="/v1", tags=["predictions and monitoring"], route_class=StrictJsonRoute)

#: Writing to the prediction log (batch scoring jobs, labels) is a developer's or admin's act;
#: asking for a prediction (``/predict``) is open to every role.
LOG_ACTION = "model.register"


def _when(value: str | None, field: str) -> datetime | None:
    if value is None:
        return None
    try:
        return pd.Timestamp(value).to_pydatetime()
    except (ValueError, TypeError) as exc:
        raise ValidationError(f"{field} is not a date-time: {value!r}", field=field) from exc


@router.post(
    "/models/{name}/predictions",
    response_model=IdsOut,
    status_code=201,
    summary="wd.log_predictions(name, X, y_pred, ...)",
)
def log_predictions(
    name: str, body: LogPredictionsIn, request: Request, user: User = Depends(current_user)
) -> Any:
    ctx = request.app.state.ctx
    check(ctx, user, LOG_ACTION, f"model:{name}")
    records = to_records(body.records, body.columns, max_rows=10_000_000)
    ids = ctx.acting(user).log_predictions(
        name,
        pd.DataFrame.from_records(records),
        body.y_pred,
        scores=None if body.scores is None else [math.nan if s is None else s for s in body.scores],
        ids=body.ids,
        version=body.version,
        timestamps=body.timestamps,
        subjects=body.subjects,
        sensitive=None
        if body.sensitive is None
        else pd.DataFrame.from_records([a or {} for a in body.sensitive]),
    )
    return {"ids": ids}


@router.get(
    "/models/{name}/predictions",
    response_model=PredictionsOut,
    summary="wd.predictions(name, since=, until=, version=, limit=)",
)
def read_predictions(
    name: str,
    request: Request,
    since: str | None = None,
    until: str | None = None,
    version: int | None = Query(None, ge=1, le=MAX_VERSION),
    page: Page = Depends(paging(MAX_BULK_PAGE)),
    user: User = Depends(current_user),
) -> Any:
    ctx = request.app.state.ctx
    check(ctx, user, "read", f"model:{name}")
    frame = ctx.warden.predictions(
        name,
        since=_when(since, "since"),
        until=_when(until, "until"),
        version=version,
        limit=page.limit,
        offset=page.offset,
        unseal=may_unseal(ctx, user),
    )
    if frame.empty:
        return {"rows": []}
    frame = frame.astype(object).where(frame.notna(), None)
    return {"rows": out(frame.to_dict(orient="records"))}


@router.get(
    "/predictions/{prediction_id}",
    response_model=dict[str, Any],
    summary="wd.prediction(id): one prediction, its reason codes, label and audit proof",
)
def read_prediction(
    prediction_id: str, request: Request, user: User = Depends(current_user)
) -> Any:
    ctx = request.app.state.ctx
    wd = ctx.warden
    found = wd.prediction_log.get(prediction_id, wd.audit, unseal=may_unseal(ctx, user))
    check(ctx, user, "read", f"model:{found['model']}")
    ctx.viewed(user, found["model"], "prediction")
    return out(found)


@router.get(
    "/predictions/{prediction_id}/receipt",
    response_model=dict[str, Any],
    summary="wd.receipt(id): the signed decision receipt of one prediction",
)
def read_receipt(prediction_id: str, request: Request, user: User = Depends(current_user)) -> Any:
    from mlwarden.reports.receipt import receipt

    ctx = request.app.state.ctx
    wd = ctx.warden
    unseal = may_unseal(ctx, user)
    # who may read the model is checked before anything is computed or signed
    found = wd.prediction_log.get(prediction_id, wd.audit, unseal=unseal)
    check(ctx, user, "read", f"model:{found['model']}")
    ctx.viewed(user, found["model"], "prediction")
    return out(receipt(wd, prediction_id, unseal=unseal))


@router.post(
    "/models/{name}/labels", response_model=LabelsOut, summary="wd.log_labels(name, ids, y_true)"
)
def log_labels(
    name: str, body: LabelsIn, request: Request, user: User = Depends(current_user)
) -> Any:
    ctx = request.app.state.ctx
    check(ctx, user, LOG_ACTION, f"model:{name}")
    return out(ctx.acting(user).log_labels(name, body.ids, body.y_true))


@router.post(
    "/models/{name}/predictions/purge",
    response_model=PurgeOut,
    summary="Retention: delete predictions (and labels) logged before a day",
)
def purge(name: str, body: PurgeIn, request: Request, user: User = Depends(current_user)) -> Any:
    ctx = request.app.state.ctx
    check(ctx, user, "config.set", f"model:{name}")
    deleted = ctx.warden.prediction_log.purge(name, body.before_day, actor=user.name)
    return {"deleted": deleted}


@router.get(
    "/models/{name}/monitor",
    response_model=MonitorReportOut,
    summary="wd.monitor(name, since=, until=, window=, segment_by=, version=, explain=)",
)
def monitor(
    name: str,
    request: Request,
    since: str | None = None,
    until: str | None = None,
    window: str = "1d",
    segment_by: str | None = None,
    version: int | None = Query(None, ge=1, le=MAX_VERSION),
    explain: bool = False,
    user: User = Depends(current_user),
) -> Any:
    ctx = request.app.state.ctx
    check(ctx, user, "read", f"model:{name}")
    report = ctx.warden.monitor(
        name,
        since=_when(since, "since"),
        until=_when(until, "until"),
        window=window,
        segment_by=segment_by,
        version=version,
        explain=explain,
    )
    return out(report.to_dict())


@router.get(
    "/models/{name}/monitor/rollup",
    response_model=MonitorReportOut,
    summary="wd.monitor_rollup(name, source=, window=, version=)",
)
def monitor_rollup(
    name: str,
    request: Request,
    source: str = "1d",
    window: str = "7d",
    version: int | None = Query(None, ge=1, le=MAX_VERSION),
    user: User = Depends(current_user),
) -> Any:
    ctx = request.app.state.ctx
    check(ctx, user, "read", f"model:{name}")
    report = ctx.warden.monitor_rollup(name, source=source, window=window, version=version)
    return out(report.to_dict())
