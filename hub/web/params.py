"""Validators and helpers for the query parameters of endpoint schemas."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import voluptuous as vol

from hub.web.api import describe


def iso_time(value: Any) -> datetime:
    """Voluptuous validator: an ISO-8601 time (a time without an offset is UTC)."""
    # RFC 3339 allows a lower-case t and z; a '+' in a query string arrives as a space.
    text = str(value).strip().upper().replace("Z", "+00:00").replace(" ", "+")
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError as err:
        raise vol.Invalid("expected an ISO-8601 time such as 2026-01-31T12:00:00Z") from err
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


describe(iso_time, {"type": "string", "format": "date-time"})


def int_range(low: int, high: int) -> vol.All:
    """Voluptuous validator: an integer (a query string's text is converted) within [low, high]."""
    return vol.All(vol.Coerce(int), vol.Range(min=low, max=high))


def page_query(per_page: int = 100, max_per_page: int = 1000) -> dict[Any, Any]:
    """The ``page``/``per_page`` query parameters of a paginated listing."""
    return {
        vol.Optional("page", default=1): int_range(1, 1_000_000),
        vol.Optional("per_page", default=per_page): int_range(1, max_per_page),
    }


def pagination(page: int, per_page: int, total: int) -> dict[str, Any]:
    """The ``meta.pagination`` block of a paginated listing."""
    return {"page": page, "per_page": per_page, "total": total, "pages": (total + per_page - 1) // per_page}
