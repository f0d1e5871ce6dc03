"""The 0x81/0x51 family: register map, blocks and control registers, with the status decoder and encoder."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from trackingbms_daly.errors import DalyProtocolError
from trackingbms_daly.modbus.alarms import X81_FAULT_WORDS, decode_x81_faults, encode_x81_faults
from trackingbms_daly.modbus.registers import (
    Block,
    Register,
    Table,
    cells,
    celsius,
    current,
    decode_table,
    encode_table,
    flag,
    temperatures,
    text,
)
from trackingbms_daly.modbus.status import (
    ModbusStatus,
    balance_bits,
    balancing_from_bits,
    common_values,
    status_values,
)

__all__ = [
    "ALARMS_BLOCK",
    "BOARD_NUMBER",
    "CHARGE_MOS",
    "DISCHARGE_MOS",
    "MAX_CELLS",
    "MAX_TEMPERATURES",
    "REALTIME",
    "RT1",
    "RT2",
    "SET_SOC",
    "SLEEP_TIME",
    "VERSION",
    "VERSION_BLOCK",
    "decode_status",
    "encode_status",
]

MAX_CELLS = 48
MAX_TEMPERATURES = 8
_BALANCE_WORDS = 3
_ERROR_TYPE1_WORDS = 4
FAULT_FIRST = 0x6D

# Real-time map (patagonaa daly_hkms_bms_registers.h, syssi protocol-register-map.md, aiobmsble
# Proto.X81; confirmed by the ESS-DL-BMS dump; daly.md §3.3).
REALTIME: Table = (
    *cells(MAX_CELLS),
    *temperatures(0x30, MAX_TEMPERATURES),
    Register("voltage", 0x38, 0.1, unit="V"),
    current("current", 0x39),  # charge-positive (daly.md §1.8)
    Register("soc", 0x3A, 0.1, unit="%"),
    Register("heartbeat", 0x3B),  # changes between polls: a counter, not SOH
    Register("cell_count", 0x3C),
    Register("temperature_count", 0x3D),
    Register("max_cell_mv", 0x3E, unit="mV"),
    Register("max_cell", 0x3F),
    Register("min_cell_mv", 0x40, unit="mV"),
    Register("min_cell", 0x41),
    Register("delta_cell_mv", 0x42, unit="mV"),
    celsius("max_temperature", 0x43),
    Register("max_temperature_sensor", 0x44),
    celsius("min_temperature", 0x45),
    Register("min_temperature_sensor", 0x46),
    Register("temperature_delta", 0x47, unit="°C"),
    Register("status", 0x48),  # 0 stationary, 1 charging, 2 discharging
    Register("remaining_capacity", 0x4B, 0.1, unit="Ah"),
    Register("cycles", 0x4C),
    Register("balance_state", 0x4D),  # 0 off, 1 passive, 2 active (7 seen on ESS)
    Register("balance_current", 0x4E, 0.001, -30000, "A", absent=frozenset({0})),
    *(Register(f"balance_bits_{i + 1}", 0x4F + i) for i in range(_BALANCE_WORDS)),
    flag("charge_mos", 0x52),
    flag("discharge_mos", 0x53),
    flag("precharge_mos", 0x54),
    flag("heater_mos", 0x55),
    flag("fan_mos", 0x56),
    Register("average_cell_mv", 0x57, unit="mV"),  # syssi map; 3314 mV on the ESS dump
    Register("power", 0x58, unit="W"),  # unsigned: the sign comes from 0x48 (patagonaa)
    Register("energy", 0x59, unit="Wh"),
    celsius("mos_temperature", 0x5A),
    celsius("board_temperature", 0x5B),
    celsius("heater_temperature", 0x5C),
    Register("remaining_mileage", 0x5E),
    Register("remaining_charge_time", 0x64, unit="min"),
    *(Register(f"error_type1_{i + 1}", 0x66 + i) for i in range(_ERROR_TYPE1_WORDS)),
    *(Register(f"fault_{i + 1}", FAULT_FIRST + i) for i in range(X81_FAULT_WORDS)),
)

# Version block 0x178 (74 registers): software 28 B, hardware 14 B, serial 14 B, then the date.
VERSION: Table = (
    text("software_version", 0x178, 14),
    text("hardware_version", 0x186, 7),
    text("serial_number", 0x18D, 7),
    text("production_date", 0x194, 12),
)

RT1 = Block("rt1", 0x00, 64)  # 81 03 00 00 00 40 5B FA
RT2 = Block("rt2", 0x41, 62)  # 81 03 00 41 00 3E 8B CE
ALARMS_BLOCK = Block("alarms", 0xA4, 10)  # 81 03 00 A4 00 0A 9B EE; layout undocumented
VERSION_BLOCK = Block("version", 0x178, 74)  # 81 03 01 78 00 4A 5A 18
BALANCER_SWITCH = 0xCF  # same register as D2; the ESS answers 0xFFFF = on

# Writes (0x06) per patagonaa: the settings base differs from D2's, so nothing else is written.
BOARD_NUMBER = 0x100
SLEEP_TIME = 0x115  # / 10 s, 65535 = off
SET_SOC = 0x116  # SOC x 10
CHARGE_MOS = 0x121
DISCHARGE_MOS = 0x122
FORCE_HEATER = 0x1F7
FORCE_FAN = 0x1F8
STATUS_REGISTERS = {CHARGE_MOS: 0x52, DISCHARGE_MOS: 0x53, SET_SOC: 0x3A}  # where a write shows


def decode_status(regs: Mapping[int, int]) -> ModbusStatus:
    """Status from RT1 (0x00-0x3F) and RT2 (0x41-0x7E) together."""
    missing = [b.name for b in (RT1, RT2) if any(a not in regs for a in range(b.start, b.end))]
    if missing:
        raise DalyProtocolError(f"the 0x81 status needs blocks {', '.join(missing)}")
    values: dict[str, Any] = decode_table(REALTIME, regs)
    fields = status_values(values, MAX_CELLS, MAX_TEMPERATURES)
    bits = [values[f"balance_bits_{i + 1}"] for i in range(_BALANCE_WORDS)]
    alarms = decode_x81_faults([values[f"fault_{i + 1}"] for i in range(X81_FAULT_WORDS)])
    return ModbusStatus(**fields, balancing=balancing_from_bits(bits, len(fields["cells_mv"])), alarms=alarms)


def encode_status(status: ModbusStatus, heartbeat: int = 0) -> dict[int, int]:
    """Registers 0x00-0x7E for a status (the simulator's memory); unused slots are 0."""
    if len(status.cells_mv) > MAX_CELLS or len(status.temperatures) > MAX_TEMPERATURES:
        raise DalyProtocolError(f"0x81 carries at most {MAX_CELLS} cells and {MAX_TEMPERATURES} sensors")
    values = common_values(status)
    cells_mv = status.cells_mv
    values |= {
        "heartbeat": heartbeat & 0xFFFF,
        "max_cell": cells_mv.index(max(cells_mv)) + 1,
        "min_cell": cells_mv.index(min(cells_mv)) + 1,
        "average_cell_mv": round(sum(cells_mv) / len(cells_mv)),
        "balance_current": None,
        "heater_temperature": None,
    }
    values |= {f"balance_bits_{i + 1}": w for i, w in enumerate(balance_bits(status.balancing, _BALANCE_WORDS))}
    values |= {f"fault_{i + 1}": w for i, w in enumerate(encode_x81_faults(status.alarms))}
    regs = dict.fromkeys(range(RT2.end), 0)
    regs.update(encode_table(REALTIME, values))
    return regs
