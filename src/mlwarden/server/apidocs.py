"""``/docs``: Swagger UI over the OpenAPI document, from files vendored with the dashboard
(no CDN) under the dashboard's Content-Security-Policy. ReDoc is off: it would need another
bundle and a web worker."""

from __future__ import annotations

from html import escape
from typing import Any

from fastapi.responses import HTMLResponse

#: the vendored Swagger UI (see dashboard/LICENSES-vendored.md)
SWAGGER_UI = "5.32.0"


def page(openapi_url: str, title: str) -> str:
    static = "/static"
    return f"""<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>{escape(title)} - API</title>
<link rel="stylesheet" href="{static}/vendor/swagger-ui-{SWAGGER_UI}.min.css">
</head>
<body>
<div id="swagger-ui" data-openapi="{escape(openapi_url)}"></div>
<script src="{static}/vendor/swagger-ui-bundle-{SWAGGER_UI}.min.js"></script>
<script src="{static}/api-docs.js"></script>
</body>
</html>
"""


def install(app: Any) -> None:
    """Add ``GET /docs`` to an app created with ``docs_url=None, redoc_url=None``."""
    from mlwarden.server.dashboard.routes import HEADERS

    body = page(app.openapi_url or "/openapi.json", app.title)

    @app.get("/docs", include_in_schema=False)
    def docs() -> HTMLResponse:
        return HTMLResponse(body, headers=HEADERS)
