"""Models, versions, artifacts, evidence, aliases and approvals."""

from __future__ import annotations

import base64
import binascii
from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, Depends, Query, Request, Response

from mlwarden._hash import sha256_bytes
from mlwarden._json import jsonable
from mlwarden.access import User
from mlwarden.entities import ASSERTED
from mlwarden.errors import IntegrityError, ValidationError
from mlwarden.registry.flavors import flavor_names
from mlwarden.registry.refs import check_alias, check_name
from mlwarden.registry.service import PreparedVersion
from mlwarden.server.auth import check, current_user
from mlwarden.server.routes._util import Page, StrictJsonRoute, out, paging, version_ref
from mlwarden.server.schemas import (
    AliasChangeOut,
    ApprovalOut,
    ApprovalStatusOut,
    ApproveIn,
    ModelOut,
    ModelUpdateIn,
    RegisterIn,
    SetAliasIn,
    VersionOut,
)
from mlwarden.server.wire_schema import many
from mlwarden.store.registry_store import NewModel, NewVersion

router = APIRouter(prefix="/v1", tags=["registry"], route_class=StrictJsonRoute)


def _ctx(request: Request) -> Any:
    return request.app.state.ctx


@router.get("/models", response_model=many(ModelOut), summary="wd.list_models()")
def list_models(
    request: Request, page: Page = Depends(paging()), user: User = Depends(current_user)
) -> Any:
    ctx = _ctx(request)
    # no global role needed: the models this user may read, by role, grants and token
    # scope (a model they are denied is left out); an empty list for nobody's
    models = ctx.warden.list_models()
    readable = ctx.warden.access.readable(user, [m.name for m in models])
    return out(page.of([m for m in models if m.name in readable]))


@router.get("/models/{name}", response_model=ModelOut, summary="wd.get_model(name)")
def get_model(name: str, request: Request, user: User = Depends(current_user)) -> Any:
    ctx = _ctx(request)
    check(ctx, user, "read", f"model:{name}")
    return out(ctx.warden.get_model(name))


@router.patch("/models/{name}", response_model=ModelOut, summary="wd.update_model(name, ...)")
def update_model(
    name: str, body: ModelUpdateIn, request: Request, user: User = Depends(current_user)
) -> Any:
    ctx = _ctx(request)
    check(ctx, user, "model.update", f"model:{name}")
    return out(ctx.acting(user).update_model(name, **body.model_dump(exclude_none=True)))


@router.get(
    "/models/{name}/versions", response_model=many(VersionOut), summary="wd.list_versions(name)"
)
def list_versions(
    name: str,
    request: Request,
    page: Page = Depends(paging()),
    user: User = Depends(current_user),
) -> Any:
    ctx = _ctx(request)
    check(ctx, user, "read", f"model:{name}")
    return out(page.of(ctx.warden.list_versions(name)))


@router.post(
    "/models/{name}/versions",
    response_model=VersionOut,
    status_code=201,
    summary="wd.register_model(...): a version prepared by the SDK",
)
def register_version(
    name: str, body: RegisterIn, request: Request, user: User = Depends(current_user)
) -> Any:
    """The SDK computes the signature, metrics, lineage and evidence where the data is (the
    data never travels) and uploads the artifact with them; the server stores and audits."""
    ctx = _ctx(request)
    check_name(name)
    check(ctx, user, "model.register", f"model:{name}")
    wd = ctx.acting(user)
    wd.access.require(user.name, "model.register", f"model:{name}")
    if body.flavor not in flavor_names():
        raise ValidationError(f"unknown flavor {body.flavor!r}", field="flavor")
    try:
        data = base64.b64decode(body.artifact_b64, validate=True)
        blobs = {k: base64.b64decode(v, validate=True) for k, v in body.blobs_b64.items()}
    except (binascii.Error, ValueError) as exc:
        raise ValidationError(f"artifact is not base64: {exc}", field="artifact_b64") from exc
    # a proxied version's endpoint is where the server will post inputs: egress rules apply
    ctx.proxies.check_registration(body.flavor, jsonable(body.flavor_info), data)
    # before anything is stored: no client-named code, and the artifact loads and predicts
    # in the sandbox (a sync route: FastAPI runs it on a worker thread, off the event loop)
    flavor_info = wd.registry.verify_artifact(
        body.flavor, jsonable(body.flavor_info), data, jsonable(body.signature)
    )
    for digest, blob in blobs.items():
        if sha256_bytes(blob) != digest:
            raise IntegrityError(f"blob {digest[:12]} does not match its sha256", blob=digest)
    lineage = dict(body.lineage)
    # who registered is the authenticated user, whatever the client wrote
    lineage["registered_by"] = user.name
    lineage.setdefault("registered_at", datetime.now(UTC).isoformat())
    spec = NewVersion(
        artifact_sha256=sha256_bytes(data),
        artifact_size=len(data),
        flavor=body.flavor,
        flavor_info=flavor_info,
        signature=jsonable(body.signature),
        lineage=jsonable(lineage),
        metrics=jsonable(body.metrics),
        params=jsonable(body.params),
        description=body.description,
        # the server did not compute these from data it holds: the client only asserts them
        provenance={
            **{f"metrics.{k}": ASSERTED for k in body.metrics},
            **{kind: ASSERTED for kind in body.evidence},
        },
    )
    # the tier is the server's: a developer's requested tier is recorded, not applied
    risk_tier = wd.gates.assign_tier(user.name, body.risk_tier)
    model = NewModel(
        name, body.owner, risk_tier, body.intended_use, body.description, dict(body.tags)
    )
    prepared = PreparedVersion(name, data, model, spec, jsonable(body.evidence), blobs)
    # the one commit path: the same rows and audit events as a local registration
    mv = wd.registry.commit(
        prepared, actor=user.name, via="api", requested_risk_tier=body.risk_tier
    )
    return out(mv)


