"""Scopes (which batteries a rule or window covers) and quiet-hours / maintenance windows; pure functions."""

from __future__ import annotations

import functools
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta, tzinfo
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import voluptuous as vol

from hub.storage.records import SEVERITIES, BatteryScope
from trackingbms_alerts.validators import DAYS, clock_time, day, moment, parse_clock, scope, timezone

_LOGGER = logging.getLogger(__name__)


@functools.lru_cache(maxsize=256)
def zone(name: str | None) -> tzinfo | None:
    """The zone of an IANA name; None (the hub's local time) for None or a name this system does not know.

    Window time zones are validated with the config; a site's comes from storage as written by its API.
    """
    if not name:
        return None
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        _LOGGER.warning("Unknown time zone %r: windows use the hub's local time instead", name)
        return None


def in_scope(wanted: Mapping[str, Sequence[str]], battery_id: str, place: BatteryScope) -> bool:
    """Whether a battery lies in a scope: an empty scope is the whole tenant; else any criterion matches."""
    if not wanted:
        return True
    if battery_id in wanted.get("batteries", ()):
        return True
    if place.site_id is not None and place.site_id in wanted.get("sites", ()):
        return True
    return any(client in wanted.get("clients", ()) for client in place.client_path)


@dataclass(frozen=True, slots=True)
class Window:
    """A recurring daily window (``start``-``end`` on some weekdays, local time) or a one-off
    ``from``-``until`` interval, limited to a scope. ``timezone`` is the window's own; without it the
    local time is the battery's site's, else the section's, else the hub's (see Calendar)."""

    scope: Mapping[str, Sequence[str]] = field(default_factory=dict)
    start: str | None = None
    end: str | None = None
    days: tuple[str, ...] = DAYS
    timezone: str | None = None
    begins: datetime | None = None
    until: datetime | None = None
    reason: str | None = None
    hold: tuple[str, ...] = ("info", "warning")  # quiet hours: severities whose events wait

    def covers(self, battery_id: str, place: BatteryScope) -> bool:
        """Whether the window applies to a battery."""
        return in_scope(self.scope, battery_id, place)

    def active(self, now: datetime, default_timezone: str | None = None) -> bool:
        """Whether ``now`` (aware) falls in the window; a daily window reads the clock in its own time
        zone, else in ``default_timezone``, else in the hub's."""
        if self.begins is not None and self.until is not None:
            return self.begins <= now < self.until
        assert self.start is not None and self.end is not None
        local = now.astimezone(zone(self.timezone or default_timezone))
        start, end = parse_clock(self.start), parse_clock(self.end)
        clock = local.time().replace(tzinfo=None)
        if start <= end:
            return start <= clock < end and DAYS[local.weekday()] in self.days
        # Over midnight (22:00-07:00): the early-morning part belongs to the window that began the day before.
        if clock >= start:
            return DAYS[local.weekday()] in self.days
        if clock < end:
            return DAYS[(local - timedelta(days=1)).weekday()] in self.days
        return False

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready view."""
        data: dict[str, Any] = {"scope": dict(self.scope) or "tenant", "reason": self.reason}
        if self.begins is not None and self.until is not None:
            data.update({"from": self.begins.isoformat(), "until": self.until.isoformat()})
        else:
            data.update({"start": self.start, "end": self.end, "days": list(self.days), "timezone": self.timezone})
        return data


def _window_shape(value: dict[str, Any]) -> dict[str, Any]:
    recurring = "start" in value or "end" in value
    one_off = "from" in value or "until" in value
    if recurring == one_off:
        raise vol.Invalid("give either start and end (daily) or from and until (one-off)")
    for key in ("start", "end") if recurring else ("from", "until"):
        if key not in value:
            raise vol.Invalid("required key not provided", path=[key])
    if one_off and value["until"] <= value["from"]:
        raise vol.Invalid("must be after 'from'", path=["until"])
    return value


WINDOW_SCHEMA = vol.All(
    vol.Schema(
        {
            vol.Optional("scope", default={}): scope,
            vol.Optional("start"): clock_time,
            vol.Optional("end"): clock_time,
            vol.Optional("days", default=list(DAYS)): [day],
            vol.Optional("timezone"): vol.Any(None, timezone),
            vol.Optional("from"): moment,
            vol.Optional("until"): moment,
            vol.Optional("reason"): vol.Any(None, str),
            vol.Optional("hold", default=["info", "warning"]): [vol.In(SEVERITIES)],
        }
    ),
    _window_shape,
)


def window_from(entry: Mapping[str, Any]) -> Window:
    """A Window from a validated entry."""
    return Window(
        scope=entry.get("scope") or {},
        start=entry.get("start"),
        end=entry.get("end"),
        days=tuple(entry.get("days") or DAYS),
        timezone=entry.get("timezone"),
        begins=entry.get("from"),
        until=entry.get("until"),
        reason=entry.get("reason"),
        hold=tuple(entry.get("hold") or ()),
    )


@dataclass(frozen=True, slots=True)
class Calendar:
    """Quiet hours and maintenance windows of a tenant; ``timezone`` is the section's (None: the hub's)."""

    quiet_hours: tuple[Window, ...] = ()
    maintenance: tuple[Window, ...] = ()
    timezone: str | None = None

    def local_zone(self, place: BatteryScope) -> str | None:
        """Where a battery's windows read the clock: its site's time zone (when this system knows it),
        else the section's (None: the hub's local time)."""
        return place.timezone if zone(place.timezone) is not None else self.timezone

    def in_maintenance(self, battery_id: str, place: BatteryScope, now: datetime) -> bool:
        """No alert is raised for a battery under maintenance."""
        tz = self.local_zone(place)
        return any(w.covers(battery_id, place) and w.active(now, tz) for w in self.maintenance)

    def holds(self, battery_id: str, place: BatteryScope, severity: str, now: datetime) -> bool:
        """Whether an event of this severity waits for the end of quiet hours."""
        tz = self.local_zone(place)
        return any(severity in w.hold and w.covers(battery_id, place) and w.active(now, tz) for w in self.quiet_hours)
