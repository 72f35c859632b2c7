"""Permissions per team and model over HTTP (``/v1/access/…``): teams, model ownership,
grants and denies, and ``explain``. Changes are for admins (``team.manage``,
``grant.manage``), checked on the global role before the body is read; the services audit
every change (docs/access.md)."""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel, Field

from mlwarden.access import User
from mlwarden.registry.refs import check_name
from mlwarden.server.auth import check, current_user
from mlwarden.server.routes._util import (
    Page,
    StrictJsonRoute,
    body_schema,
    out,
    paging,
    parse_body,
)
from mlwarden.server.schemas import AccessDecisionOut, GrantOut
from mlwarden.server.wire_schema import many

router = APIRouter(prefix="/v1/access", tags=["permissions"], route_class=StrictJsonRoute)

_NAME = Field(min_length=1, max_length=256)


class TeamIn(BaseModel):
    name: str = _NAME


class TeamOut(BaseModel):
    name: str


class AssignIn(BaseModel):
    team: str = _NAME


class GrantIn(BaseModel):
    user: str = _NAME
    effect: Literal["allow", "deny"] = Field(description="allow: a role; deny: an action")
    what: str = Field(min_length=1, max_length=64, description="the role, or the action or *")
    team: str | None = Field(default=None, max_length=256, description="on this team's models")
    model: str | None = Field(default=None, max_length=256, description="on this model")


class RemovedOut(BaseModel):
    removed: bool


def _admin(request: Request, user: User, action: str) -> Any:
    """The Warden acting as ``user`` once their *global* role allows ``action``: a role
    granted on one model never lets anyone hand out permissions."""
    ctx = request.app.state.ctx
    check(ctx, user, action, f"{action.split('.')[0]}:*")
    return ctx


@router.get("/teams", response_model=list[TeamOut], summary="wd.list_teams()")
def list_teams(
    request: Request, page: Page = Depends(paging()), user: User = Depends(current_user)
) -> Any:
    ctx = request.app.state.ctx
    check(ctx, user, "read", "team:*")
    return [{"name": t} for t in page.of(ctx.warden.list_teams())]


@router.post(
    "/teams",
    response_model=TeamOut,
    status_code=201,
    summary="wd.create_team(name) (admins; audited)",
    openapi_extra=body_schema(TeamIn),
)
async def create_team(request: Request, user: User = Depends(current_user)) -> Any:
    ctx = _admin(request, user, "team.manage")
    body = parse_body(TeamIn, await request.body())
    return {"name": ctx.acting(user).create_team(body.name)}


class OwnerOut(BaseModel):
    model: str
    team: str


@router.put(
    "/models/{name}/team",
    response_model=OwnerOut,
    summary="wd.assign_team(model, team): the team owning the model (admins; audited)",
    openapi_extra=body_schema(AssignIn),
)
async def assign_team(name: str, request: Request, user: User = Depends(current_user)) -> Any:
    ctx = _admin(request, user, "team.manage")
    check_name(name, "model")
    body = parse_body(AssignIn, await request.body())
    ctx.acting(user).assign_team(name, body.team)
    return {"model": name, "team": body.team}


@router.get("/grants", response_model=many(GrantOut), summary="wd.list_grants(user=None)")
def list_grants(
    request: Request,
    user_name: str | None = Query(None, alias="user", max_length=256),
    page: Page = Depends(paging()),
    user: User = Depends(current_user),
) -> Any:
    ctx = request.app.state.ctx
    if user_name != user.name:  # one's own grants; everyone's (or another's) for admins
        check(ctx, user, "grant.manage", "grant:*")
    return out(page.of(ctx.warden.list_grants(user_name)))


@router.post(
    "/grants",
    response_model=GrantOut,
    status_code=201,
    summary="wd.grant(user, role, team=, model=) or wd.deny(user, action, …) (admins; audited)",
    openapi_extra=body_schema(GrantIn),
)
async def add_grant(request: Request, user: User = Depends(current_user)) -> Any:
    ctx = _admin(request, user, "grant.manage")
    body = parse_body(GrantIn, await request.body())
    wd = ctx.acting(user)
    add = wd.grant if body.effect == "allow" else wd.deny
    try:
        return out(add(body.user, body.what, team=body.team, model=body.model))
    finally:
        ctx.auth.forget()


@router.post(
    "/grants/revoke",
    response_model=RemovedOut,
    summary="wd.revoke_grant(user, what, deny=, team=, model=) (admins; audited)",
    openapi_extra=body_schema(GrantIn),
)
async def revoke_grant(request: Request, user: User = Depends(current_user)) -> Any:
    ctx = _admin(request, user, "grant.manage")
    body = parse_body(GrantIn, await request.body())
    try:
        removed = ctx.acting(user).revoke_grant(
            body.user, body.what, deny=body.effect == "deny", team=body.team, model=body.model
        )
    finally:
        ctx.auth.forget()
    return {"removed": removed}


@router.get(
    "/explain",
    response_model=AccessDecisionOut,
    summary="wd.explain(user, model, action): the effective permission and why",
)
def explain(
    request: Request,
    user_name: str = Query(alias="user", min_length=1, max_length=256),
    model: str = Query(min_length=1, max_length=256),
    action: str = Query(min_length=1, max_length=64),
    user: User = Depends(current_user),
) -> Any:
    ctx = request.app.state.ctx
    if user_name != user.name:  # one's own permissions; anyone's for admins
        check(ctx, user, "grant.manage", "grant:*")
    check_name(model, "model")
    return out(ctx.warden.explain(user_name, model, action))
