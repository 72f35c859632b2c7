"""The web dashboard: server-rendered pages over the same ``Warden`` calls as the API.

``mount(app)`` adds the pages (``routes.py``) and the vendored static files to an app built by
``create_app``. See docs/dashboard.md.
"""

from __future__ import annotations

from importlib.resources import files
from typing import Any

STATIC = files("mlwarden.server.dashboard") / "static"
TEMPLATES = files("mlwarden.server.dashboard") / "templates"


def mount(app: Any) -> None:
    """Add the dashboard to ``app`` (after ``app.state.ctx`` is set)."""
    from fastapi.staticfiles import StaticFiles

    from mlwarden.server.dashboard.oidc import router as oidc_router
    from mlwarden.server.dashboard.routes import router
    from mlwarden.server.dashboard.session import Sessions

    # sessions live in the store (dashboard_sessions): no key to share between workers
    app.state.dashboard_sessions = Sessions(app.state.ctx.warden.access)
    app.include_router(router)
    app.include_router(oidc_router)
    app.mount("/static", StaticFiles(directory=str(STATIC)), name="dashboard-static")


__all__ = ["STATIC", "TEMPLATES", "mount"]
