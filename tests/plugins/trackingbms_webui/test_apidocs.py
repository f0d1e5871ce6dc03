"""Swagger UI at /api/docs, served from node_modules, over HTTP and in headless Chromium."""

from __future__ import annotations

import re

import aiohttp
from playwright.async_api import Browser

from tests.helpers import HubFactory


async def test_docs_page_and_its_assets_load(start_hub: HubFactory, http: aiohttp.ClientSession) -> None:
    hub = await start_hub()
    async with http.get(f"{hub.http_url}/api/docs") as response:
        assert response.status == 200 and response.content_type == "text/html"
        page = await response.text()
        assert "frame-ancestors 'none'" in response.headers["Content-Security-Policy"]
    assets = re.findall(r'(?:src|href)="([^"]+)"', page)
    assert "/vendor/swagger-ui/swagger-ui-bundle.js" in assets and "/static/apidocs.js" in assets
    assert not [a for a in assets if "://" in a], "every asset comes from the hub itself"
    types = {".js": "application/javascript", ".css": "text/css", ".png": "image/png"}
    for asset in assets:
        async with http.get(f"{hub.http_url}{asset}") as response:
            assert response.status == 200, asset
            body = await response.read()
            assert len(body) > 100, asset
            expected = next(kind for suffix, kind in types.items() if asset.endswith(suffix))
            assert response.content_type in (expected, "text/javascript"), asset
    async with http.get(f"{hub.http_url}/static/apidocs.js") as response:
        assert "/api/v1/openapi.json" in await response.text()


async def test_swagger_ui_renders_the_document_under_the_csp(start_hub: HubFactory, browser: Browser) -> None:
    hub = await start_hub()
    page = await browser.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda err: errors.append(str(err)))
    page.on("console", lambda msg: errors.append(msg.text) if "Content Security Policy" in msg.text else None)
    await page.goto(f"{hub.http_url}/api/docs")
    # Swagger UI has fetched the document and drawn one block per operation.
    await page.wait_for_selector(".opblock-summary-path", timeout=30_000)
    paths = await page.locator(".opblock-summary-path").all_inner_texts()
    assert any("/api/v1/bms/configure/{id}" in p.replace("\u200b", "") for p in paths)
    assert "TrackingBMS API" in await page.locator(".info .title").inner_text()
    assert errors == []
