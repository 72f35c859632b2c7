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

    from mlwarden.server.dashboard.routes import router
    from mlwarden.server.dashboard.session import Sessions

    warden = app.state.ctx.warden
    app.state.dashboard_sessions = Sessions(warden.access, secret_file=_secret_file(warden))
    app.include_router(router)
    app.mount("/static", StaticFiles(directory=str(STATIC)), name="dashboard-static")


def _secret_file(warden: Any) -> Any:
    """Beside the audit signing key, which every worker of this store already reads."""
    from mlwarden.store.sql.audit import key_path

    try:
        folder = key_path(warden.settings).parent
    except Exception:  # no local key location (e.g. an unusual Warden): per-process key
        return None
    return folder / "dashboard-session.key" if folder.is_dir() else None


__all__ = ["STATIC", "TEMPLATES", "mount"]
