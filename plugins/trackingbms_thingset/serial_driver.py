"""The ``thingset`` driver: a Libre Solar BMS on a UART, read from its live reports or by request."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hub.capture import Capture
from hub.reading import Reading, utc_now
from hub.specs import BatteryConfig, ControlUnsupportedError, DataError, DriverContext, LinkError
from hub.transport.serial import SerialLink
from trackingbms_thingset.client import TextClient
from trackingbms_thingset.control import ACTIONS, run_control
from trackingbms_thingset.eras import ERAS, detect_era, get_era
from trackingbms_thingset.errors import StatusError, ThingSetError
from trackingbms_thingset.objects import Era, Kind
from trackingbms_thingset.session import LiveReport, TextSession
from trackingbms_thingset.text import format_request
from trackingbms_thingset.values import build_reading, flatten, measures_from_names

__all__ = ["ThingSetOptions", "ThingSetSerialDriver"]

_LOGGER = logging.getLogger(__name__)
# Measurement groups to try while the era is unknown: Meas (2022 on), meas (2021-10), output (v21.0).
_GROUPS = ("Meas", "meas", "output")


@dataclass(frozen=True, slots=True)
class ThingSetOptions:
    """Validated options of a ``thingset`` battery (see trackingbms_thingset.registration)."""

    port: str
    baudrate: int = 115200
    timeout: float = 1.0
    retries: int = 2
    era: str = "auto"
    crc: str = "auto"
    mode: str = "auto"
    report_max_age: float = 3.0
    cells: int | None = None
    rated_capacity_ah: float | None = None
    capture: bool = False

    @classmethod
    def from_config(cls, options: Mapping[str, Any], data_dir: Path) -> ThingSetOptions:
        """From a battery entry; a relative port is relative to the data directory."""
        port = str(options["port"])
        if "://" not in port and not Path(port).is_absolute():
            port = str(data_dir / port)
        known = {name for name in cls.__dataclass_fields__ if name != "port"}
        return cls(port=port, **{key: value for key, value in options.items() if key in known})


class ThingSetSerialDriver:
    """Reads one BMS: the newest ``#mLive`` report while reports flow, ``?Meas`` otherwise."""

    supported_controls = ACTIONS

    def __init__(self, config: BatteryConfig, context: DriverContext) -> None:
        self.config = config
        self.options = ThingSetOptions.from_config(config.options, context.data_dir)
        self.context = context
        self.fixed_era: Era | None = None if self.options.era == "auto" else get_era(str(self.options.era))
        self.era: Era | None = self.fixed_era
        self.session: TextSession | None = None
        self.rated_capacity_ah = self.options.rated_capacity_ah
        self._link: SerialLink | None = None
        self._capture: Capture | None = None
        self._used = 0  # number of the last report a poll used
        self._capacity_asked = self.rated_capacity_ah is not None

    async def connect(self) -> None:
        """Open the port and start reading; LinkError when it cannot be opened."""
        if self.session is not None and self.session.failure is None:
            return
        await self.close()
        link = SerialLink(self.options.port, self.options.baudrate)
        if self.options.capture:
            self._capture = Capture(self.context.data_dir / "captures" / f"{self.config.id}.jsonl")
            link.capture = self._capture.record
        await link.open()
        self._link = link
        self.session = TextSession(link, self.options.crc, self.options.timeout, self.options.retries)
        self.session.start()

    async def close(self) -> None:
        """Stop reading and close the port; never raises."""
        if self.session is not None:
            await self.session.stop()
            self.session = None
        if self._link is not None:
            await self._link.close()
            self._link = None
        if self._capture is not None:
            self._capture.close()
            self._capture = None

    def _session(self) -> TextSession:
        if self.session is None:
            raise LinkError(f"{self.options.port} is not open")
        if self.session.failure is not None:
            raise LinkError(f"{self.options.port}: {self.session.failure}")
        return self.session

    async def poll(self) -> Reading:
        """One reading from a fresh report or a request; LinkError (silence) or DataError (bad data)."""
        if self.session is None:
            await self.connect()
        values, hint, timestamp = await self._values()
        era = self._era_for(values, hint)
        await self._ask_capacity(era)
        if self.options.mode == "auto":
            await self._complete_cells(era, values)
        try:
            return build_reading(
                self.config.id,
                measures_from_names(era, values),
                cells=self.options.cells,
                rated_capacity_ah=self.rated_capacity_ah,
                timestamp=timestamp,
            )
        except ThingSetError as err:
            raise DataError(f"{self.options.port}: {err}") from err

    async def _values(self) -> tuple[dict[str, Any], str, Any]:
        session = self._session()
        mode = self.options.mode
        loop = asyncio.get_running_loop()
        recent = session.latest is not None and loop.time() - session.latest.at <= self.options.report_max_age
        if mode == "report" or (mode == "auto" and recent):
            wait = (
                self.options.report_max_age
                if mode == "auto"
                else max(self.options.report_max_age, self.options.timeout)
            )
            report = await session.next_report(self._used, wait)
            if report is not None:
                self._used = report.number
                return report.values, report.path, report.timestamp
            if mode == "report":
                raise LinkError(f"no report from {self.options.port} within {wait:.1f} s")
        values, group = await self._request_values()
        return values, group, utc_now()

    async def _request_values(self) -> tuple[dict[str, Any], str]:
        session = self._session()
        groups = (self.era.meas_group,) if self.era is not None else _GROUPS
        for group in groups:
            response = await session.request(format_request("?", group))
            if response.status == 0xA4 and group != groups[-1]:
                continue  # this era calls the group differently
            if response.status != 0x85 or not isinstance(response.payload, dict):
                raise DataError(f"?{group} answered {StatusError(response.status)}")
            return flatten(response.payload), group
        raise DataError("no measurement group found")  # pragma: no cover - the loop always returns

    def _era_for(self, values: Mapping[str, Any], hint: str) -> Era:
        detected = detect_era(values, hint)
        if self.fixed_era is not None:
            # Eras share some names (rSOC_pct...): refuse when another era explains the data better.
            known = self.fixed_era.known(values)
            if known == 0 or (detected is not None and detected.known(values) > known):
                seen = detected.key if detected is not None else "none"
                raise DataError(f"the data does not fit era {self.fixed_era.key} (it looks like era {seen})")
            return self.fixed_era
        if detected is None:
            raise DataError(f"no known Libre Solar object among {sorted(values)[:6]}")
        if detected is not self.era:
            _LOGGER.info("%s: firmware era %s (%s)", self.config.id, detected.key, detected.label)
            self.era = detected
        return detected

    async def _ask_capacity(self, era: Era) -> None:
        """Read Conf/sNominalCapacity_Ah once (v23.0 on); a BMS that does not answer costs one try."""
        item = era.by_kind(Kind.NOMINAL_CAPACITY)
        if self._capacity_asked or item is None:
            return
        self._capacity_asked = True
        try:
            value = await TextClient(self._session().request).read_item(item)
        except (LinkError, ThingSetError) as err:
            _LOGGER.debug("%s: no nominal capacity: %s", self.config.id, err)
            return
        if isinstance(value, int | float) and not isinstance(value, bool) and value > 0:
            self.rated_capacity_ah = float(value)

    async def _complete_cells(self, era: Era, values: dict[str, Any]) -> None:
        """v21.0 left the cell voltages out of its serial report (fixture: Cells_V not published)."""
        item = era.by_kind(Kind.CELL_VOLTAGES)
        if item is None or item.name in values:
            return
        try:
            values[item.name] = await TextClient(self._session().request).read_item(item)
        except (LinkError, ThingSetError) as err:
            _LOGGER.debug("%s: no %s: %s", self.config.id, item.name, err)

    async def current_era(self) -> Era:
        """The era, detected with one request when no data has come yet."""
        if self.era is None:
            values, group = await self._request_values()
            return self._era_for(values, group)
        return self.era

    async def control(self, action: str, value: Any) -> dict[str, Any]:
        """Write and confirm one control action (see trackingbms_thingset.control)."""
        if self.session is None:
            await self.connect()
        era = await self.current_era()
        session = self._session()
        return await run_control(TextClient(session.request, session.request_once), era, action, value, self._alive)

    async def _alive(self) -> None:
        era = self.era or ERAS["2024"]
        response = await self._session().request(format_request("?", era.meas_group))
        if response.status != 0x85:
            raise LinkError(f"?{era.meas_group} answered 0x{response.status:02X}")

    async def read_config(self) -> dict[str, Any]:
        """The Conf group: name -> value (v23.0 on; a reading, so no control switch)."""
        if self.session is None:
            await self.connect()
        era = await self.current_era()
        if "Conf" not in era.group_ids:
            raise ControlUnsupportedError(f"firmware era {era.key} has no Conf group")
        return await TextClient(self._session().request).read_group("Conf")

    @property
    def last_report(self) -> LiveReport | None:
        """The newest report received (for diagnostics)."""
        return self.session.latest if self.session is not None else None
