"""Which alert events reach which notifier: event kinds and route filters."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from hub.bus import DATA_ALERT_GENERATED

DATA_ALERT_ACKNOWLEDGED = "data.alert.acknowledged"
DATA_ALERT_CLEARED = "data.alert.cleared"
ALERT_EVENT_NAMES = (DATA_ALERT_GENERATED, DATA_ALERT_ACKNOWLEDGED, DATA_ALERT_CLEARED)
# What a notifier can subscribe to; "reminder" is a generated event with ``reminder: true``.
EVENTS = ("generated", "acknowledged", "cleared", "reminder")
EVENT_NAMES = {
    "generated": DATA_ALERT_GENERATED,
    "reminder": DATA_ALERT_GENERATED,
    "acknowledged": DATA_ALERT_ACKNOWLEDGED,
    "cleared": DATA_ALERT_CLEARED,
}


def event_kind(name: str, alert: Any) -> str | None:
    """The route event of a bus event (generated, reminder, acknowledged, cleared), or None."""
    if name not in ALERT_EVENT_NAMES or not isinstance(alert, Mapping):
        return None
    if name == DATA_ALERT_GENERATED:
        return "reminder" if alert.get("reminder") else "generated"
    return name.rsplit(".", 1)[1]


@dataclass(frozen=True, slots=True)
class Route:
    """Filters AND-ed together; an empty filter lets everything through."""

    severities: frozenset[str] = frozenset()
    batteries: frozenset[str] = frozenset()
    sites: frozenset[str] = frozenset()
    clients: frozenset[str] = frozenset()
    tenants: frozenset[str] = frozenset()
    events: frozenset[str] = frozenset(EVENTS)

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> Route:
        """Build from a validated ``route`` mapping."""
        return cls(**{key: frozenset(config.get(key, default)) for key, default in _DEFAULTS.items()})

    def matches(self, event: str, alert: Mapping[str, Any]) -> bool:
        """Whether an alert event of this kind goes to the notifier."""
        if event not in self.events:
            return False
        checks = (
            (self.severities, alert.get("severity")),
            (self.batteries, alert.get("battery_id")),
            (self.sites, alert.get("site_id")),
            (self.tenants, alert.get("tenant_id")),
        )
        if any(wanted and value not in wanted for wanted, value in checks):
            return False
        # A client matches its whole subtree: any client on the battery's path from the top.
        path = alert.get("client_path") or ()
        return not self.clients or any(client in self.clients for client in path)


_DEFAULTS: dict[str, tuple[str, ...]] = {
    "severities": (),
    "batteries": (),
    "sites": (),
    "clients": (),
    "tenants": (),
    "events": EVENTS,
}
