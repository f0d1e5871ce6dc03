"""A simulated Daly D2 or 0x81 board answering Modbus-style requests from a PackModel (protocol only, no I/O)."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from hub.reading import Alarm, AlarmLevel
from hub.simulation import PackModel, PackSnapshot
from trackingbms_daly.errors import DalyProtocolError
from trackingbms_daly.modbus import d2, x81
from trackingbms_daly.modbus.framing import (
    D2_ADDRESS,
    MAX_READ_COUNT,
    READ,
    WRITE_MULTIPLE,
    WRITE_SINGLE,
    ModbusFrame,
    build_exception,
    build_read_answer,
    build_write_multiple_answer,
    build_write_single,
    x81_answer_address,
    x81_request_address,
)
from trackingbms_daly.modbus.registers import encode_table
from trackingbms_daly.modbus.status import STATE_CHARGING, STATE_DISCHARGING, STATE_IDLE, ModbusStatus

__all__ = [
    "FAMILIES",
    "ILLEGAL_ADDRESS",
    "ILLEGAL_FUNCTION",
    "ILLEGAL_VALUE",
    "DalyModbusDevice",
    "request_addresses",
]

FAMILIES = ("d2", "x81")
ILLEGAL_FUNCTION = 1
ILLEGAL_ADDRESS = 2
ILLEGAL_VALUE = 3
_REGISTER_SPACE = 0x200  # the highest blocks the app reads end below 0x1C2 (daly.md §3.3)
_MAX_SOC_RAW = 1000
# Thresholds for the simulated fault bits: typical LiFePO4 settings, not Daly defaults.
_ALARM_RULES: tuple[tuple[str, str, AlarmLevel, Callable[[PackSnapshot], bool]], ...] = (
    ("soc_low", "SOC low", AlarmLevel.WARNING, lambda s: 5 <= s.soc < 15),
    ("soc_low", "SOC low", AlarmLevel.ALARM, lambda s: s.soc < 5),
    ("cell_voltage_high", "Cell voltage high", AlarmLevel.WARNING, lambda s: max(s.cell_voltages) > 3.6),
    ("cell_voltage_low", "Cell voltage low", AlarmLevel.WARNING, lambda s: min(s.cell_voltages) < 2.9),
)


def _celsius(value: float | None) -> int | None:
    # Raw 0 and 0xFF mean "no sensor" (daly.md §3.3), so -39..214 °C is what can be sent.
    return None if value is None else min(214, max(-39, round(value)))


class DalyModbusDevice:
    """One board: a request frame in, the answer bytes out (None: stay silent).

    Like a Modbus slave it stays silent for other addresses; unsupported functions, registers
    outside its map and out-of-range values get exception frames. Writes act on the pack:
    MOSFETs (D2 0xA5/0xA6, 0x81 0x121/0x122) and SOC (D2 0xA7, 0x81 0x116, both x 10).
    """

    def __init__(
        self,
        pack: PackModel,
        family: str = "d2",
        board: int = 1,
        invert_current: bool = False,
        mos_sensor: bool = True,
    ) -> None:
        if family not in FAMILIES:
            raise ValueError(f"family must be one of {FAMILIES}")
        limit = d2.MAX_CELLS if family == "d2" else x81.MAX_CELLS
        if pack.cells > limit:
            raise ValueError(f"the {family} family carries at most {limit} cells")
        self.pack = pack
        self.family = family
        self.board = board
        self.address = D2_ADDRESS if family == "d2" else x81_request_address(board)
        self.answer_address = D2_ADDRESS if family == "d2" else x81_answer_address(board)
        # Newer devices send charge as raw > 30000 (daly.md §1.8); this flips it like old firmware.
        self.invert_current = invert_current
        self.mos_sensor = mos_sensor  # False: 0x42 reads 0, as on devices without the sensor
        self.restarts = 0
        self.writes: list[tuple[int, int]] = []
        self._heartbeat = 0
        self._soc_setting = 0.0
        self._memory = self._initial_memory()

    def _initial_memory(self) -> dict[int, int]:
        if self.family == "d2":
            values: dict[str, Any] = {
                "rated_capacity": self.pack.capacity_ah,
                "cell_reference_mv": 3200,
                "boards": 1,
                "board_1_cells": self.pack.cells,
                "board_1_temperatures": min(self.pack.temps, d2.MAX_TEMPERATURES),
                "sleep_time": 0xFFFF,
                "software_version": "SIM-D2-1.0",
                "hardware_version": "TRACKINGBMS-SIM",
                "password": "123456",
                "production_date": "2024-11-07",
                "balancer_switch": True,
            }
            return encode_table((*d2.SETTINGS, *d2.INFO), values)
        text = {
            "software_version": "SIM-X81-1.0",
            "hardware_version": "TBMS-SIM",
            "serial_number": f"SIM{self.board:04d}",
        }
        memory = encode_table(x81.VERSION, {**text, "production_date": "20241107"})
        memory |= {x81.BOARD_NUMBER: self.board, x81.SLEEP_TIME: 0xFFFF, x81.BALANCER_SWITCH: 0xFFFF}
        return memory

    def status(self, snap: PackSnapshot) -> ModbusStatus:
        """What the board reports for a pack snapshot (current on the wire, possibly inverted)."""
        state = STATE_CHARGING if snap.current > 0 else STATE_DISCHARGING if snap.current < 0 else STATE_IDLE
        alarms = tuple(Alarm(code, text, level) for code, text, level, active in _ALARM_RULES if active(snap))
        return ModbusStatus(
            cells_mv=tuple(round(v * 1000) for v in snap.cell_voltages),
            temperatures=tuple(_celsius(t) for t in snap.temperatures[: d2.MAX_TEMPERATURES]),
            voltage=round(snap.voltage, 1),
            current=-snap.current if self.invert_current else snap.current,
            soc=snap.soc,
            state=state,
            remaining_capacity_ah=snap.remaining_capacity_ah,
            cycles=snap.cycles,
            charge_mos=snap.charge_mos,
            discharge_mos=snap.discharge_mos,
            balancer_active=bool(snap.balancing),
            balancing=snap.balancing,
            mos_temperature=_celsius(snap.mos_temperature) if self.mos_sensor else None,
            alarms=alarms,
        )

    def registers(self) -> dict[int, int]:
        """The whole register map right now: live status over the stored settings."""
        status = self.status(self.pack.snapshot())
        self._heartbeat = (self._heartbeat + 1) & 0xFFFF
        live = d2.encode_status(status) if self.family == "d2" else x81.encode_status(status, self._heartbeat)
        regs = {**self._memory, **live}
        family = d2 if self.family == "d2" else x81
        regs[family.CHARGE_MOS] = int(self.pack.charge_mos)
        regs[family.DISCHARGE_MOS] = int(self.pack.discharge_mos)
        regs[family.SET_SOC] = round(self._soc_setting * 10)
        return regs

    def handle(self, request: ModbusFrame) -> bytes | None:
        """The answer to one request frame, or None when it is not for this board."""
        if request.address != self.address:
            return None
        try:
            if request.function == READ:
                return self._read(request.register, request.value)
            if request.function == WRITE_SINGLE:
                self._write({request.register: request.value})
                return build_write_single(self.answer_address, request.register, request.value)
            if request.function == WRITE_MULTIPLE:
                values = request.registers()
                self._write({request.register + i: v for i, v in enumerate(values)})
                return build_write_multiple_answer(self.answer_address, request.register, len(values))
        except _RefusedError as refused:
            return build_exception(self.answer_address, request.function, refused.code)
        # Only functions 3, 6 and 16 are supported ([MB-xlsx], daly.md §3.1).
        return build_exception(self.answer_address, request.function, ILLEGAL_FUNCTION)

    def _read(self, start: int, count: int) -> bytes:
        if not 1 <= count <= MAX_READ_COUNT:
            raise _RefusedError(ILLEGAL_VALUE)
        if start + count > _REGISTER_SPACE:
            raise _RefusedError(ILLEGAL_ADDRESS)
        regs = self.registers()
        return build_read_answer(self.answer_address, [regs.get(a, 0) for a in range(start, start + count)])

    def _write(self, values: Mapping[int, int]) -> None:
        """Check every register first, then apply them all (a refused write changes nothing)."""
        apply = self._d2_write if self.family == "d2" else self._x81_write
        actions = [apply(register, value) for register, value in values.items()]
        for action in actions:
            action()
        self.writes.extend(values.items())

    def _d2_write(self, register: int, value: int) -> Callable[[], None]:
        if register in (d2.CHARGE_MOS, d2.DISCHARGE_MOS):
            return self._mos_action(register == d2.CHARGE_MOS, value)
        if register == d2.SET_SOC:
            return self._soc_action(value)
        if register == d2.RESTART:
            return self._restart
        # The sheet's 0x0C/0x0D are echoed but move no FET (batmon-ha #356); settings, RTC, switches stored.
        if register in (0x0C, 0x0D, d2.SHUTDOWN, d2.ZERO_CURRENT, d2.FACTORY_RESET):
            return lambda: None
        if 0x80 <= register <= 0xA8 or register in (d2.BALANCER_SWITCH, 0xD4, 0xD5, 0xD6):
            return self._store(register, value)
        raise _RefusedError(ILLEGAL_ADDRESS)

    def _x81_write(self, register: int, value: int) -> Callable[[], None]:
        if register in (x81.CHARGE_MOS, x81.DISCHARGE_MOS):
            return self._mos_action(register == x81.CHARGE_MOS, value)
        if register == x81.SET_SOC:
            return self._soc_action(value)
        if register in (x81.BOARD_NUMBER, x81.SLEEP_TIME, x81.BALANCER_SWITCH, x81.FORCE_HEATER, x81.FORCE_FAN):
            return self._store(register, value)
        raise _RefusedError(ILLEGAL_ADDRESS)

    def _store(self, register: int, value: int) -> Callable[[], None]:
        def store() -> None:
            self._memory[register] = value

        return store

    def _mos_action(self, charge: bool, value: int) -> Callable[[], None]:
        if value not in (0, 1):
            raise _RefusedError(ILLEGAL_VALUE)

        def switch() -> None:
            if charge:
                self.pack.charge_mos = bool(value)
            else:
                self.pack.discharge_mos = bool(value)

        return switch

    def _soc_action(self, value: int) -> Callable[[], None]:
        if value > _MAX_SOC_RAW:
            raise _RefusedError(ILLEGAL_VALUE)

        def set_soc() -> None:
            self._soc_setting = value / 10
            self.pack.set_soc(value / 10)

        return set_soc

    def _restart(self) -> None:
        self.restarts += 1
        self._heartbeat = 0


class _RefusedError(DalyProtocolError):
    """A request the board answers with an exception frame."""

    def __init__(self, code: int) -> None:
        super().__init__(f"exception {code}")
        self.code = code


def request_addresses(devices: Sequence[DalyModbusDevice]) -> frozenset[int]:
    """The request addresses a set of devices on one line listens to."""
    return frozenset(d.address for d in devices)
