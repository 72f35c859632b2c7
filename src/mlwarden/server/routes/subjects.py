"""Data subjects (GDPR access and erasure), retention and masking policies."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel, Field

from mlwarden.access import User
from mlwarden.server.auth import check, current_user
from mlwarden.server.routes._util import StrictJsonRoute, out

router = APIRouter(prefix="/v1", tags=["data subjects and privacy"], route_class=StrictJsonRoute)


class SubjectIn(BaseModel):
    # in the body, not the URL: a raw identifier (an e-mail, a customer id) must not land in
    # access logs or proxies; only its pseudonym is ever written down
    subject: str
    reason: str | None = None
    vacuum: bool = False  # erasure only: VACUUM the affected tables now (PostgreSQL)


class RetentionIn(BaseModel):
    days: int = Field(ge=1, le=36_500, description="1 day to 100 years")


class MaskingPolicyIn(BaseModel):
    policy_yaml: str  # the text: the server never reads a client's paths


def _subject(ctx: Any, subject: str) -> str:
    return f"subject:{ctx.warden.vault.pseudonym(subject)}"


@router.post("/subjects/erase", summary="wd.erase_subject(subject, reason=None, vacuum=False)")
def erase_subject(body: SubjectIn, request: Request, user: User = Depends(current_user)) -> Any:
    ctx = request.app.state.ctx
    check(ctx, user, "subject.erase", _subject(ctx, body.subject))
    return out(ctx.acting(user).erase_subject(body.subject, reason=body.reason, vacuum=body.vacuum))


@router.post("/subjects/export", summary="wd.export_subject(subject)")
def export_subject(body: SubjectIn, request: Request, user: User = Depends(current_user)) -> Any:
    ctx = request.app.state.ctx
    check(ctx, user, "subject.export", _subject(ctx, body.subject))
    return out(ctx.acting(user).export_subject(body.subject))


@router.put("/models/{name}/retention", summary="wd.set_retention(name, days)")
def set_retention(
    name: str, body: RetentionIn, request: Request, user: User = Depends(current_user)
) -> None:
    ctx = request.app.state.ctx
    check(ctx, user, "config.set", f"model:{name}")
    ctx.acting(user).set_retention(name, body.days)


@router.post("/retention/apply", response_model=dict[str, int], summary="wd.apply_retention()")
def apply_retention(request: Request, user: User = Depends(current_user)) -> Any:
    ctx = request.app.state.ctx
    check(ctx, user, "config.set", "model:*")  # the SDK call purges every model's log
    return ctx.acting(user).apply_retention()


@router.put("/models/{name}/masking-policy", summary="wd.set_masking_policy(name, policy)")
def set_masking_policy(
    name: str, body: MaskingPolicyIn, request: Request, user: User = Depends(current_user)
) -> Any:
    ctx = request.app.state.ctx
    check(ctx, user, "config.set", f"model:{name}")
    # a one-line text naming a file on the server would be read as a path there
    if "\n" not in body.policy_yaml:
        body.policy_yaml += "\n"
    return ctx.acting(user).set_masking_policy(name, body.policy_yaml).to_dict()
