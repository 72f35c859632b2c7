"""Compliance packs that record as they run, over HTTP (docs/compliance.md): the findings
register, the NYC LL144 bias audit and the model validation. Each route checks the caller's
role before it reads the body; the documents themselves come from ``reports.py``."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.concurrency import run_in_threadpool

from mlwarden.access import User
from mlwarden.registry.refs import check_name
from mlwarden.server.auth import check, current_user
from mlwarden.server.routes._util import (
    StrictJsonRoute,
    body_schema,
    out,
    parse_body,
    version_ref,
)
from mlwarden.server.schemas import BiasAuditIn, FindingIn, FindingUpdateIn, ValidationIn

router = APIRouter(prefix="/v1", tags=["compliance"], route_class=StrictJsonRoute)


@router.get("/models/{name}/findings", response_model=list[dict[str, Any]],
            summary="wd.findings.list(NAME or NAME@V)")  # fmt: skip
def list_findings(
    name: str, request: Request, version: int | None = None, user: User = Depends(current_user)
) -> Any:
    ctx = request.app.state.ctx
    check(ctx, user, "read", f"model:{name}")
    ref = name if version is None else f"{name}@{version}"
    return out([f.to_dict() for f in ctx.acting(user).findings.list(ref)])


@router.post("/models/{name}/findings", status_code=201, response_model=dict[str, Any],
             summary="wd.findings.add(ref, title=, severity=, owner=)",
             openapi_extra=body_schema(FindingIn))  # fmt: skip
async def add_finding(name: str, request: Request, user: User = Depends(current_user)) -> Any:
    ctx = request.app.state.ctx
    check_name(name)
    check(ctx, user, "finding.write", f"model:{name}")  # the role before the body
    body = parse_body(FindingIn, await request.body())
    wd = ctx.acting(user)
    ref = name if body.version is None else f"{name}@{body.version}"
    fields = body.model_dump(exclude={"version"})
    finding = await run_in_threadpool(lambda: wd.findings.add(ref, actor=wd.actor, **fields))
    return out(finding.to_dict())


@router.patch("/findings/{finding_id}", response_model=dict[str, Any],
              summary="wd.findings.update(id, status=, …)",
              openapi_extra=body_schema(FindingUpdateIn))  # fmt: skip
async def update_finding(
    finding_id: int, request: Request, user: User = Depends(current_user)
) -> Any:
    ctx = request.app.state.ctx
    found = await run_in_threadpool(ctx.warden.findings.store.get, finding_id)  # 404 if none
    check(ctx, user, "finding.write", f"model:{found.model}")
    body = parse_body(FindingUpdateIn, await request.body())
    wd = ctx.acting(user)
    changes = body.model_dump(exclude_none=True)
    finding = await run_in_threadpool(
        lambda: wd.findings.update(finding_id, actor=wd.actor, **changes)
    )
    return out(finding.to_dict())


@router.post("/models/{name}/ll144", response_model=dict[str, Any],
             summary="wd.bias_audit(NAME or NAME@V, since=, until=, …): recorded as evidence",
             openapi_extra=body_schema(BiasAuditIn))  # fmt: skip
async def bias_audit(name: str, request: Request, user: User = Depends(current_user)) -> Any:
    ctx = request.app.state.ctx
    check_name(name)
    check(ctx, user, "checks.run", f"model:{name}")
    body = parse_body(BiasAuditIn, await request.body())
    wd = ctx.acting(user)
    ref = name if body.version is None else f"{name}@{body.version}"
    options = body.model_dump(exclude={"version"})
    return out(await run_in_threadpool(lambda: wd.bias_audit(ref, **options)))


@router.post("/models/{name}/versions/{ref}/validation", response_model=dict[str, Any],
             summary="wd.validate(NAME@V, challenger=): measured and recorded as evidence",
             openapi_extra=body_schema(ValidationIn))  # fmt: skip
async def validate(
    name: str, ref: str, request: Request, user: User = Depends(current_user)
) -> Any:
    ctx = request.app.state.ctx
    check(ctx, user, "checks.run", f"model:{name}")
    body = parse_body(ValidationIn, await request.body())
    wd = ctx.acting(user)
    target = version_ref(name, ref)
    return out(await run_in_threadpool(lambda: wd.validate(target, challenger=body.challenger)))
