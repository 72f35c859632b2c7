"""The audit log: events, checkpoints, inclusion proofs, verification."""

from __future__ import annotations

import os
import tempfile
from typing import Any

from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.responses import FileResponse
from starlette.background import BackgroundTask

from mlwarden.access import User
from mlwarden.errors import ValidationError
from mlwarden.registry.refs import MAX_ID
from mlwarden.server.auth import check, current_user
from mlwarden.server.routes._util import MAX_BULK_PAGE, Page, StrictJsonRoute, out, paging
from mlwarden.server.schemas import AuditEventOut, CheckpointOut, ProofOut, VerificationOut
from mlwarden.server.wire_schema import many

router = APIRouter(prefix="/v1/audit", tags=["audit"], route_class=StrictJsonRoute)


@router.get("/events", response_model=many(AuditEventOut), summary="wd.audit.events(...)")
def events(
    request: Request,
    model: str | None = None,
    action: str | None = None,
    subject: str | None = None,
    actor: str | None = None,
    since: str | None = Query(None, description="ISO-8601, inclusive"),
    until: str | None = Query(None, description="ISO-8601, exclusive"),
    newest_first: bool = False,
    page: Page = Depends(paging(MAX_BULK_PAGE)),
    user: User = Depends(current_user),
) -> Any:
    ctx = request.app.state.ctx
    check(ctx, user, "audit.read", "audit")
    found = ctx.warden.audit.events(
        model,
        action,
        since,
        page.limit,
        subject=subject,
        actor=actor,
        until=until,
        newest_first=newest_first,
        offset=page.offset,
    )
    return [e.to_dict() for e in found]


@router.get("/events/{seq}", response_model=AuditEventOut, summary="wd.audit.get(seq)")
def get_event(
    request: Request, seq: int = Path(ge=0, le=MAX_ID), user: User = Depends(current_user)
) -> Any:
    ctx = request.app.state.ctx
    check(ctx, user, "audit.read", f"audit-event:{seq}")
    return ctx.warden.audit.get(seq).to_dict()


@router.get("/size", response_model=dict[str, int], summary="wd.audit.size")
def size(request: Request, user: User = Depends(current_user)) -> Any:
    ctx = request.app.state.ctx
    check(ctx, user, "audit.read", "audit")
    return {"size": ctx.warden.audit.size}


@router.post(
    "/checkpoint", response_model=CheckpointOut, summary="wd.audit.checkpoint(): sign the head"
)
def checkpoint(request: Request, user: User = Depends(current_user)) -> Any:
    ctx = request.app.state.ctx
    check(ctx, user, "audit.checkpoint", "audit")
    return out(ctx.warden.audit.checkpoint())


@router.get("/verify", response_model=VerificationOut, summary="wd.audit.verify()")
def verify(request: Request, user: User = Depends(current_user)) -> Any:
    ctx = request.app.state.ctx
    check(ctx, user, "audit.read", "audit")
    return ctx.warden.audit.verify().to_dict()


@router.get("/proofs/{seq}", response_model=ProofOut, summary="wd.audit.prove(seq)")
def prove(
    request: Request,
    seq: int = Path(ge=0, le=MAX_ID),
    tree_size: int | None = Query(None, ge=1, le=MAX_ID),
    user: User = Depends(current_user),
) -> Any:
    ctx = request.app.state.ctx
    check(ctx, user, "audit.read", f"audit-event:{seq}")
    audit = ctx.warden.audit
    if tree_size is not None:
        # proofs exist for signed tree sizes only (the nodes of a larger tree are not stored)
        signed = audit.checkpoint().tree_size
        if tree_size > signed:
            raise ValidationError(
                f"tree_size {tree_size} is larger than the signed tree ({signed})",
                field="tree_size",
                signed=signed,
            )
    return out(audit.prove(seq, tree_size))


@router.get(
    "/export",
    response_class=FileResponse,
    summary="wd.audit.export(path): the JSON Lines export (X-Events: events written)",
)
def export(request: Request, user: User = Depends(current_user)) -> Any:
    ctx = request.app.state.ctx
    check(ctx, user, "audit.read", "audit")
    # the whole log can be large: written to a file once, streamed from it, then removed
    fd, name = tempfile.mkstemp(suffix=".jsonl")
    os.close(fd)
    try:
        n = ctx.warden.audit.export(name)
    except BaseException:
        os.unlink(name)
        raise
    return FileResponse(
        name,
        media_type="application/x-ndjson",
        headers={"X-Events": str(n)},
        background=BackgroundTask(os.unlink, name),
    )
