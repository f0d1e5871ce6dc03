"""The alerts runtime of one hub: feeds the pure engine from the bus and a timer, hands decisions to the writer."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import weakref
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from hub.bus import DATA_BMS_LINK_CHANGED, DATA_BMS_NEW, Event, Subscription
from hub.reading import Reading, utc_now
from hub.registry import Health
from hub.storage.records import AlertRecord, BatteryScope
from trackingbms_alerts.catalog import RuleCatalog
from trackingbms_alerts.engine import Engine, Observation
from trackingbms_alerts.lifecycle import Battery
from trackingbms_alerts.metrics import reading_values
from trackingbms_alerts.rules import Rule
from trackingbms_alerts.settings import Settings
from trackingbms_alerts.writer import ORIGIN, Writer

if TYPE_CHECKING:
    from hub.core import Hub

_LOGGER = logging.getLogger(__name__)
ANALYTICS_EVENT = "data.bms.analytics"  # published by the energy plugin (docs/analytics.md)
# One subscription for readings, analytics and link changes keeps their order: the analytics of a
# reading are published (pipeline step 340) before the reading itself goes out as data.bms.new.
PATTERN = "data.bms.*"
SUBSCRIPTION_SIZE = 5000
ACK_WAIT = 5.0  # seconds an acknowledgement waits for storage before answering anyway


class AlertsDisabledError(Exception):
    """The ``alerts`` section has ``enabled: false``."""


class AlertService:
    """Lives as long as its hub: a reload of the section restarts it with its open alerts and any
    decisions storage has not taken yet."""

    def __init__(self, hub: Hub) -> None:
        self.hub = hub
        self.settings = Settings()
        self.catalog = RuleCatalog()
        self.engine: Engine | None = None
        self.writer: Writer | None = None
        self.analytics: dict[str, Mapping[str, Any]] = {}
        self._looked_up: dict[str, float] = {}
        self._problems: dict[str, str] = {}
        self._sub: Subscription | None = None
        self._timer: asyncio.Task[None] | None = None

    # -- lifecycle --------------------------------------------------------------------------------

    async def start(self, config: Mapping[str, Any]) -> None:
        """Load rules and open alerts, then listen to the bus and start the timer and the writer."""
        self.settings = Settings.from_config(config)
        store = self.hub.store
        await self.catalog.load(store, self.settings.rules_path(self.hub.config.path))
        issues = self.catalog.issues
        self._problems["rules"] = "rules: " + "; ".join(issues) if issues else ""
        if not self.settings.enabled:
            _LOGGER.info("Alerts are disabled (alerts.enabled: false)")
            return
        if self.writer is None:
            self.writer = Writer(
                self.hub.bus, store, self.settings.queue_size, self._storage_problem, self._adopt_stored
            )
            await self.writer.load_sequence()
        now = utc_now()
        engine = Engine(policy=self.settings.policy())
        previous = self.engine
        if previous is not None:
            engine.adopt(previous.open.values())
            engine.batteries, engine.seen, engine.links = previous.batteries, previous.seen, previous.links
        else:
            engine.adopt(await self._stored_open())
        decisions = engine.set_rules(self.catalog.all(), now, close_orphans=not self.catalog.issues)
        self.engine = engine
        for battery_id in self._configured():
            await self._ensure_battery(battery_id, track=True, force=True)
        self._sub = self.hub.bus.subscribe(PATTERN, self._on_event, maxsize=SUBSCRIPTION_SIZE, name=ORIGIN)
        self.writer.start()
        await self.writer.submit(decisions)
        self._timer = asyncio.create_task(self._tick_loop(), name="alerts.timer")
        # The hub marks the plugin ok once hub_started returns; report problems right after that.
        asyncio.get_running_loop().call_soon(self._set_health)
        _LOGGER.info("Alerts: %d rules, %d open alerts", len(engine.rules), len(engine.open))

    async def stop(self) -> None:
        """Stop listening; publish what is queued and store what storage takes."""
        if self._sub is not None:
            self._sub.cancel()
            self._sub = None
        if self._timer is not None:
            self._timer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._timer
            self._timer = None
        if self.writer is not None:
            await self.writer.stop()

    async def _stored_open(self) -> list[AlertRecord]:
        found: list[AlertRecord] = []
        while True:
            page, total = await self.hub.store.alerts(state="open", limit=1000, offset=len(found))
            found += page
            if not page or len(found) >= total:
                return found

    def _configured(self) -> list[str]:
        return list(self.hub.batteries.coordinators) if self.hub.batteries is not None else []

    # -- health -----------------------------------------------------------------------------------

    def _storage_problem(self, problem: str | None) -> None:
        self._problems["storage"] = problem or ""
        self._set_health()

    def _set_health(self) -> None:
        problems = [text for text in self._problems.values() if text]
        details: dict[str, Any] = {"rules": len(self.catalog.all()), "rule_issues": self.catalog.issues}
        if self.engine is not None and self.writer is not None:
            details.update(open_alerts=len(self.engine.open), pending_writes=len(self.writer.unsaved))
        health = Health.DEGRADED if problems else Health.OK
        self.hub.registry.set_health(ORIGIN, health, "; ".join(problems) or None, **details)

    def _adopt_stored(self, record: AlertRecord) -> None:
        if self.engine is not None:
            self.engine.replace(record)

    # -- inputs -----------------------------------------------------------------------------------

    async def _on_event(self, event: Event) -> None:
        engine, writer = self.engine, self.writer
        if engine is None or writer is None:
            return
        if event.name == DATA_BMS_NEW and isinstance(event.data, Reading):
            reading = event.data
            await self._ensure_battery(reading.battery_id, track=True)
            obs = Observation(
                battery_id=reading.battery_id,
                time=reading.timestamp,
                values=reading_values(reading, self.analytics.get(reading.battery_id)),
                alarms=reading.alarms,
                state=reading.state.value if reading.state else None,
                received=utc_now(),
            )
            await writer.submit(engine.observe(obs))
        elif event.name == ANALYTICS_EVENT and isinstance(event.data, dict) and "battery_id" in event.data:
            self.analytics[str(event.data["battery_id"])] = event.data
        elif event.name == DATA_BMS_LINK_CHANGED and isinstance(event.data, dict):
            battery_id, state = str(event.data.get("battery_id")), str(event.data.get("link_state"))
            if state != "stopped":
                await self._ensure_battery(battery_id, track=True)
            engine.link_changed(battery_id, state, utc_now())

    async def _ensure_battery(self, battery_id: str, track: bool, force: bool = False) -> Battery:
        """The battery's name and place, looked up again every ``scope_refresh`` seconds."""
        assert self.engine is not None
        known = self.engine.batteries.get(battery_id)
        loop_now = asyncio.get_running_loop().time()
        last = self._looked_up.get(battery_id)
        if known is not None and not force and last is not None and loop_now - last < self.settings.scope_refresh:
            return known
        self._looked_up[battery_id] = loop_now
        place = known.place if known is not None else BatteryScope()
        with contextlib.suppress(Exception):  # storage down: keep what we knew, look again later
            place = await self.hub.store.battery_scope(battery_id)
        battery = Battery(battery_id, self._name(battery_id), place)
        if track:
            self.engine.add_battery(battery, utc_now())
        else:
            self.engine.batteries[battery_id] = battery
        return battery

    def _name(self, battery_id: str) -> str:
        batteries = self.hub.batteries
        if batteries is not None and battery_id in batteries.coordinators:
            return batteries.coordinators[battery_id].config.name
        known = self.engine.batteries.get(battery_id) if self.engine else None
        return known.name if known is not None else battery_id

    async def battery(self, battery_id: str) -> Battery:
        """A battery as the engine sees it (for the rule test endpoints)."""
        if self.engine is None:
            return Battery(battery_id, self._name(battery_id))
        return await self._ensure_battery(battery_id, track=False)

    async def _tick_loop(self) -> None:
        while True:
            await asyncio.sleep(self.settings.check_interval)
            try:
                assert self.engine is not None and self.writer is not None
                await self.writer.submit(self.engine.tick(utc_now()))
                for battery_id in list(self.engine.batteries):
                    await self._ensure_battery(battery_id, track=False)
                self._set_health()
            except Exception:
                _LOGGER.exception("Alert timer failed")

    # -- commands from the API --------------------------------------------------------------------

    def _running(self) -> tuple[Engine, Writer]:
        if self.engine is None or self.writer is None or not self.settings.enabled:
            raise AlertsDisabledError("alerts are disabled (alerts.enabled: false)")
        return self.engine, self.writer

    async def acknowledge(self, alert_id: str, actor: str, comment: str | None) -> tuple[AlertRecord, bool] | None:
        """Acknowledge an open alert: (the record, whether storage took it in time), or None when no
        open alert has that id. Raises AlreadyAcknowledgedError."""
        engine, writer = self._running()
        decision = engine.acknowledge(alert_id, actor, comment, utc_now())
        if decision is None:
            return None
        jobs = await writer.submit([decision], wait=True)
        stored = False
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(ACK_WAIT):
                assert jobs[0].done is not None
                stored = await jobs[0].done
        return decision.alert, stored

    def current(self, record: AlertRecord) -> AlertRecord:
        """The engine's version of an open alert (newer than storage while a write waits)."""
        if self.engine is None or not record.open:
            return record
        return self.engine.find(record.id) or record

    async def rules_changed(self) -> None:
        """Apply the catalog to the engine (after an API change)."""
        if self.engine is not None and self.writer is not None and self.settings.enabled:
            await self.writer.submit(self.engine.set_rules(self.catalog.all(), utc_now()))
            self._set_health()

    def rule_list(self) -> list[Rule]:
        """Every rule of the catalog."""
        return self.catalog.all()


_SERVICES: weakref.WeakKeyDictionary[Hub, AlertService] = weakref.WeakKeyDictionary()


def service_of(hub: Hub) -> AlertService:
    """The alert service of a hub (made on first use; it lives as long as the hub)."""
    service = _SERVICES.get(hub)
    if service is None:
        service = _SERVICES[hub] = AlertService(hub)
    return service
