"""The D2 family: register map, blocks and control registers, with the status decoder and encoder (daly.md §3.2)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from trackingbms_daly.errors import DalyProtocolError
from trackingbms_daly.modbus.alarms import D2_FAULT_WORDS, decode_d2_faults, encode_d2_faults
from trackingbms_daly.modbus.registers import (
    Block,
    Kind,
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
    "BALANCER_SWITCH",
    "CHARGE_MOS",
    "DISCHARGE_MOS",
    "INFO",
    "MAX_CELLS",
    "MAX_TEMPERATURES",
    "MOS_BLOCK",
    "RESTART",
    "SETTINGS",
    "SETTINGS_BLOCK",
    "SET_SOC",
    "STATUS",
    "STATUS_62",
    "STATUS_80",
    "VERSION_BLOCK",
    "decode_status",
    "encode_status",
    "mos_temperature_usable",
]

MAX_CELLS = 32
MAX_TEMPERATURES = 8
FAULT_FIRST = 0x3A

# Live status 0x00-0x43 ([MB-xlsx]; 0x3E-0x43 as real 80-register devices use them).
STATUS: Table = (
    *cells(MAX_CELLS),
    *temperatures(0x20, MAX_TEMPERATURES),
    Register("voltage", 0x28, 0.1, unit="V"),
    current("current", 0x29),  # D2 devices are charge-positive (daly.md §1.8)
    Register("soc", 0x2A, 0.1, unit="%"),
    Register("max_cell_mv", 0x2B, unit="mV"),
    Register("min_cell_mv", 0x2C, unit="mV"),
    celsius("max_temperature", 0x2D),
    celsius("min_temperature", 0x2E),
    Register("status", 0x2F),  # 0 stationary, 1 charging, 2 discharging
    Register("remaining_capacity", 0x30, 0.1, unit="Ah"),
    Register("cell_count", 0x31),
    Register("temperature_count", 0x32),
    Register("cycles", 0x33),
    Register("balance_state", 0x34),
    flag("charge_mos", 0x35),
    flag("discharge_mos", 0x36),
    Register("average_cell_mv", 0x37, unit="mV"),
    Register("delta_cell_mv", 0x38, unit="mV"),
    Register("power", 0x39, unit="W"),  # unsigned
    *(Register(f"fault_{i + 1}", FAULT_FIRST + i) for i in range(D2_FAULT_WORDS)),
    # The sheet's "remaining mileage"/"reserved"; balance bits on real 80-register devices.
    Register("balance_bits_1", 0x3E),
    Register("balance_bits_2", 0x3F),
    current("balance_current", 0x40, 0.001),
    celsius("mos_temperature", 0x42),  # 0x0000/0xFFFF: no sensor (aiobmsble)
    celsius("board_temperature", 0x43),
)

# Settings 0x80-0xA8 ([MB-xlsx]; factors from syssi number/__init__.py).
_LEVELS = ("l1", "l2")
SETTINGS: Table = (
    Register("rated_capacity", 0x80, 0.1, unit="Ah"),
    Register("cell_reference_mv", 0x81, unit="mV"),
    Register("boards", 0x82),
    *(Register(f"board_{i + 1}_cells", 0x83 + i) for i in range(3)),
    *(Register(f"board_{i + 1}_temperatures", 0x86 + i) for i in range(3)),
    Register("battery_type", 0x89),  # 0 LFP, 1 NMC, 2 LTO
    Register("sleep_time", 0x8A, unit="s"),
    *(
        Register(f"cell_{k}_{lv}_mv", 0x8B + 2 * j + i, unit="mV")
        for j, k in enumerate(("ov", "uv"))
        for i, lv in enumerate(_LEVELS)
    ),
    *(
        Register(f"pack_{k}_{lv}", 0x8F + 2 * j + i, 0.1, unit="V")
        for j, k in enumerate(("ov", "uv"))
        for i, lv in enumerate(_LEVELS)
    ),
    *(
        current(f"{k}_oc_{lv}", 0x93 + 2 * j + i)
        for j, k in enumerate(("charge", "discharge"))
        for i, lv in enumerate(_LEVELS)
    ),
    *(
        Register(f"{k}_{lv}", 0x97 + 2 * j + i, offset=-40, unit="°C")
        for j, k in enumerate(("charge_ot", "charge_ut", "discharge_ot", "discharge_ut"))
        for i, lv in enumerate(_LEVELS)
    ),
    *(Register(f"cell_difference_{lv}_mv", 0x9F + i, unit="mV") for i, lv in enumerate(_LEVELS)),
    *(Register(f"temperature_difference_{lv}", 0xA1 + i, unit="°C") for i, lv in enumerate(_LEVELS)),
    Register("balance_start_mv", 0xA3, unit="mV"),
    Register("balance_difference_mv", 0xA4, unit="mV"),
    flag("charge_mos_switch", 0xA5),
    flag("discharge_mos_switch", 0xA6),
    Register("soc_setting", 0xA7, 0.1, unit="%"),
    Register("mos_over_temperature", 0xA8, offset=-40, unit="°C"),
)

INFO: Table = (
    text("software_version", 0xA9, 8),
    text("hardware_version", 0xB1, 8),
    text("machine_code", 0xB9, 16),  # the faker's version frame has "SH39F003" here
    text("password", 0xC9, 3),
    Register("production_date", 0xCC, words=2, kind=Kind.DATE),
    flag("balancer_switch", 0xCF),
)

STATUS_62 = Block("status", 0x00, 62)  # D2 03 00 00 00 3E D7 B9, what aiobmsble reads
STATUS_80 = Block("status", 0x00, 80)  # "blue series" (syssi #55)
MOS_BLOCK = Block("mos", 0x3E, 9)  # D2 03 00 3E 00 09 F7 A3
SETTINGS_BLOCK = Block("settings", 0x80, 41)
VERSION_BLOCK = Block("version", 0xA9, 32)

# Writes (0x06). The sheet's 0x0C/0x0D are echoed but move no FET (batmon-ha #356).
CHARGE_MOS = 0xA5
DISCHARGE_MOS = 0xA6
SET_SOC = 0xA7  # 0.1 %
BALANCER_SWITCH = 0xCF
RESTART = 0xF0  # write 1
SHUTDOWN = 0xF1
ZERO_CURRENT = 0xF2
FACTORY_RESET = 0xF3
STATUS_REGISTERS = {CHARGE_MOS: 0x35, DISCHARGE_MOS: 0x36, SET_SOC: 0x2A}  # where a write shows


def mos_temperature_usable(regs: Mapping[int, int]) -> bool:
    """aiobmsble's rule: register 0x42 missing, 0x0000 or 0xFFFF means no MOS sensor (daly.md §3.4)."""
    return regs.get(0x42, 0) not in (0x0000, 0xFFFF)


