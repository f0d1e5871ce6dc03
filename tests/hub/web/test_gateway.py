"""CORS, security headers and request logs on a running hub."""

from __future__ import annotations

from typing import Any

import aiohttp

from hub.auth.principal import local_admin
from hub.core import Hub
from tests.helpers import HubFactory, wait_for

ALLOWED = "https://app.example.com"
CONFIG = """
hub:
  data_dir: {data_dir}
http:
  port: 0
  cors:
    origins: ["https://app.example.com/"]
    allow_credentials: true
    max_age: 120
logging:
  file: null
"""
HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
}


async def request(
    http: aiohttp.ClientSession, hub: Hub, method: str, path: str, **kwargs: Any
) -> tuple[int, dict[str, str], str]:
    async with http.request(method, f"{hub.http_url}{path}", **kwargs) as response:
        return response.status, dict(response.headers), await response.text()


async def test_cors_preflight_and_answers(start_hub: HubFactory, http: aiohttp.ClientSession) -> None:
    hub = await start_hub(CONFIG)
    asked = {
        "Origin": ALLOWED,
        "Access-Control-Request-Method": "PUT",
        "Access-Control-Request-Headers": "content-type",
    }
    status, headers, _ = await request(http, hub, "OPTIONS", "/api/v1/core/config/http", headers=asked)
    assert status == 204
    assert headers["Access-Control-Allow-Origin"] == ALLOWED
    assert headers["Access-Control-Allow-Credentials"] == "true"
    assert "PUT" in headers["Access-Control-Allow-Methods"]
    assert "Content-Type" in headers["Access-Control-Allow-Headers"]
    assert headers["Access-Control-Max-Age"] == "120"

    status, headers, _ = await request(http, hub, "GET", "/api/v1/core/health", headers={"Origin": ALLOWED})
    assert status == 200 and headers["Access-Control-Allow-Origin"] == ALLOWED
    assert "X-Request-ID" in headers["Access-Control-Expose-Headers"]
    status, headers, _ = await request(http, hub, "GET", "/api/v1/bms/data/nope", headers={"Origin": ALLOWED})
    assert status == 404 and headers["Access-Control-Allow-Origin"] == ALLOWED  # errors too

    other = {**asked, "Origin": "https://evil.example.net"}
    status, headers, _ = await request(http, hub, "OPTIONS", "/api/v1/core/config/http", headers=other)
    assert status == 403 and "Access-Control-Allow-Origin" not in headers
    status, headers, _ = await request(http, hub, "GET", "/api/v1/core/health", headers={"Origin": other["Origin"]})
    assert status == 200 and "Access-Control-Allow-Origin" not in headers


async def test_no_cors_by_default(start_hub: HubFactory, http: aiohttp.ClientSession) -> None:
    hub = await start_hub(CONFIG.replace('origins: ["https://app.example.com/"]', "origins: []"))
    asked = {"Origin": ALLOWED, "Access-Control-Request-Method": "GET"}
    status, headers, _ = await request(http, hub, "OPTIONS", "/api/v1/core/health", headers=asked)
    assert status == 403 and "Access-Control-Allow-Origin" not in headers


async def test_security_headers_on_api_errors_and_pages(start_hub: HubFactory, http: aiohttp.ClientSession) -> None:
    hub = await start_hub(CONFIG)
    for path, expected in (("/api/v1/core/health", 200), ("/api/v1/no/such", 404), ("/", 200)):
        status, headers, _ = await request(http, hub, "GET", path)
        assert status == expected, path
        assert {k: headers.get(k) for k in HEADERS} == HEADERS, path
        csp = headers["Content-Security-Policy"]
        assert "frame-ancestors 'none'" in csp and "script-src 'self'" in csp, path
        assert "Strict-Transport-Security" not in headers


async def test_security_headers_can_be_tuned(start_hub: HubFactory, http: aiohttp.ClientSession) -> None:
    tuned = CONFIG.replace(
        "    max_age: 120\n",
        "    max_age: 120\n  security_headers:\n    hsts: true\n    content_security_policy: \"default-src 'none'\"\n",
    )
    hub = await start_hub(tuned)
    _, headers, _ = await request(http, hub, "GET", "/api/v1/core/health")
    assert headers["Content-Security-Policy"] == "default-src 'none'"
    assert headers["Strict-Transport-Security"].startswith("max-age=")


async def test_one_log_line_per_request_with_its_id(start_hub: HubFactory, http: aiohttp.ClientSession) -> None:
    hub = await start_hub(CONFIG)
    status, headers, _ = await request(http, hub, "GET", "/api/v1/bms/data/nope", headers={"X-Request-ID": "req-42"})
    assert status == 404 and headers["X-Request-ID"] == "req-42"
    _, headers, body = await request(http, hub, "GET", "/api/v1/core/health")
    generated = headers["X-Request-ID"]
    assert len(generated) == 32 and generated in body  # the envelope carries the same id

    def lines(request_id: str) -> list[dict[str, Any]]:
        return [
            r for r in hub.logs.ring.records if r.get("request_id") == request_id and r["logger"] == "hub.web.requests"
        ]

    line = (await wait_for(lambda: lines("req-42")))[0]
    assert (line["method"], line["path"], line["status"]) == ("GET", "/api/v1/bms/data/nope", 404)
    assert line["user"] == local_admin().username and line["duration_ms"] >= 0
    assert "GET /api/v1/bms/data/nope 404" in line["message"] and "request_id=req-42" in line["message"]
    assert len(await wait_for(lambda: lines(generated))) == 1
    status, headers, _ = await request(http, hub, "GET", "/", headers={"X-Request-ID": "x" * 500})
    assert status == 200 and len(headers["X-Request-ID"]) == 32  # an oversized id is replaced
