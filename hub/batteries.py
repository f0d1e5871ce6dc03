"""Battery coordinators: one polling task per battery with link health, backoff and reconnect."""

from __future__ import annotations

import asyncio
import enum
import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any

from hub.bus import DATA_BMS_LINK_CHANGED, DATA_BMS_NEW, DATA_BMS_RAW, Event, EventBus, Subscription
from hub.reading import IDLE_CURRENT_A, Reading, utc_now
from hub.registry import Health, ServiceRegistry
from hub.specs import (
    BatteryConfig,
    BatteryDriver,
    ControlRefusedError,
    ControlUnsupportedError,
    DataError,
    DriverContext,
    DriverSpec,
    LinkError,
    Registry,
)

_LOGGER = logging.getLogger(__name__)


class LinkState(enum.StrEnum):
    """What the hub knows of a battery's link."""

    CONNECTING = "connecting"
    ONLINE = "online"
    OFFLINE = "offline"
    ASLEEP = "asleep"  # silent for a long time after a reading with no current (a BMS asleep)
    STALE = "stale"  # online, but no fresh reading for several poll intervals
    STOPPED = "stopped"


Gate = Callable[[], Awaitable[None]]

# Consecutive failed polls before a link counts as offline (the first reads after idle often fail).
OFFLINE_AFTER = 3
MAX_BACKOFF = 60.0
ASLEEP_AFTER = 120.0  # seconds of silence after an idle reading before a link counts as asleep


class Coordinator:
    """Owns one battery's driver: connects, polls on schedule, tracks and reports link health."""

    def __init__(
        self,
        config: BatteryConfig,
        driver: BatteryDriver,
        bus: EventBus,
        registry: ServiceRegistry,
        gate: Gate | None = None,
    ) -> None:
        self.config = config
        # Awaited before each poll: the recorder holds polling back while storage catches up.
        self._gate = gate
        self.driver = driver
        self._bus = bus
        self._registry = registry
        self.service = f"battery.{config.id}"
        self.state = LinkState.CONNECTING
        self.last_reading: Reading | None = None
        self.failures = 0
        self.bad_data = 0
        self.polls = 0
        self.asleep_after = float(config.options.get("asleep_after", ASLEEP_AFTER))
        self._started = utc_now()
        self._connected = False
        self._driver_lock = asyncio.Lock()
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        """Start the polling task."""
        self._registry.register(self.service, "battery", Health.STARTING)
        self._task = asyncio.create_task(self._run(), name=self.service)

    async def stop(self) -> None:
        """Stop polling and close the driver."""
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None
        await self._close_driver()
        self._set_state(LinkState.STOPPED, Health.STOPPED, None)

    async def control(self, action: str, value: Any) -> dict[str, Any]:
        """Run a control write through the driver, if this battery allows writes."""
        if not self.config.options.get("control", False):
            raise ControlRefusedError(f"control writes are disabled for {self.config.id} (set control: true)")
        supported: frozenset[str] = getattr(self.driver, "supported_controls", frozenset())
        if action not in supported:
            names = ", ".join(sorted(supported)) or "none"
            raise ControlUnsupportedError(f"{self.config.driver} does not support {action!r} (supported: {names})")
        async with self._driver_lock:  # never interleave a write with a poll on the same driver
            if not self._connected:
                await self.driver.connect()
                self._connected = True
            result: dict[str, Any] = await self.driver.control(action, value)  # type: ignore[attr-defined]
        return result

    def link_state(self) -> LinkState:
        """The current state, with 'stale' when readings stopped coming while online."""
        if self.state == LinkState.ONLINE and self.last_reading is not None:
            age = (utc_now() - self.last_reading.timestamp).total_seconds()
            if age > max(3 * self.config.poll_interval, 15.0):
                return LinkState.STALE
        return self.state

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            if not self._connected:
                if not await self._connect():
                    await asyncio.sleep(self._backoff())
                    continue
                self._connected = True
            if self._gate is not None:
                await self._gate()
            started = loop.time()
            await self.poll_once()
            if self.failures >= OFFLINE_AFTER:
                # Down: release the port and reconnect after a backoff (the BMS may be asleep).
                await self._close_driver()
                await asyncio.sleep(self._backoff())
                continue
            await asyncio.sleep(max(0.0, self.config.poll_interval - (loop.time() - started)))

    async def _connect(self) -> bool:
        try:
            async with self._driver_lock:
                await self.driver.connect()
            return True
        except LinkError as err:
            self.failures += 1
            self._set_down(f"cannot connect: {err}")
        except Exception as err:
            self.failures += 1
            _LOGGER.exception("Driver of %s crashed while connecting", self.config.id)
            self._set_down(f"driver error: {err!r}")
        return False

    def _set_down(self, reason: str) -> None:
        """Offline, or asleep when the pack was idle and has been silent for asleep_after seconds."""
        last = self.last_reading
        silent = (utc_now() - (last.timestamp if last else self._started)).total_seconds()
        idle = last is not None and (last.current is None or abs(last.current) <= IDLE_CURRENT_A)
        if idle and silent >= self.asleep_after:
            # Daly boards sleep after their sleep time without current (daly.md §1.7, §4.1).
            self._set_state(LinkState.ASLEEP, Health.DEGRADED, f"asleep: no answer for {silent:.0f} s")
        else:
            self._set_state(LinkState.OFFLINE, Health.FAILED, reason)

    async def poll_once(self) -> Reading | None:
        """Poll the driver once and publish the reading on success."""
        self.polls += 1
        try:
            async with self._driver_lock:
                reading = await self.driver.poll()
        except LinkError as err:
            self._link_failed(str(err))
            return None
        except DataError as err:
            self._bad_data(str(err))
            return None
        except Exception as err:
            _LOGGER.exception("Driver of %s crashed while polling", self.config.id)
            self._link_failed(f"driver error: {err!r}")
            return None
        self.failures = self.bad_data = 0
        reading = reading.replace(battery_id=self.config.id)
        self.last_reading = reading
        self._set_state(LinkState.ONLINE, Health.OK, None)
        self._bus.publish(DATA_BMS_RAW, reading, origin=self.service)
        return reading

    def _link_failed(self, reason: str) -> None:
        self.failures += 1
        _LOGGER.debug("Poll of %s failed (%d in a row): %s", self.config.id, self.failures, reason)
        if self.failures >= OFFLINE_AFTER:
            self._set_down(reason)
        elif self.state == LinkState.ONLINE:
            self._registry.set_health(self.service, Health.DEGRADED, reason)

    def _bad_data(self, reason: str) -> None:
        # One corrupted answer is common on Daly links (daly.md §4.3); report only repeats.
        self.bad_data += 1
        if self.bad_data >= 2:
            self._registry.set_health(self.service, Health.DEGRADED, f"bad data: {reason}")
            _LOGGER.warning("Battery %s sent bad data %d times in a row: %s", self.config.id, self.bad_data, reason)

    def _backoff(self) -> float:
        return float(min(MAX_BACKOFF, self.config.poll_interval * 2 ** min(self.failures, 8)))

    async def _close_driver(self) -> None:
        self._connected = False
        try:
            await self.driver.close()
        except Exception:
            _LOGGER.exception("Closing the driver of %s failed", self.config.id)

    def _set_state(self, state: LinkState, health: Health, reason: str | None) -> None:
        self._registry.set_health(self.service, health, reason)
        if state != self.state:
            previous, self.state = self.state, state
            _LOGGER.info("Battery %s: %s -> %s%s", self.config.id, previous, state, f" ({reason})" if reason else "")
            self._bus.publish(
                DATA_BMS_LINK_CHANGED,
                {"battery_id": self.config.id, "link_state": state.value, "previous": previous.value, "reason": reason},
                origin=self.service,
            )


