"""Human oversight over HTTP: the review rule, flagging, the queue, confirm and override
(``wd.oversight``; docs/compliance.md "Human oversight")."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.concurrency import run_in_threadpool

from mlwarden.access import User
from mlwarden.errors import ValidationError
from mlwarden.server.auth import check, current_user
from mlwarden.server.routes._util import StrictJsonRoute, body_schema, out, parse_body
from mlwarden.server.schemas import ReviewDecisionIn, ReviewRuleIn

router = APIRouter(prefix="/v1", tags=["human oversight"], route_class=StrictJsonRoute)
STATUSES = ("pending", "confirmed", "overridden", "all")


@router.get("/models/{name}/reviews", response_model=dict[str, Any], summary="The review queue")
def queue(
    name: str, request: Request, status: str = "pending", user: User = Depends(current_user)
) -> Any:
    ctx = request.app.state.ctx
    check(ctx, user, "read", f"model:{name}")
    if status not in STATUSES:
        raise ValidationError(f"status must be one of {list(STATUSES)}", field="status")
    wd = ctx.acting(user)
    items = wd.oversight.queue(name, actor=wd.actor, status=None if status == "all" else status)
    return out({"items": items, **wd.oversight.override_rate(name)})


@router.put(
    "/models/{name}/review-rule",
    response_model=dict[str, Any],
    summary="Set the review rule",
    openapi_extra=body_schema(ReviewRuleIn),
)
async def set_rule(name: str, request: Request, user: User = Depends(current_user)) -> Any:
    ctx = request.app.state.ctx
    check(ctx, user, "config.set", f"model:{name}")  # the role before the body
    body = parse_body(ReviewRuleIn, await request.body())
    wd = ctx.acting(user)
    return out(await run_in_threadpool(wd.oversight.set_rule, name, body.rule, actor=wd.actor))


@router.post(
    "/models/{name}/reviews/flag", response_model=dict[str, Any], summary="Flag predictions"
)
def flag(name: str, request: Request, user: User = Depends(current_user)) -> Any:
    ctx = request.app.state.ctx
    check(ctx, user, "read", f"model:{name}")
    wd = ctx.acting(user)
    return {"flagged": wd.oversight.flag(name, actor=wd.actor)}


@router.post(
    "/models/{name}/reviews/{prediction_id}",
    response_model=dict[str, Any],
    summary="Confirm or override a flagged prediction",
    openapi_extra=body_schema(ReviewDecisionIn),
)
async def decide(
    name: str, prediction_id: str, request: Request, user: User = Depends(current_user)
) -> Any:
    ctx = request.app.state.ctx
    check(ctx, user, "version.approve", f"model:{name}")  # the role before the body
    body = parse_body(ReviewDecisionIn, await request.body())
    if body.decision == "override" and body.output is None:
        raise ValidationError("an override names the reviewer's output", field="output")
    wd = ctx.acting(user)
    override = body.output if body.decision == "override" else None
    return out(
        await run_in_threadpool(
            lambda: wd.oversight.decide(
                name, prediction_id, actor=wd.actor, override=override, comment=body.comment
            )
        )
    )
