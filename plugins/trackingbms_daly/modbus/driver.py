"""Daly D2 and 0x81/0x51 driver over a (shared) serial port: detection, polling, controls (daly.md §3)."""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hub.reading import BatteryState, Reading, Temperature, TemperatureKind
from hub.specs import BatteryConfig, ControlUnsupportedError, DataError, DriverContext, LinkError
from hub.transport.shared import SharedPort
from trackingbms_daly.errors import DalyProtocolError
from trackingbms_daly.modbus import d2, x81
from trackingbms_daly.modbus.control import ModbusControl
from trackingbms_daly.modbus.framing import D2_ADDRESS, x81_answer_address, x81_request_address
from trackingbms_daly.modbus.master import DalyModbusMaster
from trackingbms_daly.modbus.registers import Block, decode_table
from trackingbms_daly.modbus.status import STATE_CHARGING, STATE_DISCHARGING, ModbusStatus

__all__ = ["PROBE_ORDER", "DalyModbusDriver", "ModbusOptions"]

_LOGGER = logging.getLogger(__name__)
# aiobmsble >= 0.31 tries D2 `D2 03 00 00 00 3E D7 B9`, then `81 03 00 00 00 40 5B FA` (daly.md §0).
PROBE_ORDER = ("d2", "x81")
_PROBES: dict[str, Block] = {"d2": d2.STATUS_62, "x81": x81.RT1}
_STATES = {0: BatteryState.IDLE, STATE_CHARGING: BatteryState.CHARGING, STATE_DISCHARGING: BatteryState.DISCHARGING}
SIGN_DETECT_MIN_A = 1.0  # above this the BMS's own status register decides the sign (daly.md §1.8)
_CELL_RANGE_V = (0.5, 5.0)  # outside: a corrupt answer (daly.md §4.3)


@dataclass(frozen=True, slots=True)
class ModbusOptions:
    """The driver's validated options (see trackingbms_daly.modbus.registration.BATTERY_SCHEMA)."""

    port: str
    protocol: str = "auto"  # d2 | x81 | auto
    board: int = 1  # 0x81 multi-drop: request 0x80 + board, answer 0x50 + board
    baudrate: int = 9600
    timeout: float = 0.5
    retries: int = 2
    request_gap: float = 0.0
    current_sign: str = "auto"  # auto | charge_positive | discharge_positive
    registers: int = 62  # D2 status block: 62 or 80 registers

    @classmethod
    def from_config(cls, options: Mapping[str, Any], data_dir: Path) -> ModbusOptions:
        """Build from a battery entry; a relative port is relative to the data directory."""
        port = str(options["port"])
        if "://" not in port and not Path(port).is_absolute():
            port = str(data_dir / port)
        return cls(
            port=port,
            protocol=str(options.get("protocol", "auto")),
            board=int(options.get("board", 1)),
            baudrate=int(options.get("baudrate", 9600)),
            timeout=float(options.get("timeout", 0.5)),
            retries=int(options.get("retries", 2)),
            request_gap=float(options.get("request_gap", 0.0)),
            current_sign=str(options.get("current_sign", "auto")),
            registers=int(options.get("registers", 62)),
        )


_CONTROLS = frozenset({"charge_mos", "discharge_mos", "soc", "restart"})


