"""``GET /metrics``: the Prometheus text of :mod:`mlwarden.alerts.metrics`.

It needs ``Authorization: Bearer mlw_…`` of any user (a viewer token is enough), like every
other route; ``MLWARDEN_ALERTS_METRICS_AUTH=false`` serves it openly for scrapers on a
trusted network. See docs/alerts.md for the metric table.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from fastapi import APIRouter, Request, Response
from fastapi.concurrency import run_in_threadpool
from prometheus_client import generate_latest

from mlwarden.alerts.metrics import CONTENT_TYPE, registry_for
from mlwarden.alerts.settings import AlertSettings
from mlwarden.server.auth import header_user

if TYPE_CHECKING:
    from mlwarden.client import Warden

__all__ = ["router"]


def router(warden: Warden, settings: AlertSettings | None = None) -> APIRouter:
    """``GET /metrics`` as an APIRouter; ``create_app`` includes it."""
    settings = settings if settings is not None else warden.settings.alerts
    registry = registry_for(warden)
    api = APIRouter(tags=["health"])

    @api.get(
        "/metrics",
        summary="Prometheus metrics (bearer token of any role, unless metrics_auth is off)",
        response_class=Response,
        responses={200: {"content": {CONTENT_TYPE: {}}, "description": "Prometheus text"}},
    )
    async def metrics(request: Request) -> Response:
        if settings.metrics_auth:
            await header_user(request)  # any authenticated user: viewer is enough
        body = await run_in_threadpool(generate_latest, registry)
        return Response(body, media_type=CONTENT_TYPE)

    return api