def battery_config(entry: Mapping[str, Any]) -> BatteryConfig:
    """A validated ``batteries`` entry as a BatteryConfig."""
    base = {"id", "name", "driver", "poll_interval", "enabled"}  # asleep_after stays in options
    return BatteryConfig(
        id=entry["id"],
        name=entry.get("name", entry["id"]),
        driver=entry["driver"],
        poll_interval=float(entry.get("poll_interval", 5.0)),
        options={k: v for k, v in entry.items() if k not in base},
    )


class BatteryManager:
    """All coordinators; keeps the latest processed reading of each battery."""

    def __init__(
        self,
        bus: EventBus,
        registry: ServiceRegistry,
        drivers: Registry[DriverSpec],
        context: DriverContext,
        gate: Gate | None = None,
    ) -> None:
        self._gate = gate
        self._bus = bus
        self._registry = registry
        self._drivers = drivers
        self._context = context
        self.coordinators: dict[str, Coordinator] = {}
        self.latest: dict[str, Reading] = {}
        self._sub: Subscription | None = None

    def start_listening(self) -> None:
        """Track processed readings for the API."""
        self._sub = self._bus.subscribe(DATA_BMS_NEW, self._on_reading, name="core.batteries")

    def _on_reading(self, event: Event) -> None:
        reading: Reading = event.data
        if reading.battery_id in self.coordinators:
            self.latest[reading.battery_id] = reading

    def add(self, config: BatteryConfig) -> Coordinator:
        """Create and start a coordinator; raises KeyError for an unknown driver or id in use."""
        if config.id in self.coordinators:
            raise KeyError(f"battery {config.id!r} exists")
        spec = self._drivers.get(config.driver)
        if spec is None:
            raise KeyError(f"unknown driver {config.driver!r}")
        coordinator = Coordinator(config, spec.factory(config, self._context), self._bus, self._registry, self._gate)
        self.coordinators[config.id] = coordinator
        coordinator.start()
        return coordinator

    async def remove(self, battery_id: str) -> None:
        """Stop and forget one battery."""
        coordinator = self.coordinators.pop(battery_id)
        await coordinator.stop()
        self.latest.pop(battery_id, None)
        self._registry.remove(coordinator.service)

    async def apply(self, entries: Sequence[Mapping[str, Any]]) -> None:
        """Make the running batteries match a ``batteries`` section (restart changed ones)."""
        wanted = {e["id"]: battery_config(e) for e in entries if e.get("enabled", True)}
        for battery_id, coordinator in list(self.coordinators.items()):
            if wanted.get(battery_id) != coordinator.config:
                await self.remove(battery_id)
        for battery_id, config in wanted.items():
            if battery_id not in self.coordinators:
                self.add(config)

    async def stop(self) -> None:
        """Stop every coordinator."""
        await asyncio.gather(*(c.stop() for c in self.coordinators.values()))
        if self._sub is not None:
            self._sub.cancel()
