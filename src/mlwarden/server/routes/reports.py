"""Documents (model card, Annex IV, …) and signed evidence bundles, built on the server,
where the evidence and the signing key are; the SDK writes them to the caller's files."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Depends, Request, Response

from mlwarden.access import User
from mlwarden.server.auth import check, current_user
from mlwarden.server.routes._util import StrictJsonRoute, version_ref

router = APIRouter(prefix="/v1", tags=["compliance"], route_class=StrictJsonRoute)

_MEDIA = {"md": "text/markdown", "html": "text/html", "pdf": "application/pdf"}


@router.get(
    "/models/{name}/versions/{ref}/reports/{kind}",
    response_class=Response,
    summary="wd.report(kind, ref, other=None, format=)",
)
def report(
    name: str,
    ref: str,
    kind: str,
    request: Request,
    other: str | None = None,
    format: str = "md",
    user: User = Depends(current_user),
) -> Any:
    ctx = request.app.state.ctx
    check(ctx, user, "read", f"model:{name}")
    wd = ctx.acting(user)
    if format != "pdf":
        text = wd.report(kind, version_ref(name, ref), other, format=format)
        return Response(text, media_type=f"{_MEDIA.get(format, 'text/plain')}; charset=utf-8")
    with tempfile.TemporaryDirectory() as tmp:  # a PDF only comes as a file
        path = Path(tmp) / "report.pdf"
        wd.report(kind, version_ref(name, ref), other, format=format, out=path)
        return Response(path.read_bytes(), media_type=_MEDIA["pdf"])


@router.get(
    "/models/{name}/versions/{ref}/bundle",
    response_class=Response,
    summary="wd.bundle(ref, path): the signed evidence bundle (zip)",
)
def bundle(name: str, ref: str, request: Request, user: User = Depends(current_user)) -> Any:
    ctx = request.app.state.ctx
    check(ctx, user, "read", f"model:{name}")
    with tempfile.TemporaryDirectory() as tmp:
        path = ctx.acting(user).bundle(version_ref(name, ref), Path(tmp) / "bundle.zip")
        return Response(path.read_bytes(), media_type="application/zip")
