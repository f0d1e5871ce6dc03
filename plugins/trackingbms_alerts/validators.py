"""Voluptuous validators shared by rules and the plugin's config: durations, clock times, scopes."""

from __future__ import annotations

import re
from datetime import UTC, datetime, time
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import voluptuous as vol

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|sec|m|min|h|d)?\s*$")
_UNIT_SECONDS = {None: 1.0, "ms": 0.001, "s": 1.0, "sec": 1.0, "m": 60.0, "min": 60.0, "h": 3600.0, "d": 86400.0}
_RULE_ID = re.compile(r"^[a-z0-9][a-z0-9_.-]{0,63}$")
DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


def duration(value: Any) -> float:
    """Seconds, given as a number or text such as ``90``, ``30s``, ``5m``, ``1.5h``, ``1d``."""
    if isinstance(value, bool):
        raise vol.Invalid("expected a duration such as 30s, 5m or 1h")
    if isinstance(value, int | float):
        seconds = float(value)
    else:
        match = _DURATION.match(str(value).lower())
        if match is None:
            raise vol.Invalid("expected a duration such as 30s, 5m or 1h")
        seconds = float(match.group(1)) * _UNIT_SECONDS[match.group(2)]
    if seconds < 0:
        raise vol.Invalid("a duration cannot be negative")
    return seconds


def positive_duration(value: Any) -> float:
    """A duration above zero."""
    seconds = duration(value)
    if seconds <= 0:
        raise vol.Invalid("expected a duration above zero")
    return seconds


def number(value: Any) -> float:
    """A finite number (YAML ints and floats; no booleans)."""
    if isinstance(value, bool):
        raise vol.Invalid("expected a number")
    try:
        result = float(value)
    except (TypeError, ValueError) as err:
        raise vol.Invalid("expected a number") from err
    if result != result or result in (float("inf"), float("-inf")):
        raise vol.Invalid("expected a finite number")
    return result


def rule_id(value: Any) -> str:
    """A rule id: lower-case letters, digits, '_', '-' and '.' (it appears in URLs)."""
    if not isinstance(value, str) or not _RULE_ID.match(value):
        raise vol.Invalid("expected an id of lower-case letters, digits, '_', '-' or '.' (max 64)")
    return value


def clock_time(value: Any) -> str:
    """A time of day ``HH:MM`` (24 h); kept as text, parsed with :func:`parse_clock`."""
    text = str(value).strip()
    try:
        parse_clock(text)
    except ValueError as err:
        raise vol.Invalid("expected a time of day such as 22:00") from err
    return text


def parse_clock(text: str) -> time:
    """``HH:MM`` as a time; ``24:00`` is the end of the day."""
    if text == "24:00":
        return time.max
    hours, _, minutes = text.partition(":")
    return time(int(hours), int(minutes or 0))


def moment(value: Any) -> datetime:
    """An ISO-8601 date and time; without an offset it is UTC."""
    if isinstance(value, datetime):
        parsed = value
    else:
        try:
            parsed = datetime.fromisoformat(str(value).strip().replace("Z", "+00:00"))
        except ValueError as err:
            raise vol.Invalid("expected an ISO-8601 time such as 2026-06-01T08:00:00Z") from err
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def timezone(value: Any) -> str:
    """An IANA time zone name such as Europe/Paris."""
    try:
        ZoneInfo(str(value))
    except (ZoneInfoNotFoundError, ValueError) as err:
        raise vol.Invalid(f"unknown time zone {value!r} (expected a name such as Europe/Paris)") from err
    return str(value)


def day(value: Any) -> str:
    """A weekday: mon, tue, ... sun (full names and any case are accepted)."""
    text = str(value).strip().lower()[:3]
    if text not in DAYS:
        raise vol.Invalid("expected a weekday: mon, tue, wed, thu, fri, sat or sun")
    return text


def _id_list(value: Any) -> list[str]:
    items = [value] if isinstance(value, str) else value
    if not isinstance(items, list) or not all(isinstance(i, str) and i for i in items):
        raise vol.Invalid("expected an id or a list of ids")
    return list(items)


_SCOPE_MAP = vol.Schema(
    {
        vol.Optional("batteries"): _id_list,
        vol.Optional("sites"): _id_list,
        vol.Optional("clients"): _id_list,
    }
)


def scope(value: Any) -> dict[str, list[str]]:
    """``tenant`` (every battery), or any of ``batteries``, ``sites``, ``clients`` (a battery under a
    listed client at any depth); a battery matching any of them is in scope."""
    if value is None or value == "tenant" or value == {}:
        return {}
    if not isinstance(value, dict):
        raise vol.Invalid("expected 'tenant' or a mapping with batteries, sites and/or clients")
    result: dict[str, list[str]] = _SCOPE_MAP(value)
    return result
