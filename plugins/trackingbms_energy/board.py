"""The analytics board: each processor's latest results per battery, published as one event per reading."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Any

from hub.reading import Reading
from hub.registry import Health

if TYPE_CHECKING:
    from hub.core import Hub

_LOGGER = logging.getLogger(__name__)
PLUGIN = "energy"
ANALYTICS_EVENT = "data.bms.analytics"
ORIGIN = f"plugin.{PLUGIN}"
# Payload fields with the decimals they are published with.
FIELDS: dict[str, int] = {
    "energy_charged_kwh": 6,
    "energy_discharged_kwh": 6,
    "soc_coulomb": 3,
    "equivalent_cycles": 5,
    "soh_estimate": 2,
    "capacity_measured_ah": 3,
}


class AnalyticsBoard:
    """The query object shared by one hub's analytics processors, its hooks and its route."""

    def __init__(self) -> None:
        self.hub: Hub | None = None  # set by hub_started: processors are not given the bus
        self._values: dict[str, dict[str, float | None]] = {}
        self._latest: dict[str, dict[str, Any]] = {}
        self._problems: dict[str, str] = {}
        # The timestamp of the reading the steps are at, as epoch seconds: every step needs it.
        self._moment: datetime | None = None
        self._seconds = 0.0

    def seconds(self, reading: Reading) -> float:
        """The reading's timestamp as epoch seconds, worked out once for all steps sharing the board."""
        moment = reading.timestamp
        if moment is not self._moment:  # the same (immutable) datetime object: the same seconds
            self._moment, self._seconds = moment, moment.timestamp()
        return self._seconds

    def results(self, battery_id: str) -> dict[str, float | None]:
        """The battery's live results, for a step to update in place (put() without a lookup per reading)."""
        return self._values.setdefault(battery_id, {})

    def put(self, battery_id: str, values: Mapping[str, float | None]) -> None:
        """Record a processor's results for a battery."""
        self.results(battery_id).update(values)

    def values(self, battery_id: str) -> dict[str, float | None]:
        """The unrounded results known for a battery (empty when none)."""
        return dict(self._values.get(battery_id, {}))

    def latest(self, battery_id: str) -> dict[str, Any] | None:
        """The latest published payload of a battery, or None."""
        payload = self._latest.get(battery_id)
        return None if payload is None else dict(payload)

    def publish(self, reading: Reading) -> dict[str, Any]:
        """Build the payload for this reading, keep it as the latest, and publish it on the hub's bus."""
        values = self._values.get(reading.battery_id, {})
        payload: dict[str, Any] = {
            "battery_id": reading.battery_id,
            "timestamp": reading.timestamp.isoformat().replace("+00:00", "Z"),
        }
        for name, decimals in FIELDS.items():  # a plain loop: this runs for every reading
            value = values.get(name)
            payload[name] = None if value is None else round(value, decimals)
        self._latest[reading.battery_id] = payload
        if self.hub is not None:
            self.hub.bus.publish(ANALYTICS_EVENT, dict(payload), origin=ORIGIN)
        return payload

    @property
    def problems(self) -> dict[str, str]:
        """Current problems by source (``<processor>/<battery>``), such as state that cannot be saved."""
        return dict(self._problems)

    def report(self, source: str, problem: str | None) -> None:
        """Set or clear a problem; the plugin's service turns degraded while any is open."""
        cleared = problem is None and self._problems.pop(source, None) is not None
        if problem is not None:
            self._problems[source] = problem
        if self.hub is None:
            return
        if self._problems:
            reason = "; ".join(f"{key}: {text}" for key, text in sorted(self._problems.items()))
            self.hub.registry.set_health(ORIGIN, Health.DEGRADED, reason)
        elif cleared:
            self.hub.registry.set_health(ORIGIN, Health.OK)
