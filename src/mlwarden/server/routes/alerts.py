"""Alerts, their deliveries, monitoring policies (install, evaluate) and the block list."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel, Field

from mlwarden.access import User
from mlwarden.alerts.policy import MonitoringPolicy, loads
from mlwarden.registry.refs import MAX_ID
from mlwarden.server.auth import check, current_user
from mlwarden.server.routes._util import Page, StrictJsonRoute, out, paging, version_ref
from mlwarden.server.schemas import AlertOut, ChannelOut, DeliveryOut, EvaluationOut, VersionOut
from mlwarden.server.wire_schema import many

router = APIRouter(prefix="/v1", tags=["alerts"], route_class=StrictJsonRoute)


class PolicyText(BaseModel):
    # the YAML text (the server never reads a client's paths) and the client's file name,
    # kept so the policy, its audit event and its errors name the same file as locally
    source: str
    path: str | None = None


class EvaluateIn(BaseModel):
    policies: list[PolicyText] | None = None  # None: the installed ones
    names: list[str] | None = None
    refresh: bool = False


class ReasonIn(BaseModel):
    reason: str


class ChannelIn(BaseModel):
    name: str = Field(max_length=64)
    url: str | None = Field(default=None, max_length=2048)
    format: str = Field(default="json", max_length=16)
    secret_env: str | None = Field(default=None, max_length=128)


def policy_from(text: PolicyText) -> MonitoringPolicy:
    loaded = loads(text.source, filename=text.path or "<string>")
    return MonitoringPolicy(**{**loaded.__dict__, "path": text.path})


def policy_out(pol: MonitoringPolicy) -> dict[str, Any]:
    return {**pol.to_dict(), "source": pol.source}


@router.get(
    "/alerts",
    response_model=many(AlertOut),
    summary="wd.alerts(name=None, status=, policy=, limit=)",
)
def alerts(
    request: Request,
    name: str | None = None,
    status: str | None = None,
    policy: str | None = None,
    page: Page = Depends(paging()),
    user: User = Depends(current_user),
) -> Any:
    ctx = request.app.state.ctx
    check(ctx, user, "read", f"model:{name or '*'}")
    found = page.of(ctx.warden.alerts(name, status=status, policy=policy, limit=page.end))
    return [a.to_dict() for a in found]


@router.get(
    "/alerts/deliveries",
    response_model=many(DeliveryOut),
    summary="wd.alert_deliveries(alert_id=None, failed=, limit=)",
)
def alert_deliveries(
    request: Request,
    alert_id: int | None = Query(None, ge=0, le=MAX_ID),
    failed: bool | None = None,
    page: Page = Depends(paging()),
    user: User = Depends(current_user),
) -> Any:
    ctx = request.app.state.ctx
    # deliveries and policies name channel URLs (a Slack webhook URL is a secret)
    check(ctx, user, "checks.run", "alert:*")
    found = page.of(ctx.warden.alert_deliveries(alert_id, failed=failed, limit=page.end))
    return [d.to_dict() for d in found]


@router.get("/alerts/channels", response_model=many(ChannelOut), summary="wd.alert_channels()")
def alert_channels(request: Request, user: User = Depends(current_user)) -> Any:
    ctx = request.app.state.ctx
    check(ctx, user, "config.set", "alert-channel:*")
    return [c.to_dict() for c in ctx.acting(user).alert_channels()]


@router.post(
    "/alerts/channels",
    response_model=ChannelOut,
    status_code=201,
    summary="wd.install_alert_channel(name, url, format=, secret_env=)",
)
def install_alert_channel(
    body: ChannelIn, request: Request, user: User = Depends(current_user)
) -> Any:
    ctx = request.app.state.ctx
    check(ctx, user, "config.set", "alert-channel:*")
    channel = ctx.acting(user).install_alert_channel(
        body.name, body.url, format=body.format, secret_env=body.secret_env
    )
    return channel.to_dict()


@router.delete("/alerts/channels/{name}", summary="wd.remove_alert_channel(name)")
def remove_alert_channel(name: str, request: Request, user: User = Depends(current_user)) -> Any:
    ctx = request.app.state.ctx
    check(ctx, user, "config.set", "alert-channel:*")
    ctx.acting(user).remove_alert_channel(name)
    return {"removed": name}


@router.get("/monitoring/policies", summary="wd.monitoring_policies()")
def monitoring_policies(
    request: Request, page: Page = Depends(paging()), user: User = Depends(current_user)
) -> Any:
    ctx = request.app.state.ctx
    check(ctx, user, "checks.run", "monitoring-policy:*")
    return [policy_out(p) for p in page.of(ctx.warden.monitoring_policies())]


@router.post(
    "/monitoring/policies", status_code=201, summary="wd.install_monitoring_policy(policy)"
)
def install_monitoring_policy(
    body: PolicyText, request: Request, user: User = Depends(current_user)
) -> Any:
    ctx = request.app.state.ctx
    # the role before the text: parsing YAML and compiling CEL is the attack surface
    check(ctx, user, "config.set", "monitoring-policy:*")
    pol = policy_from(body)
    return policy_out(ctx.acting(user).install_monitoring_policy(pol))


@router.post(
    "/monitoring/evaluate",
    response_model=EvaluationOut,
    summary="wd.evaluate_monitoring(policies=, names=)",
)
def evaluate_monitoring(
    body: EvaluateIn, request: Request, user: User = Depends(current_user)
) -> Any:
    ctx = request.app.state.ctx
    check(ctx, user, "checks.run", "monitoring")  # before any policy text is parsed
    pols = None if body.policies is None else [policy_from(p) for p in body.policies]
    result = ctx.acting(user).evaluate_monitoring(pols, names=body.names, refresh=body.refresh)
    return result.to_dict()


@router.post(
    "/models/{name}/versions/{ref}/block",
    response_model=VersionOut,
    summary="wd.block(ref, reason=)",
)
def block(
    name: str, ref: str, body: ReasonIn, request: Request, user: User = Depends(current_user)
) -> Any:
    ctx = request.app.state.ctx
    check(ctx, user, "model.rollback", f"model:{name}/{ref}")
    return out(ctx.acting(user).block(version_ref(name, ref), reason=body.reason))


@router.post(
    "/models/{name}/versions/{ref}/unblock",
    response_model=VersionOut,
    summary="wd.unblock(ref, reason=)",
)
def unblock(
    name: str, ref: str, body: ReasonIn, request: Request, user: User = Depends(current_user)
) -> Any:
    ctx = request.app.state.ctx
    check(ctx, user, "version.approve", f"model:{name}/{ref}")
    return out(ctx.acting(user).unblock(version_ref(name, ref), reason=body.reason))
