"""Swagger UI at /api/docs, served from the npm package swagger-ui-dist (never a CDN)."""

from __future__ import annotations

import logging
from pathlib import Path

from aiohttp import web

from hub.web.api import Endpoint, add_endpoints

_LOGGER = logging.getLogger(__name__)
HERE = Path(__file__).parent
VENDOR = "/vendor/swagger-ui/"
# The page loads only files of this origin; the start-up script is a file too (the CSP allows no
# inline script).
PAGE = f"""<!doctype html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <title>TrackingBMS API</title>
  <link rel="stylesheet" href="{VENDOR}swagger-ui.css">
  <link rel="icon" type="image/png" href="{VENDOR}favicon-32x32.png">
</head>
<body>
  <div id="swagger-ui"></div>
  <script src="{VENDOR}swagger-ui-bundle.js"></script>
  <script src="{VENDOR}swagger-ui-standalone-preset.js"></script>
  <script src="/static/apidocs.js"></script>
</body>
</html>
"""


async def docs_page(request: web.Request) -> web.Response:
    """Swagger UI on this hub's OpenAPI document."""
    return web.Response(text=PAGE, content_type="text/html")


def register(app: web.Application, node_modules: Path) -> None:
    """/api/docs (public, like the document it shows) and the Swagger UI files under /vendor/swagger-ui/."""
    dist = node_modules / "swagger-ui-dist"
    if not dist.is_dir():
        _LOGGER.warning("Swagger UI not found at %s: run 'make web' (npm ci) for /api/docs", dist)
        return
    app.router.add_static(VENDOR, dist)
    add_endpoints(
        app,
        Endpoint("GET", "/api/docs", docs_page, "Swagger UI (HTML) on /api/v1/openapi.json", None, ("meta",), raw=True),
    )