@router.get(
    "/models/{name}/versions/{ref}",
    response_model=VersionOut,
    summary="wd.get_model_version(ref): a number, an alias, or `latest`",
)
def get_version(name: str, ref: str, request: Request, user: User = Depends(current_user)) -> Any:
    ctx = _ctx(request)
    check(ctx, user, "read", f"model:{name}")
    return out(ctx.warden.get_model_version(version_ref(name, ref)))


@router.get(
    "/models/{name}/versions/{ref}/artifact",
    summary="The version's artifact bytes (wd.load_model loads them client-side)",
    response_class=Response,
    responses={200: {"content": {"application/octet-stream": {}}}},
)
def get_artifact(
    name: str, ref: str, request: Request, user: User = Depends(current_user)
) -> Response:
    ctx = _ctx(request)
    check(ctx, user, "read", f"model:{name}")
    mv = ctx.warden.get_model_version(version_ref(name, ref))
    data = ctx.warden.artifacts.get(mv.artifact_sha256, what=mv.ref)  # checks the sha256
    return Response(
        data,
        media_type="application/octet-stream",
        headers={"X-Artifact-Sha256": mv.artifact_sha256, "X-Model-Version": str(mv.version)},
    )


@router.get(
    "/models/{name}/versions/{ref}/evidence/{kind}",
    response_model=dict[str, Any],
    summary="wd.get_evidence(ref, kind)",
)
def get_evidence(
    name: str, ref: str, kind: str, request: Request, user: User = Depends(current_user)
) -> Any:
    ctx = _ctx(request)
    check(ctx, user, "read", f"model:{name}")
    evidence = ctx.warden.get_evidence(version_ref(name, ref), kind)
    ctx.viewed(user, name, "evidence")
    return out(evidence)


@router.put(
    "/models/{name}/aliases/{alias}",
    response_model=AliasChangeOut,
    summary="wd.set_alias(name, alias, version)",
)
def set_alias(
    name: str, alias: str, body: SetAliasIn, request: Request, user: User = Depends(current_user)
) -> Any:
    ctx = _ctx(request)
    check(ctx, user, "alias.set", f"model:{name}/{alias}")
    change = ctx.acting(user).set_alias(
        name, alias, body.version, reason=body.reason, override=body.override
    )
    ctx.resolver.forget(name)
    return out(change)


@router.delete(
    "/models/{name}/aliases/{alias}",
    response_model=AliasChangeOut,
    summary="wd.delete_alias(name, alias)",
)
def delete_alias(
    name: str,
    alias: str,
    request: Request,
    override: bool = Query(False, description="override a protected alias (admins)"),
    reason: str | None = Query(None, max_length=1000),
    user: User = Depends(current_user),
) -> Any:
    ctx = _ctx(request)
    check(ctx, user, "alias.delete", f"model:{name}/{alias}")
    change = ctx.acting(user).delete_alias(name, alias, reason=reason, override=override)
    ctx.resolver.forget(name)
    return out(change)


@router.get(
    "/models/{name}/alias-history",
    response_model=many(AliasChangeOut),
    summary="wd.alias_history(name, alias=None)",
)
def alias_history(
    name: str,
    request: Request,
    alias: str | None = Query(None),
    page: Page = Depends(paging()),
    user: User = Depends(current_user),
) -> Any:
    ctx = _ctx(request)
    check(ctx, user, "read", f"model:{name}")
    if alias is not None:
        check_alias(alias)
    return out(page.of(ctx.warden.alias_history(name, alias)))


@router.post(
    "/models/{name}/versions/{ref}/approvals",
    response_model=ApprovalOut,
    status_code=201,
    summary="wd.approve(ref, comment=None)",
    tags=["approvals"],
)
def approve(
    name: str, ref: str, body: ApproveIn, request: Request, user: User = Depends(current_user)
) -> Any:
    ctx = _ctx(request)
    check(ctx, user, "version.approve", f"model:{name}/{ref}")
    return out(ctx.acting(user).approve(version_ref(name, ref), comment=body.comment))


@router.get(
    "/models/{name}/versions/{ref}/approvals",
    response_model=many(ApprovalOut),
    summary="wd.approvals(ref)",
    tags=["approvals"],
)
def approvals(
    name: str,
    ref: str,
    request: Request,
    page: Page = Depends(paging()),
    user: User = Depends(current_user),
) -> Any:
    ctx = _ctx(request)
    check(ctx, user, "read", f"model:{name}")
    return out(page.of(ctx.warden.approvals(version_ref(name, ref))))


@router.get(
    "/models/{name}/versions/{ref}/approval-status",
    response_model=ApprovalStatusOut,
    summary="wd.approval_status(ref)",
    tags=["approvals"],
)
def approval_status(
    name: str, ref: str, request: Request, user: User = Depends(current_user)
) -> Any:
    ctx = _ctx(request)
    check(ctx, user, "read", f"model:{name}")
    return out(ctx.warden.approval_status(version_ref(name, ref)))