def decode_status(regs: Mapping[int, int]) -> ModbusStatus:
    """Status from registers 0x00-0x3D (62) or 0x00-0x4F (80), plus the MOS block when read."""
    if any(a not in regs for a in range(STATUS_62.count)):
        raise DalyProtocolError("the D2 status needs registers 0x00-0x3D")
    values: dict[str, Any] = decode_table(STATUS, regs)
    fields = status_values(values, MAX_CELLS, MAX_TEMPERATURES)
    count = len(fields["cells_mv"])
    alarms = decode_d2_faults([values[f"fault_{i + 1}"] for i in range(D2_FAULT_WORDS)])
    balancing: tuple[int, ...] = ()
    if STATUS_80.count - 1 in regs:  # the 80-register layout carries balance bits
        balancing = balancing_from_bits([values["balance_bits_1"], values["balance_bits_2"]], count)
    return ModbusStatus(**fields, balancing=balancing, alarms=alarms)


def encode_status(status: ModbusStatus, count: int = STATUS_80.count) -> dict[int, int]:
    """Registers 0x00..count-1 for a status (the simulator's memory); unused slots are 0."""
    if len(status.cells_mv) > MAX_CELLS or len(status.temperatures) > MAX_TEMPERATURES:
        raise DalyProtocolError(f"D2 carries at most {MAX_CELLS} cells and {MAX_TEMPERATURES} sensors")
    values = common_values(status)
    values["average_cell_mv"] = round(sum(status.cells_mv) / len(status.cells_mv))
    values |= {f"fault_{i + 1}": w for i, w in enumerate(encode_d2_faults(status.alarms))}
    bits = balance_bits(status.balancing, 2)
    values |= {"balance_bits_1": bits[0], "balance_bits_2": bits[1], "balance_current": 0.0}
    regs = dict.fromkeys(range(count), 0)
    regs.update({a: v for a, v in encode_table(STATUS, values).items() if a < count})
    return regs