class DalyModbusDriver:
    """Reads one Daly board with the D2 or the 0x81/0x51 protocol."""

    def __init__(self, config: BatteryConfig, context: DriverContext) -> None:
        self.config = config
        self.context = context
        self.options = ModbusOptions.from_config(config.options, context.data_dir)
        self.port: SharedPort | None = None
        self.protocol: str | None = None  # the family in use
        self.detected: str | None = None  # what auto-detection found last
        self.master: DalyModbusMaster | None = None
        # D2 (62 registers): None until probed once, then whether 0x42 holds a MOS sensor (aiobmsble).
        self.mos_temperature_enabled: bool | None = None
        self.charge_positive_on_wire = self.options.current_sign != "discharge_positive"
        self.rated_capacity_ah: float | None = None
        self._rated_tried = False

    async def connect(self) -> None:
        """Open the port and find the family the board speaks; raises LinkError."""
        if self.port is None:
            self.port = self.context.ports.acquire(self.options.port, self.options.baudrate, self.options.request_gap)
        async with self.port.exchange():
            pass  # opens the port, so a missing device is reported as such
        if self.options.protocol != "auto":
            self._use(self.options.protocol)
            return
        # After a reconnect the family found before is tried first.
        for family in sorted(PROBE_ORDER, key=lambda f: f != self.detected):
            master = self._use(family)
            block = _PROBES[family]
            try:
                await master.read(block.start, block.count)
            except (LinkError, DalyProtocolError) as err:
                _LOGGER.debug("%s: no %s answer: %s", self.options.port, family, err)
                continue
            _LOGGER.info("%s speaks the Daly %s protocol", self.options.port, family)
            self.detected = family
            return
        self.protocol = self.master = None
        raise LinkError(f"no Daly D2 or 0x81 answer on {self.options.port}")

    def _use(self, family: str) -> DalyModbusMaster:
        assert self.port is not None
        if family == "d2":
            request = answer = D2_ADDRESS
        else:
            request, answer = x81_request_address(self.options.board), x81_answer_address(self.options.board)
        self.protocol = family
        self.master = DalyModbusMaster(self.port, request, answer, self.options.timeout, self.options.retries)
        return self.master

    async def close(self) -> None:
        """Release the port (closed when its last battery goes)."""
        if self.port is not None:
            self.port = None
            self.master = None
            await self.context.ports.release(self.options.port)

    async def _ready(self) -> DalyModbusMaster:
        if self.master is None or self.protocol is None:
            await self.connect()
        assert self.master is not None
        return self.master

    async def poll(self) -> Reading:
        """Read the live status once; LinkError when silent, DataError when the answer is unusable."""
        master = await self._ready()
        try:
            if self.protocol == "d2":
                status = await self._read_d2(master)
                await self._read_rated_capacity(master)
            else:
                regs = await master.read(x81.RT1.start, x81.RT1.count)
                status = x81.decode_status(regs | await master.read(x81.RT2.start, x81.RT2.count))
        except DalyProtocolError as err:
            raise DataError(str(err)) from err
        return self._reading(status)

    async def _read_d2(self, master: DalyModbusMaster) -> ModbusStatus:
        block = d2.STATUS_80 if self.options.registers == 80 else d2.STATUS_62
        regs = await master.read(block.start, block.count)
        if block is d2.STATUS_62 and self.mos_temperature_enabled is not False:
            regs |= await self._mos_block(master)
        elif block is d2.STATUS_80 and self.mos_temperature_enabled is None:
            self.mos_temperature_enabled = d2.mos_temperature_usable(regs)
        status = d2.decode_status(regs)
        if self.mos_temperature_enabled is False and status.mos_temperature is not None:
            status = dataclasses.replace(status, mos_temperature=None)
        return status

    async def _mos_block(self, master: DalyModbusMaster) -> dict[int, int]:
        """0x3E-0x46 with the MOS temperature; issued once to decide, as aiobmsble does (daly.md §3.4)."""
        first = self.mos_temperature_enabled is None
        try:
            regs = await master.read(d2.MOS_BLOCK.start, d2.MOS_BLOCK.count, retries=0 if first else None)
        except (LinkError, DalyProtocolError) as err:
            if first:
                _LOGGER.info("%s: no MOS temperature block (%s); not asking again", self.config.id, err)
                self.mos_temperature_enabled = False
            return {}
        if first:
            self.mos_temperature_enabled = d2.mos_temperature_usable(regs)
        return regs if self.mos_temperature_enabled else {}

    async def _read_rated_capacity(self, master: DalyModbusMaster) -> None:
        if self._rated_tried:
            return
        self._rated_tried = True  # optional: one try, never fatal
        try:
            regs = await master.read(d2.SETTINGS_BLOCK.start, 1, retries=0)
        except (LinkError, DalyProtocolError):
            return
        capacity = decode_table(d2.SETTINGS, regs).get("rated_capacity")
        self.rated_capacity_ah = capacity if capacity else None

    def _reading(self, status: ModbusStatus) -> Reading:
        cells = tuple(mv / 1000 for mv in status.cells_mv)
        low, high = _CELL_RANGE_V
        if any(not low <= v <= high for v in cells):
            raise DataError(f"implausible cell voltages {cells}")
        return Reading(
            battery_id=self.config.id,
            voltage=status.voltage,
            current=round(self._signed_current(status.current, status.state), 2),
            soc=status.soc,
            cells=cells,
            temperatures=_temperatures(status),
            charge_mos=status.charge_mos,
            discharge_mos=status.discharge_mos,
            balancing=status.balancing,
            state=_STATES.get(status.state),
            cycles=status.cycles,
            remaining_capacity_ah=status.remaining_capacity_ah,
            rated_capacity_ah=self.rated_capacity_ah,
            alarms=status.alarms,
        ).with_derived()

    def _signed_current(self, wire_current: float, state: int) -> float:
        """Current positive while charging (daly.md §1.8): D2/0x81 send charge-positive, some firmware not."""
        moving = state in (STATE_CHARGING, STATE_DISCHARGING)
        if self.options.current_sign == "auto" and abs(wire_current) > SIGN_DETECT_MIN_A and moving:
            learned = (state == STATE_CHARGING) == (wire_current > 0)
            if learned != self.charge_positive_on_wire:
                sign = "charge" if learned else "discharge"
                _LOGGER.info("%s: current sign detected as %s-positive", self.config.id, sign)
                self.charge_positive_on_wire = learned
        return wire_current if self.charge_positive_on_wire else -wire_current

    async def read_version(self) -> dict[str, Any]:
        """Software/hardware version strings (D2 0xA9, 0x81 0x178)."""
        master = await self._ready()
        block, table = (d2.VERSION_BLOCK, d2.INFO) if self.protocol == "d2" else (x81.VERSION_BLOCK, x81.VERSION)
        try:
            return decode_table(table, await master.read(block.start, block.count))
        except DalyProtocolError as err:
            raise DataError(str(err)) from err

    async def _control(self) -> ModbusControl:
        master = await self._ready()
        assert self.protocol is not None
        return ModbusControl(master, self.protocol)

    async def write_register(self, register: int, value: int) -> dict[str, Any]:
        """Write one register, retried until the echo is exact; no read-back (use the helpers below)."""
        return await (await self._control()).write_register(register, value)

    async def set_charge_mos(self, on: bool) -> dict[str, Any]:
        """Switch the charge MOSFET; confirmed by reading the MOS state back."""
        return await (await self._control()).set_mos(True, on)

    async def set_discharge_mos(self, on: bool) -> dict[str, Any]:
        """Switch the discharge MOSFET; confirmed by reading the MOS state back."""
        return await (await self._control()).set_mos(False, on)

    async def set_soc(self, percent: float) -> dict[str, Any]:
        """Set the BMS's SOC (0-100 %); confirmed by reading the SOC back."""
        return await (await self._control()).set_soc(percent)

    async def restart(self) -> dict[str, Any]:
        """Restart the BMS (D2 only) and wait until it answers again."""
        return await (await self._control()).restart()

    @property
    def supported_controls(self) -> frozenset[str]:
        """The hub's control actions this family has registers for (no restart register on 0x81)."""
        return _CONTROLS if self.protocol != "x81" else _CONTROLS - {"restart"}

    async def control(self, action: str, value: Any) -> dict[str, Any]:
        """The hub's control entry point (POST /api/v1/bms/configure/{id})."""
        actions = {
            "charge_mos": lambda: self.set_charge_mos(bool(value)),
            "discharge_mos": lambda: self.set_discharge_mos(bool(value)),
            "soc": lambda: self.set_soc(float(value)),
            "restart": self.restart,
        }
        if action not in actions:
            raise ControlUnsupportedError(f"unknown action {action!r}")
        return await actions[action]()


def _temperatures(status: ModbusStatus) -> tuple[Temperature, ...]:
    temps = [
        Temperature(float(v), TemperatureKind.CELL, i) for i, v in enumerate(status.temperatures, 1) if v is not None
    ]
    if status.mos_temperature is not None:
        temps.append(Temperature(float(status.mos_temperature), TemperatureKind.MOS, 1))
    if status.board_temperature is not None:
        temps.append(Temperature(float(status.board_temperature), TemperatureKind.BOARD, 1))
    return tuple(temps)
