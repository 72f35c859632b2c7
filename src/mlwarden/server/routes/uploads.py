"""Uploads and server-measured registrations: blobs, registration jobs, job status.

``PUT /v1/blobs/{sha256}`` stores raw bytes content-addressed (the role is checked before a
byte of the body is read); ``POST /v1/models/{name}/registrations`` starts a job that loads the
uploaded artifact with an installed flavor and measures it on the uploaded data, off the event
loop; ``GET /v1/jobs/{id}`` tells how it went (docs/serving.md, "Uploads and registration jobs").
"""

from __future__ import annotations

import hashlib
import os
import re
import tempfile
from typing import Any

from fastapi import APIRouter, Depends, Request, Response
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse

from mlwarden.access import User
from mlwarden.errors import NotFound, ValidationError
from mlwarden.registry.refs import check_name
from mlwarden.registry.upload import DatasetBlob, Upload, check_flavor, prepare_upload
from mlwarden.server.auth import check, current_user
from mlwarden.server.routes._util import StrictJsonRoute, out
from mlwarden.server.schemas import BlobOut, DatasetIn, JobOut, RegistrationIn

router = APIRouter(prefix="/v1", tags=["uploads"], route_class=StrictJsonRoute)

_SHA256 = re.compile(r"[0-9a-f]{64}")
#: bytes hashed and written per step (off the event loop)
_WRITE_BATCH = 1024 * 1024


def _ctx(request: Request) -> Any:
    return request.app.state.ctx


def _digest(sha256: str) -> str:
    if not _SHA256.fullmatch(sha256):
        raise ValidationError("sha256 must be 64 lowercase hex digits", field="sha256")
    return sha256


@router.put(
    "/blobs/{sha256}",
    response_model=BlobOut,
    status_code=201,
    summary="Upload raw bytes (an artifact, a Parquet dataset), stored under their sha256",
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {"application/octet-stream": {"schema": {"type": "string"}}},
        }
    },
)
async def put_blob(sha256: str, request: Request, user: User = Depends(current_user)) -> Any:
    """Idempotent. The role is checked before the body is read; the body streams to a
    temporary file while it is hashed, and a sha256 other than the path's is a 422."""
    ctx = _ctx(request)
    await run_in_threadpool(check, ctx, user, "model.register", f"blob:{sha256[:64]}")
    digest = _digest(sha256)
    artifacts = ctx.warden.artifacts
    if await run_in_threadpool(artifacts.exists, digest):
        return JSONResponse({"sha256": digest, "size": None, "created": False})
    hasher = hashlib.sha256()
    size = 0
    fd, tmp = tempfile.mkstemp(prefix="mlwarden-upload-")
    try:
        with os.fdopen(fd, "wb") as fh:

            def write(chunk: bytes) -> None:
                hasher.update(chunk)
                fh.write(chunk)

            pending: list[bytes] = []
            held = 0
            async for chunk in request.stream():  # BodyLimit counts it (413 over the limit)
                pending.append(chunk)
                held += len(chunk)
                if held >= _WRITE_BATCH:
                    await run_in_threadpool(write, b"".join(pending))
                    size, pending, held = size + held, [], 0
            await run_in_threadpool(write, b"".join(pending))
            size += held
        if hasher.hexdigest() != digest:
            raise ValidationError(
                f"the body's sha256 is {hasher.hexdigest()}, not the {digest} of the path",
                field="sha256",
                actual=hasher.hexdigest(),
            )
        await run_in_threadpool(artifacts.put_file, tmp, digest)
    finally:
        os.unlink(tmp)
    return {"sha256": digest, "size": size, "created": True}


@router.head(
    "/blobs/{sha256}",
    summary="200 if the blob is stored (skip its upload), else 404",
    response_class=Response,
)
def has_blob(sha256: str, request: Request, user: User = Depends(current_user)) -> Response:
    ctx = _ctx(request)
    check(ctx, user, "model.register", f"blob:{sha256[:64]}")
    found = ctx.warden.artifacts.exists(_digest(sha256))
    return Response(status_code=200 if found else 404)


def _dataset(body: DatasetIn | None) -> DatasetBlob | None:
    if body is None:
        return None
    return DatasetBlob(body.sha256, body.label, tuple(body.sensitive), body.name)


@router.post(
    "/models/{name}/registrations",
    response_model=JobOut,
    status_code=202,
    summary="wd.register_model(...): measured by the server from uploaded blobs (a job)",
)
def register_upload(
    name: str,
    body: RegistrationIn,
    request: Request,
    response: Response,
    user: User = Depends(current_user),
) -> Any:
    """Checks what it can at once (role, name, flavor, that the blobs are uploaded), then
    queues the measuring on a worker thread; poll ``GET /v1/jobs/{id}``."""
    ctx = _ctx(request)
    check(ctx, user, "model.register", f"model:{name}")
    check_name(name)
    wd = ctx.acting(user)
    wd.access.require(user.name, "model.register", f"model:{name}")
    upload = Upload(
        artifact_sha256=body.artifact_sha256,
        flavor=body.flavor,
        flavor_info=dict(body.flavor_info),
        train=_dataset(body.train),
        eval=_dataset(body.eval),
        sensitive_features=tuple(body.sensitive_features),
        owner=body.owner,
        # the tier is the server's: a developer's requested tier is not applied
        risk_tier=wd.gates.assign_tier(user.name, body.risk_tier),
        intended_use=body.intended_use,
        description=body.description,
        tags=dict(body.tags),
        favorable_label=body.favorable_label,
        client=dict(body.client),
    )
    check_flavor(upload.flavor, upload.flavor_info)
    for role, digest in (
        ("artifact", upload.artifact_sha256),
        ("train", upload.train and upload.train.sha256),
        ("eval", upload.eval and upload.eval.sha256),
    ):
        if digest and not wd.artifacts.exists(digest):
            raise ValidationError(
                f"{role}: no uploaded blob with sha256 {digest} (PUT /v1/blobs/{{sha256}} first)",
                field=f"{role}.sha256" if role != "artifact" else "artifact_sha256",
            )

    def work(progress: Any) -> Any:
        prepared = prepare_upload(wd.registry, name, upload, actor=user.name, progress=progress)
        progress("storing the version")
        return out(wd.registry.commit(prepared, actor=user.name, via="api"))

    job = ctx.jobs.submit("registration", user.name, f"model:{name}", work)
    response.headers["Location"] = f"/v1/jobs/{job.id}"
    return job.to_dict()


@router.get("/jobs/{job_id}", response_model=JobOut, summary="A job's state, progress, result")
def get_job(job_id: str, request: Request, user: User = Depends(current_user)) -> Any:
    """The job's owner or an admin may read it; to anyone else it does not exist."""
    job = _ctx(request).jobs.get(job_id)
    if job is None or (job.owner != user.name and (user.role != "admin" or user.scope is not None)):
        raise NotFound(f"no job {job_id[:64]!r} on this server", job=job_id[:64])
    return job.to_dict()
