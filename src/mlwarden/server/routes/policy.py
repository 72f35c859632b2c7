"""Policy checks, gated promotions, rollbacks, stored decisions, and the server's gates
(installed policies, bindings, protected aliases, risk tiers).

A policy travels as a shipped policy's name or as its YAML text: the server never opens a
file path a client names. A protected alias moves only through the policy bound to it on the
server; a policy in the request only dry-runs there. Routes that take policy text check the
role before they read the body.
"""

from __future__ import annotations

import re
from typing import Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel, Field

from mlwarden.access import User
from mlwarden.errors import ValidationError
from mlwarden.policy.loader import loads
from mlwarden.server.auth import check, current_user
from mlwarden.server.routes._util import (
    Page,
    StrictJsonRoute,
    body_schema,
    out,
    paging,
    parse_body,
    version_ref,
)
from mlwarden.server.schemas import (
    AliasChangeOut,
    BindingOut,
    DecisionOut,
    GatePolicyOut,
    PromotionOut,
)
from mlwarden.server.wire_schema import many

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


def load_policy(body: PolicyIn, *, optional: bool = False) -> Any:
    """The policy a request names: None when ``optional`` and it names none (a promotion to
    a protected alias then evaluates the bound policy); a shipped or bound policy's name as
    the name itself (the service resolves it); YAML text parsed."""
    if optional and body.policy is None and body.policy_yaml is None:
        return None
    if (body.policy is None) == (body.policy_yaml is None):
        raise ValidationError("send exactly one of 'policy' and 'policy_yaml'", field="policy")
    if body.policy_yaml is not None:
        return loads(body.policy_yaml, "<request>")
    if not _NAME.fullmatch(body.policy or ""):
        raise ValidationError(
            "policy must name a shipped policy (send a file's text as policy_yaml)",
            field="policy",
        )
    return body.policy


@router.post(
    "/models/{name}/versions/{ref}/checks",
    response_model=DecisionOut,
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
    response_model=many(DecisionOut),
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
    response_model=PromotionOut,
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
            policy=load_policy(body, optional=True),
            dry_run=body.dry_run,
            reason=body.reason,
        )
    finally:
        ctx.resolver.forget(name)  # the next prediction serves the new version
    return out(result)


@router.post(
    "/models/{name}/rollback",
    response_model=AliasChangeOut,
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


# -- the server's gates (policy/gates.py) ----------------------------------------------------


class InstallIn(BaseModel):
    policy_yaml: str = Field(description="the gate policy's YAML text (its name is inside)")


class BindIn(BaseModel):
    policy: str = Field(description="an installed gate policy's name")
    alias: str | None = Field(default=None, description="a protected alias")
    risk_tier: str | None = Field(default=None, description="low, medium or high")


class RiskTierIn(BaseModel):
    risk_tier: str = Field(description="low, medium or high")
    reason: str = Field(min_length=1)


@router.get(
    "/policies",
    response_model=many(GatePolicyOut),
    summary="wd.gate_policies(): installed gate policies, newest version of each",
)
def gate_policies(request: Request, user: User = Depends(current_user)) -> Any:
    ctx = request.app.state.ctx
    check(ctx, user, "read", "policy:*")
    return out(ctx.warden.gate_policies())


@router.post(
    "/policies",
    response_model=GatePolicyOut,
    status_code=201,
    summary="wd.install_policy(yaml): store a gate policy's next version (admins)",
    openapi_extra=body_schema(InstallIn),
)
async def install_policy(request: Request, user: User = Depends(current_user)) -> Any:
    ctx = request.app.state.ctx
    check(ctx, user, "policy.install", "policy:*")
    body = parse_body(InstallIn, await request.body())
    # always text: the server never reads a path a client names
    policy = loads(body.policy_yaml, "<request>")
    return out(await run_in_threadpool(ctx.acting(user).install_policy, policy))


@router.get(
    "/policies/{name}",
    response_model=GatePolicyOut,
    summary="wd.gate_policy(name, version=None): an installed policy's text and hash",
)
def gate_policy(
    name: str,
    request: Request,
    version: int | None = Query(None, ge=1, le=2**31 - 1),
    user: User = Depends(current_user),
) -> Any:
    ctx = request.app.state.ctx
    check(ctx, user, "read", f"policy:{name}")
    return out(ctx.warden.gate_policy(name, version))


@router.get("/bindings", response_model=many(BindingOut), summary="wd.policy_bindings()")
def bindings(request: Request, user: User = Depends(current_user)) -> Any:
    ctx = request.app.state.ctx
    check(ctx, user, "read", "policy:*")
    return out(ctx.warden.policy_bindings())


@router.put(
    "/bindings",
    response_model=BindingOut,
    summary="wd.bind_policy(policy, alias= | risk_tier=) (admins)",
    openapi_extra=body_schema(BindIn),
)
async def bind_policy(request: Request, user: User = Depends(current_user)) -> Any:
    ctx = request.app.state.ctx
    check(ctx, user, "policy.bind", "policy:*")
    body = parse_body(BindIn, await request.body())
    wd = ctx.acting(user)
    return out(
        await run_in_threadpool(
            lambda: wd.bind_policy(body.policy, alias=body.alias, risk_tier=body.risk_tier)
        )
    )


@router.delete(
    "/bindings",
    response_model=BindingOut,
    summary="wd.unbind_policy(alias= | risk_tier=) (admins)",
)
def unbind_policy(
    request: Request,
    alias: str | None = Query(None),
    risk_tier: str | None = Query(None),
    user: User = Depends(current_user),
) -> Any:
    ctx = request.app.state.ctx
    check(ctx, user, "policy.bind", "policy:*")
    return out(ctx.acting(user).unbind_policy(alias=alias, risk_tier=risk_tier))


@router.get(
    "/protected-aliases",
    response_model=list[str],
    summary="wd.protected_aliases(): aliases moved only through a bound gate policy",
)
def protected_aliases(request: Request, user: User = Depends(current_user)) -> Any:
    ctx = request.app.state.ctx
    check(ctx, user, "read", "policy:*")
    return ctx.warden.protected_aliases()


@router.put(
    "/models/{name}/risk-tier",
    response_model=dict[str, Any],
    summary="wd.set_risk_tier(name, tier, reason=) (validators and admins; audited)",
    openapi_extra=body_schema(RiskTierIn),
)
async def set_risk_tier(name: str, request: Request, user: User = Depends(current_user)) -> Any:
    ctx = request.app.state.ctx
    check(ctx, user, "model.risk_tier", f"model:{name}")
    body = parse_body(RiskTierIn, await request.body())
    wd = ctx.acting(user)
    return out(
        await run_in_threadpool(lambda: wd.set_risk_tier(name, body.risk_tier, reason=body.reason))
    )
