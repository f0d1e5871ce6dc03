"""The seed's response envelope and the middleware that puts every answer in one."""

from __future__ import annotations

import json
import logging
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from hub.reading import utc_now

_LOGGER = logging.getLogger(__name__)
STARTED = web.RequestKey("started", float)
REQUEST_ID = web.RequestKey("request_id", str)


class ApiError(Exception):
    """An error answered as an envelope with a status code and optional details."""

    def __init__(self, status: int, message: str, details: Any = None) -> None:
        super().__init__(message)
        self.status_code = status
        self.message = message
        self.details = details


def _now() -> str:
    return utc_now().isoformat(timespec="milliseconds").replace("+00:00", "Z")


def envelope(
    request: web.Request,
    data: Any = None,
    *,
    status: int = 200,
    message: str = "OK",
    meta: dict[str, Any] | None = None,
) -> web.Response:
    """A JSON response in the seed's envelope (status, code, message, timestamp, request_id, data, meta)."""
    started = request.get(STARTED, time.perf_counter())
    full_meta = {**(meta or {}), "performance": {"duration_ms": round((time.perf_counter() - started) * 1000, 2)}}
    body = {
        "status": "success" if status < 400 else "error",
        "code": status,
        "message": message,
        "timestamp": _now(),
        "request_id": request.get(REQUEST_ID, ""),
        "data": data,
        "meta": full_meta,
    }
    return web.json_response(body, status=status, dumps=lambda o: json.dumps(o, default=str))


Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@web.middleware
async def envelope_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Request ids, timing, and errors as envelopes: never a traceback."""
    request[STARTED] = time.perf_counter()
    # The request-log middleware (outermost) normally chose the id already.
    request[REQUEST_ID] = request.get(REQUEST_ID) or request.headers.get("X-Request-ID") or uuid.uuid4().hex
    api = request.path.startswith("/api/")
    try:
        response = await handler(request)
    except ApiError as err:
        response = envelope(request, err.details, status=err.status_code, message=err.message)
    except web.HTTPException as err:
        if not api or err.status_code < 400:
            raise
        response = envelope(request, None, status=err.status_code, message=err.reason)
    except Exception:
        _LOGGER.exception("Unhandled error on %s %s", request.method, request.path)
        if not api:
            raise
        response = envelope(request, None, status=500, message="Internal server error")
    if not response.prepared:
        response.headers["X-Request-ID"] = request[REQUEST_ID]
    return response


async def json_body(request: web.Request) -> Any:
    """The request's JSON body, or a 400 envelope explaining why it is not JSON."""
    try:
        return await request.json()
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise ApiError(400, f"request body is not valid JSON: {err}") from err
