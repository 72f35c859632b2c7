"""Users and API tokens."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.security import HTTPAuthorizationCredentials
from pydantic import BaseModel, Field

from mlwarden.access import User
from mlwarden.errors import PermissionDenied
from mlwarden.registry.refs import MAX_ID
from mlwarden.server.auth import bearer, check, current_user
from mlwarden.server.routes._util import (
    Page,
    StrictJsonRoute,
    body_schema,
    out,
    paging,
    parse_body,
)
from mlwarden.server.schemas import CreateTokenIn, CreateUserIn, NewTokenOut, TokenOut, UserOut
from mlwarden.server.wire_schema import many

router = APIRouter(prefix="/v1", tags=["users and tokens"], route_class=StrictJsonRoute)


@router.get("/users", response_model=many(UserOut), summary="wd.list_users()")
def list_users(
    request: Request, page: Page = Depends(paging()), user: User = Depends(current_user)
) -> Any:
    ctx = request.app.state.ctx
    check(ctx, user, "read", "user:*")
    return out(page.of(ctx.warden.list_users()))


@router.get("/users/me", response_model=UserOut, summary="The authenticated user")
def me(user: User = Depends(current_user)) -> Any:
    return out(user)


@router.post(
    "/users", response_model=UserOut, status_code=201, summary="wd.create_user(name, role)"
)
def create_user(body: CreateUserIn, request: Request, user: User = Depends(current_user)) -> Any:
    ctx = request.app.state.ctx
    check(ctx, user, "user.create", f"user:{body.name}")
    return out(ctx.acting(user).create_user(body.name, body.role))


class RoleIn(BaseModel):
    role: str = Field(
        min_length=1, max_length=32, description="viewer, developer, validator, admin or none"
    )


@router.put(
    "/users/{name}/role",
    response_model=UserOut,
    summary="wd.set_role(name, role) (admins; audited)",
    openapi_extra=body_schema(RoleIn),
)
async def set_role(name: str, request: Request, user: User = Depends(current_user)) -> Any:
    ctx = request.app.state.ctx
    check(ctx, user, "user.create", "user:*")  # the role before the body
    body = parse_body(RoleIn, await request.body())
    try:
        return out(ctx.acting(user).set_role(name, body.role))
    finally:
        ctx.auth.forget()  # the new role applies at once here


@router.get("/tokens", response_model=many(TokenOut), summary="wd.list_tokens(user=None)")
def list_tokens(
    request: Request,
    user_name: str | None = Query(None, alias="user"),
    page: Page = Depends(paging()),
    user: User = Depends(current_user),
) -> Any:
    ctx = request.app.state.ctx
    if not ctx.warden.access.decide(user, "token.manage", "user:*").allowed:
        # without token.manage, a user sees their own tokens only
        if user_name not in (None, user.name):
            check(ctx, user, "token.manage", f"user:{user_name}")
        user_name = user.name
    return out(page.of(ctx.warden.list_tokens(user_name)))


@router.post(
    "/tokens",
    response_model=NewTokenOut,
    status_code=201,
    summary="wd.create_token(user, expires_in=None, description=None)",
)
def create_token(
    body: CreateTokenIn,
    request: Request,
    user: User = Depends(current_user),
    creds: HTTPAuthorizationCredentials | None = Depends(bearer),
) -> Any:
    ctx = request.app.state.ctx
    action = "token.create" if body.user == user.name else "token.manage"
    check(ctx, user, action, f"user:{body.user}")
    # the token this request came with: the new one expires no later (issue 14, finding 6)
    parent = ctx.warden.access.find_token(creds.credentials) if creds else None
    new = ctx.acting(user).access.create_token(
        body.user,
        actor=user.name,
        expires_in=body.expires_in,
        description=body.description,
        parent=parent,
        scope=body.scope,
    )
    # the secret goes to the caller once, in this body; never to a log
    return {"token": new.token, "info": out(new.info)}


@router.delete("/tokens/{token_id}", response_model=TokenOut, summary="wd.revoke_token(id)")
def revoke_token(
    request: Request,
    token_id: int = Path(ge=0, le=MAX_ID),
    user: User = Depends(current_user),
) -> Any:
    ctx = request.app.state.ctx
    check(ctx, user, "token.revoke", f"token:{token_id}")
    try:
        revoked = ctx.acting(user).revoke_token(token_id)
    finally:
        ctx.auth.forget()  # a revoked token must stop working here at once
    return out(revoked)


__all__ = ["PermissionDenied", "router"]
