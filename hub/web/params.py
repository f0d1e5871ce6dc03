"""Query-parameter parsing that answers 422 with the parameter named."""

from __future__ import annotations

from datetime import UTC, datetime

from aiohttp import web

from hub.web.envelope import ApiError


def int_param(request: web.Request, name: str, default: int, low: int, high: int) -> int:
    """An integer query parameter within [low, high]."""
    raw = request.query.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError as err:
        raise ApiError(422, f"{name} must be an integer", {name: raw}) from err
    if not low <= value <= high:
        raise ApiError(422, f"{name} must be between {low} and {high}", {name: value})
    return value


def time_param(request: web.Request, name: str) -> datetime | None:
    """An ISO-8601 time query parameter; a time without an offset is UTC."""
    raw = request.query.get(name)
    if not raw:
        return None
    # A '+' in a query string arrives as a space unless the client encoded it.
    text = raw.strip().replace("Z", "+00:00").replace(" ", "+")
    try:
        value = datetime.fromisoformat(text)
    except ValueError as err:
        raise ApiError(422, f"{name} must be an ISO-8601 time such as 2026-01-31T12:00:00Z", {name: raw}) from err
    return value if value.tzinfo else value.replace(tzinfo=UTC)
