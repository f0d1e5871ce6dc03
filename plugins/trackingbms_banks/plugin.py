"""Banks: packs in parallel or in series combined into one virtual battery with its own readings."""

from __future__ import annotations

import asyncio
import contextlib
import weakref
from collections.abc import Iterable, Mapping
from datetime import timedelta
from typing import TYPE_CHECKING, Any

import voluptuous as vol

from hub.bus import DATA_BMS_NEW, DATA_BMS_RAW, Event, EventBus, Subscription
from hub.config.schema import battery_id
from hub.hookspecs import hookimpl
from hub.reading import Reading, utc_now
from hub.registry import Health, ServiceRegistry
from trackingbms_banks.aggregate import TOPOLOGIES, combine

if TYPE_CHECKING:
    from hub.core import Hub

DRIVER = "bank"  # the driver name a bank is stored with


def _members(value: Any) -> list[str]:
    members = [battery_id(v) for v in vol.Schema([str])(value)]
    if len(members) < 2:
        raise vol.Invalid("a bank needs at least 2 members")
    if len(set(members)) != len(members):
        raise vol.Invalid("a member is listed twice")
    return members


BANK_SCHEMA = vol.Schema(
    {
        vol.Optional("name"): vol.All(str, vol.Length(min=1, max=100)),
        vol.Required("topology"): vol.In(TOPOLOGIES),
        vol.Required("members"): _members,
        vol.Optional("max_age", default=10.0): vol.All(vol.Coerce(float), vol.Range(min=0.1, max=86400)),
    }
)
# The section maps each bank id to its bank, since a plugin section is a mapping.
CONFIG_SCHEMA: dict[Any, Any] = {battery_id: BANK_SCHEMA}


def check_banks(banks: Mapping[str, Mapping[str, Any]], battery_ids: Iterable[str]) -> list[str]:
    """Problems that need the batteries section: unknown members and ids used by a battery too."""
    known = set(battery_ids)
    problems = []
    for bank, entry in banks.items():
        if bank in known:
            problems.append(f"banks.{bank}: id {bank!r} is already a battery id")
        problems.extend(
            f"banks.{bank}.members: unknown battery {member!r}" for member in entry["members"] if member not in known
        )
    return problems


class Bank:
    """Keeps each member's newest reading and publishes one bank reading per round of updates."""

    def __init__(self, bank_id: str, entry: Mapping[str, Any], bus: EventBus, registry: ServiceRegistry) -> None:
        self.id = bank_id
        self.topology: str = entry["topology"]
        self.members: list[str] = list(entry["members"])
        self.max_age = timedelta(seconds=float(entry["max_age"]))
        self.service = f"bank.{bank_id}"
        self.latest: dict[str, Reading] = {}
        self.updated: set[str] = set()  # members with a new reading since the last bank reading
        self.published = 0
        self._bus, self._registry = bus, registry
        registry.register(self.service, "bank")

    def stale(self) -> list[str]:
        """Members with no reading newer than max_age."""
        now = utc_now()
        return [m for m in self.members if m not in self.latest or now - self.latest[m].timestamp > self.max_age]

    def check_health(self) -> list[str]:
        """Degrade the bank's service while a member is stale; return the stale members."""
        stale = self.stale()
        if stale:
            self._registry.set_health(self.service, Health.DEGRADED, f"stale members: {', '.join(stale)}")
        else:
            self._registry.set_health(self.service, Health.OK)
        return stale

    def offer(self, reading: Reading) -> Reading | None:
        """Take a member reading; publish and return the bank reading when every member is fresh and new."""
        if reading.battery_id not in self.members:
            return None
        self.latest[reading.battery_id] = reading
        self.updated.add(reading.battery_id)
        if self.check_health() or len(self.updated) < len(self.members):
            return None
        self.updated.clear()
        bank = combine(self.id, self.topology, [self.latest[m] for m in self.members])
        self.published += 1
        self._bus.publish(DATA_BMS_RAW, bank, origin=self.service)
        return bank


class Banks:
    """Every configured bank of one hub, fed by data.bms.new."""

    def __init__(self, hub: Hub, config: Mapping[str, Mapping[str, Any]]) -> None:
        self.banks = [Bank(bank_id, entry, hub.bus, hub.registry) for bank_id, entry in config.items()]
        self._registry = hub.registry
        self._subscription: Subscription | None = None
        self._watch: asyncio.Task[None] | None = None

    def start(self, bus: EventBus) -> None:
        """Listen to processed readings and re-check staleness when members fall silent."""
        if self.banks:
            self._subscription = bus.subscribe(DATA_BMS_NEW, self._on_reading, name="plugin.banks")
            self._watch = asyncio.get_running_loop().create_task(self._watch_loop(), name="banks:watch")

    def _on_reading(self, event: Event) -> None:
        reading = event.data
        if isinstance(reading, Reading):
            for bank in self.banks:
                bank.offer(reading)

    async def _watch_loop(self) -> None:
        # No member event arrives when every member stops, so staleness is also checked on a timer.
        interval = max(0.5, min(b.max_age.total_seconds() for b in self.banks) / 2)
        while True:
            await asyncio.sleep(interval)
            for bank in self.banks:
                bank.check_health()

    async def stop(self) -> None:
        """Stop listening and forget the banks' services (a reload may remove a bank)."""
        for bank in self.banks:
            self._registry.remove(bank.service)
        if self._subscription is not None:
            self._subscription.cancel()
            self._subscription = None
        if self._watch is not None:
            self._watch.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._watch
            self._watch = None


_RUNNING: weakref.WeakKeyDictionary[Hub, Banks] = weakref.WeakKeyDictionary()


def banks_of(hub: Hub) -> Banks | None:
    """The running banks of a hub, or None."""
    return _RUNNING.get(hub)


@hookimpl
def config_schema() -> Mapping[Any, Any]:
    """Bank id -> topology, members and max_age."""
    return CONFIG_SCHEMA


@hookimpl
async def hub_started(hub: Hub, config: Mapping[str, Any]) -> None:
    """Check members against the batteries, record each bank like a battery and start listening."""
    problems = check_banks(config, [entry["id"] for entry in hub.config.data["batteries"]])
    if problems:
        raise ValueError("; ".join(problems))
    for bank_id, entry in config.items():
        await hub.store.ensure_battery(bank_id, entry.get("name") or bank_id, DRIVER)
    banks = Banks(hub, config)
    banks.start(hub.bus)
    _RUNNING[hub] = banks


@hookimpl
async def hub_stopping(hub: Hub) -> None:
    """Stop this hub's banks (a reload starts them again from the new section)."""
    banks = _RUNNING.pop(hub, None)
    if banks is not None:
        await banks.stop()
