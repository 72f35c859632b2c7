"""Policy checks, gated promotions, rollbacks and stored decisions.

A policy travels as a shipped policy's name or as its YAML text: the server never opens a
file path a client names.
"""

from __future__ import annotations

import re
from typing import Any

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel, Field

from mlwarden.access import User
from mlwarden.errors import ValidationError
from mlwarden.server.auth import check, current_user
from mlwarden.server.routes._util import Page, StrictJsonRoute, out, paging, version_ref

router = APIRouter(prefix="/v1", tags=["policies"], route_class=StrictJsonRoute)

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,127}$")


class PolicyIn(BaseModel):
    policy: str | None = Field(default=None, description="a shipped policy's name")
    policy_yaml: str | None = Field(default=None, description="a policy's YAML text")


class PromoteIn(PolicyIn):
    alias: str
    dry_run: bool = False
    reason: str | None = None


class RollbackIn(BaseModel):
    alias: str
    reason: str = Field(min_length=1)


def load_policy(body: PolicyIn) -> Any:
    from mlwarden.policy.loader import load, loads

    if (body.policy is None) == (body.policy_yaml is None):
        raise ValidationError("send exactly one of 'policy' and 'policy_yaml'", field="policy")
    if body.policy_yaml is not None:
        return loads(body.policy_yaml, "<request>")
    if not _NAME.fullmatch(body.policy or ""):
        raise ValidationError(
            "policy must name a shipped policy (send a file's text as policy_yaml)",
            field="policy",
        )
    return load(body.policy)  # type: ignore[arg-type]


@router.post(
    "/models/{name}/versions/{ref}/checks",
    response_model=dict[str, Any],
    summary="wd.check(ref, policy): evaluate, store and audit a decision",
)
def run_check(
    name: str, ref: str, body: PolicyIn, request: Request, user: User = Depends(current_user)
) -> Any:
    ctx = request.app.state.ctx
    check(ctx, user, "checks.run", f"model:{name}/{ref}")
    return out(ctx.acting(user).check(version_ref(name, ref), load_policy(body)))


@router.get(
    "/models/{name}/versions/{ref}/decisions",
    response_model=list[dict[str, Any]],
    summary="wd.decisions(ref)",
)
def decisions(
    name: str,
    ref: str,
    request: Request,
    page: Page = Depends(paging()),
    user: User = Depends(current_user),
) -> Any:
    ctx = request.app.state.ctx
    check(ctx, user, "read", f"model:{name}")
    return out(page.of(ctx.warden.decisions(version_ref(name, ref), limit=page.end)))


@router.get(
    "/models/{name}/versions/{ref}/policy-context",
    response_model=dict[str, Any],
    summary="wd.policy_context(ref): what policy rules see",
)
def policy_context(
    name: str, ref: str, request: Request, user: User = Depends(current_user)
) -> Any:
    ctx = request.app.state.ctx
    check(ctx, user, "read", f"model:{name}")
    return out(ctx.warden.policy_context(version_ref(name, ref)))


@router.post(
    "/models/{name}/versions/{ref}/promote",
    response_model=dict[str, Any],
    summary="wd.promote(ref, alias=, policy=): gated, approved, compare-and-set",
)
def promote(
    name: str, ref: str, body: PromoteIn, request: Request, user: User = Depends(current_user)
) -> Any:
    ctx = request.app.state.ctx
    check(ctx, user, "model.promote", f"model:{name}/{body.alias}")
    try:
        result = ctx.acting(user).promote(
            version_ref(name, ref),
            alias=body.alias,
            policy=load_policy(body),
            dry_run=body.dry_run,
            reason=body.reason,
        )
    finally:
        ctx.resolver.forget(name)  # the next prediction serves the new version
    return out(result)


@router.post(
    "/models/{name}/rollback",
    response_model=dict[str, Any],
    summary="wd.rollback(name, alias=, reason=)",
)
def rollback(
    name: str, body: RollbackIn, request: Request, user: User = Depends(current_user)
) -> Any:
    ctx = request.app.state.ctx
    check(ctx, user, "model.rollback", f"model:{name}/{body.alias}")
    try:
        change = ctx.acting(user).rollback(name, alias=body.alias, reason=body.reason)
    finally:
        ctx.resolver.forget(name)
    return out(change)
