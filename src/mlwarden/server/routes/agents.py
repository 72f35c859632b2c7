"""Agents in the registry: register a version (the server parses and checks its policies),
read versions, list agents. Aliases, promotion, rollback and approvals of agent versions are
the models' routes (an agent is a registered model of the ``agent`` flavor)."""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, Depends, Request
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel, ConfigDict, Field

from mlwarden.access import User
from mlwarden.entities.agents import AgentVersion
from mlwarden.registry.agents import MAX_INSTRUCTIONS, MAX_POLICIES, MAX_TOOLS, AgentSpec
from mlwarden.registry.refs import check_name
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
from mlwarden.server.schemas import ModelOut
from mlwarden.server.wire_schema import many, wire_schema

router = APIRouter(prefix="/v1", tags=["agents"], route_class=StrictJsonRoute)
AgentVersionOut = wire_schema(AgentVersion)


class AgentIn(BaseModel):
    """An agent version: policies travel as YAML text (the server never reads a path)."""

    model_config = ConfigDict(extra="forbid")

    instructions: str = Field(default="", max_length=MAX_INSTRUCTIONS)
    tools: list[str] = Field(default_factory=list, max_length=MAX_TOOLS)
    model: str | None = None
    policies: list[str] = Field(default_factory=list, max_length=MAX_POLICIES)
    owner: str | None = Field(default=None, max_length=200)
    # requested only: validators and admins get it, others the server's default tier
    risk_tier: Literal["low", "medium", "high"] | None = None
    description: str | None = Field(default=None, max_length=10_000)


@router.get("/agents", response_model=many(ModelOut), summary="wd.list_agents()")
def list_agents(
    request: Request, page: Page = Depends(paging()), user: User = Depends(current_user)
) -> Any:
    ctx = request.app.state.ctx
    agents = ctx.warden.list_agents()
    readable = ctx.warden.access.readable(user, [m.name for m in agents])
    return out(page.of([m for m in agents if m.name in readable]))


@router.post(
    "/agents/{name}/versions",
    response_model=AgentVersionOut,
    status_code=201,
    summary="wd.register_agent(name, ...): the agent's next version",
    openapi_extra=body_schema(AgentIn),
)
async def register_agent(name: str, request: Request, user: User = Depends(current_user)) -> Any:
    ctx = request.app.state.ctx
    check_name(name)
    check(ctx, user, "model.register", f"model:{name}")  # before the body is read
    body = parse_body(AgentIn, await request.body())
    wd = ctx.acting(user)
    # policies arrive as text and stay text: the server never opens a path a client names
    spec = AgentSpec(body.instructions, tuple(body.tools), body.model, tuple(body.policies))

    def register() -> AgentVersion:
        wd.access.require(user.name, "model.register", f"model:{name}")
        return wd.agents.register(
            name,
            spec,
            actor=user.name,
            via="api",
            owner=body.owner,
            # the tier is the server's: a developer's requested tier is not applied
            risk_tier=wd.gates.assign_tier(user.name, body.risk_tier),
            description=body.description,
        )

    return out(await run_in_threadpool(register))


@router.get(
    "/agents/{name}/versions/{ref}",
    response_model=AgentVersionOut,
    summary="wd.get_agent(ref): a number, an alias, or `latest`",
)
def get_agent(name: str, ref: str, request: Request, user: User = Depends(current_user)) -> Any:
    ctx = request.app.state.ctx
    check(ctx, user, "read", f"model:{name}")
    return out(ctx.warden.get_agent(version_ref(name, ref)))
