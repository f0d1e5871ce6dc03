"""The decoded live status both Modbus-style families share, and helpers to build and encode it."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from hub.reading import Alarm
from trackingbms_daly.errors import DalyProtocolError

__all__ = [
    "STATE_CHARGING",
    "STATE_DISCHARGING",
    "STATE_IDLE",
    "ModbusStatus",
    "balance_bits",
    "balancing_from_bits",
    "clamped_count",
    "common_values",
    "status_values",
]

# Register 0x2F (D2) / 0x48 (0x81): 0 stationary, 1 charging, 2 discharging (daly.md §3.2, §3.3).
STATE_IDLE = 0
STATE_CHARGING = 1
STATE_DISCHARGING = 2
_MAX_SOC = 100.0


@dataclass(frozen=True, slots=True)
class ModbusStatus:
    """One poll's worth of status, with the current exactly as the wire says (sign not corrected)."""

    cells_mv: tuple[int, ...]
    temperatures: tuple[float | None, ...]
    voltage: float
    current: float
    soc: float
    state: int
    remaining_capacity_ah: float
    cycles: int
    charge_mos: bool
    discharge_mos: bool
    balancer_active: bool = False
    balancing: tuple[int, ...] = ()
    mos_temperature: float | None = None
    board_temperature: float | None = None
    power: int | None = None  # W, unsigned on the wire (daly.md §3.2 0x39, §3.3 0x58)
    alarms: tuple[Alarm, ...] = field(default=())


def clamped_count(value: Any, limit: int, what: str) -> int:
    """A count register clamped to the family's maximum, as aiobmsble and syssi do (daly.md §3.2)."""
    if value is None:
        raise DalyProtocolError(f"{what} missing")
    return min(int(value), limit)


def balancing_from_bits(words: Sequence[int | None], cell_count: int) -> tuple[int, ...]:
    """Cells being balanced: bit i of word k (u16 value) is cell 16k + i + 1 (patagonaa, daly.md §3.3)."""
    found = []
    for k, word in enumerate(words):
        for i in range(16):
            cell = 16 * k + i + 1
            if word and word >> i & 1 and cell <= cell_count:
                found.append(cell)
    return tuple(found)


def balance_bits(cells: Sequence[int], words: int) -> list[int]:
    """The balance bit words for 1-based ``cells``."""
    out = [0] * words
    for cell in cells:
        if not 1 <= cell <= 16 * words:
            raise DalyProtocolError(f"balancing cell {cell} outside 1..{16 * words}")
        out[(cell - 1) // 16] |= 1 << ((cell - 1) % 16)
    return out


def _required(values: Mapping[str, Any], name: str) -> Any:
    value = values.get(name)
    if value is None:
        raise DalyProtocolError(f"{name} missing from the status registers")
    return value


def status_values(values: Mapping[str, Any], cell_limit: int, temp_limit: int) -> dict[str, Any]:
    """The ModbusStatus fields common to both families from decoded register values; checks ranges."""
    cell_count = clamped_count(values.get("cell_count"), cell_limit, "cell count")
    if cell_count < 1:
        raise DalyProtocolError("the BMS reports 0 cells")
    temp_count = clamped_count(values.get("temperature_count"), temp_limit, "temperature count")
    soc = _required(values, "soc")
    if soc > _MAX_SOC:  # as the A5 decoder: SOC above 100 % marks a corrupt answer
        raise DalyProtocolError(f"SOC {soc} % is above 100 %")
    return {
        "cells_mv": tuple(int(_required(values, f"cell_{i + 1}")) for i in range(cell_count)),
        "temperatures": tuple(values.get(f"temperature_{i + 1}") for i in range(temp_count)),
        "voltage": _required(values, "voltage"),
        "current": _required(values, "current"),
        "soc": soc,
        "state": int(_required(values, "status")),
        "remaining_capacity_ah": _required(values, "remaining_capacity"),
        "cycles": int(_required(values, "cycles")),
        "charge_mos": bool(values.get("charge_mos")),
        "discharge_mos": bool(values.get("discharge_mos")),
        "balancer_active": bool(values.get("balance_state")),
        "mos_temperature": values.get("mos_temperature"),
        "board_temperature": values.get("board_temperature"),
        "power": values.get("power"),
    }


def common_values(status: ModbusStatus) -> dict[str, Any]:
    """Register values both families encode the same way, for the simulated devices."""
    cells = status.cells_mv
    temps = [t for t in status.temperatures if t is not None]
    values: dict[str, Any] = {f"cell_{i + 1}": mv for i, mv in enumerate(cells)}
    values |= {f"temperature_{i + 1}": t for i, t in enumerate(status.temperatures)}
    values |= {
        "voltage": status.voltage,
        "current": status.current,
        "soc": status.soc,
        "status": status.state,
        "remaining_capacity": status.remaining_capacity_ah,
        "cell_count": len(cells),
        "temperature_count": len(status.temperatures),
        "cycles": status.cycles,
        "balance_state": int(status.balancer_active),
        "charge_mos": status.charge_mos,
        "discharge_mos": status.discharge_mos,
        "max_cell_mv": max(cells),
        "min_cell_mv": min(cells),
        "delta_cell_mv": max(cells) - min(cells),
        "max_temperature": max(temps) if temps else None,
        "min_temperature": min(temps) if temps else None,
        "power": status.power if status.power is not None else round(abs(status.voltage * status.current)),
        "mos_temperature": status.mos_temperature,
        "board_temperature": status.board_temperature,
    }
    return values
