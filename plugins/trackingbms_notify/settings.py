"""The ``notify:`` config section: notifier entries, their routes, retries and kind-specific keys."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import voluptuous as vol

from hub.specs import NotifierSpec, Registry
from hub.storage.records import SEVERITIES
from trackingbms_notify.delivery import RetryPolicy
from trackingbms_notify.messages import LOCALES
from trackingbms_notify.routing import EVENTS, Route

_NAME = vol.Match(
    r"^[a-z0-9][a-z0-9_-]{0,63}$", msg="expected a name of lower-case letters, digits, '-' or '_' (max 64)"
)
_SECONDS = vol.All(vol.Coerce(float), vol.Range(min=0.01, max=7 * 86400))

ROUTE_SCHEMA: dict[Any, Any] = {
    vol.Optional("severities", default=[]): [vol.In(SEVERITIES)],
    vol.Optional("batteries", default=[]): [str],
    vol.Optional("sites", default=[]): [str],
    vol.Optional("clients", default=[]): [str],
    vol.Optional("tenants", default=[]): [str],
    vol.Optional("events", default=list(EVENTS)): vol.All([vol.In(EVENTS)], vol.Length(min=1)),
}
RETRY_SCHEMA: dict[Any, Any] = {
    vol.Optional("initial_delay", default=2.0): _SECONDS,
    vol.Optional("max_delay", default=300.0): _SECONDS,
    vol.Optional("multiplier", default=2.0): vol.All(vol.Coerce(float), vol.Range(min=1, max=10)),
    # Seconds after which an undelivered message is dropped; null: keep trying for ever.
    vol.Optional("give_up_after", default=None): vol.Any(None, vol.All(vol.Coerce(float), vol.Range(min=1))),
}
# Keys every notifier entry has, whatever its kind; the kind's NotifierSpec.schema adds its own.
COMMON_SCHEMA: dict[Any, Any] = {
    vol.Required("name"): _NAME,
    vol.Required("kind"): str,
    vol.Optional("enabled", default=True): vol.Boolean(),
    vol.Optional("locale", default="en"): vol.In(LOCALES),
    vol.Optional("route", default={}): ROUTE_SCHEMA,
    vol.Optional("timeout", default=15.0): vol.All(vol.Coerce(float), vol.Range(min=0.1, max=600)),
    vol.Optional("queue_size", default=1000): vol.All(vol.Coerce(int), vol.Range(min=1, max=1_000_000)),
    vol.Optional("retry", default={}): RETRY_SCHEMA,
}


def _entry_validator(kinds: Callable[[], Registry[NotifierSpec]]) -> Callable[[Any], dict[str, Any]]:
    def validate(entry: Any) -> dict[str, Any]:
        if not isinstance(entry, dict):
            raise vol.Invalid("expected a mapping with name and kind")
        base = vol.Schema(COMMON_SCHEMA, extra=vol.ALLOW_EXTRA)(entry)
        registry = kinds()
        spec = registry.get(base["kind"])
        if spec is None:
            known = ", ".join(registry.names()) or "none"
            raise vol.Invalid(f"unknown notifier kind {base['kind']!r} (available: {known})", path=["kind"])
        result: dict[str, Any] = vol.Schema({**COMMON_SCHEMA, **spec.schema})(entry)
        return result

    return validate


def _unique_names(entries: list[dict[str, Any]]) -> list[dict[str, Any]]:
    seen: set[str] = set()
    for index, entry in enumerate(entries):
        if entry["name"] in seen:
            raise vol.Invalid(f"duplicate notifier name {entry['name']!r}", path=[index, "name"])
        seen.add(entry["name"])
    return entries


def section_schema(kinds: Callable[[], Registry[NotifierSpec]]) -> dict[Any, Any]:
    """The section's schema; ``kinds`` is read at validation time, when every plugin registered its kinds."""
    return {vol.Optional("notifications", default=[]): vol.All([_entry_validator(kinds)], _unique_names)}


@dataclass(frozen=True, slots=True)
class NotifierEntry:
    """One validated notifier entry; ``options`` is the whole entry, as the kind's factory gets it."""

    name: str
    kind: str
    enabled: bool
    locale: str
    route: Route
    timeout: float
    queue_size: int
    retry: RetryPolicy
    options: Mapping[str, Any]

    @classmethod
    def from_config(cls, entry: Mapping[str, Any]) -> NotifierEntry:
        """Build from a validated entry."""
        return cls(
            name=entry["name"],
            kind=entry["kind"],
            enabled=entry["enabled"],
            locale=entry["locale"],
            route=Route.from_config(entry["route"]),
            timeout=entry["timeout"],
            queue_size=entry["queue_size"],
            retry=RetryPolicy.from_config(entry["retry"]),
            options=entry,
        )


def entries(section: Mapping[str, Any]) -> list[NotifierEntry]:
    """The notifier entries of a validated ``notify:`` section."""
    return [NotifierEntry.from_config(entry) for entry in section.get("notifications", [])]
