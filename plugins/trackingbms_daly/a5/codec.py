"""Decoders, encoders and write commands for the A5 data ids, driven by field tables (daly.md §1.4)."""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar

# The 0x98 table lives in alarms; its names stay importable from here (explicit re-exports).
from trackingbms_daly.a5.alarms import FAILURE_BITS as FAILURE_BITS
from trackingbms_daly.a5.alarms import FailureBit as FailureBit
from trackingbms_daly.a5.alarms import decode_failures as decode_failures
from trackingbms_daly.a5.alarms import encode_failures as encode_failures
from trackingbms_daly.a5.framing import (
    DATA_LEN,
    Field,
    Table,
    build_frame,
    decode_fields,
    encode_fields,
)
from trackingbms_daly.errors import DalyProtocolError

COMMAND_NAMES: dict[int, str] = {
    0x90: "pack_status",
    0x91: "cell_voltage_extremes",
    0x92: "temperature_extremes",
    0x93: "mosfet_status",
    0x94: "status_info",
    0x95: "cell_voltages",
    0x96: "temperatures",
    0x97: "balancing",
    0x98: "failures",
    0x50: "rated_capacity",
    0x63: "hardware_version",
    0xD9: "discharge_mos",
    0xDA: "charge_mos",
    0x21: "set_soc",
    0x00: "restart",
    0xD8: "unknown_d8",
}

# The current field is (raw - 30000) * 0.1 A on every Daly device; only the sign differs
# (daly.md §1.8).
CURRENT_OFFSET = 30000
MAX_CELLS = 48  # [V1.2]: "maximum 96 byte, sent in 16 frames", cells 1-48 (daly.md §1.4 0x95)
MAX_FRAMES = 16
CELLS_PER_FRAME = 3
TEMPS_PER_FRAME = 7

_T = TypeVar("_T")


def _build(cls: type[_T], table: Table, data: bytes) -> _T:
    return cls(**decode_fields(table, data))


PACK_STATUS: Table = (
    Field("voltage", 0, "H", 0.1, unit="V"),
    # Always 0 in every capture (daly.md §1.4 0x90), decoded anyway.
    Field("acquired_voltage", 2, "H", 0.1, unit="V"),
    Field("current_raw", 4, "H"),
    Field("current", 4, "H", 0.1, -CURRENT_OFFSET, "A"),
    Field("soc", 6, "H", 0.1, unit="%"),
)
_CURRENT = next(f for f in PACK_STATUS if f.name == "current")
# d6-d7 of 0x91 and d4-d7 of 0x92 carry stale bytes of an earlier answer (daly.md §1.4).
CELL_EXTREMES: Table = (
    Field("max_mv", 0, "H", unit="mV"),
    Field("max_cell", 2, "B"),
    Field("min_mv", 3, "H", unit="mV"),
    Field("min_cell", 5, "B"),
)
TEMPERATURE_EXTREMES: Table = (
    Field("max_c", 0, "B", offset=-40, unit="°C"),
    Field("max_sensor", 1, "B"),
    Field("min_c", 2, "B", offset=-40, unit="°C"),
    Field("min_sensor", 3, "B"),
)
MOSFET_STATUS: Table = (
    Field("state", 0, "B"),
    Field("charge_mos", 1, "?"),
    # batmon-ha: this byte is NOT the user-commanded discharge switch state (daly.md §1.4).
    Field("discharge_mos", 2, "?"),
    # Documented as "BMS life", in practice a rolling heartbeat (tomatensaus capture, §1.4).
    Field("heartbeat", 3, "B"),
    Field("remaining_capacity_mah", 4, "I", unit="mAh"),
)
STATUS_INFO: Table = (
    Field("cell_count", 0, "B"),
    Field("temperature_count", 1, "B"),
    Field("charger_connected", 2, "?"),
    Field("load_connected", 3, "?"),
    Field("dio", 4, "B"),  # bit0..3 = DI1..DI4, bit4..7 = DO1..DO4
    # [V1.2] marks d5-d7 reserved, but [V1.0] and every implementation read cycles here.
    Field("cycles", 5, "H"),
)
_CELL_FRAME: Table = (Field("frame", 0, "B"), *(Field(f"c{i}", 1 + 2 * i, "H") for i in range(3)))
_TEMP_FRAME: Table = (Field("frame", 0, "B"), *(Field(f"t{i}", 1 + i, "B") for i in range(7)))
RATED_CAPACITY: Table = (
    # 0x50 comes from mr-manuel read_capacity and a bms-to-inverter log; medium confidence.
    Field("rated_capacity", 0, "I", 0.001, unit="Ah"),
    Field("nominal_cell_voltage", 4, "I", 0.001, unit="V"),
)
# 0x21 layout of mr-manuel / bms-to-inverter; Daly2MQTT shifts it one byte (daly.md §1.6).
SET_SOC: Table = (
    Field("year", 0, "B", offset=2000),
    Field("month", 1, "B"),
    Field("day", 2, "B"),
    Field("hour", 3, "B"),
    Field("minute", 4, "B"),
    Field("second", 5, "B"),
    Field("soc", 6, "H", 0.1, unit="%"),
)


@dataclass(frozen=True, slots=True)
class PackStatus:
    """0x90: pack voltage, current exactly as the wire says (sign not corrected), SOC."""

    voltage: float
    acquired_voltage: float
    current_raw: int
    current: float
    soc: float


@dataclass(frozen=True, slots=True)
class CellExtremes:
    """0x91: highest and lowest cell voltage (mV) with their 1-based cell numbers."""

    max_mv: int
    max_cell: int
    min_mv: int
    min_cell: int


@dataclass(frozen=True, slots=True)
class TemperatureExtremes:
    """0x92: highest and lowest temperature (°C) with their sensor numbers."""

    max_c: float
    max_sensor: int
    min_c: float
    min_sensor: int


@dataclass(frozen=True, slots=True)
class MosfetStatus:
    """0x93: state (0 idle, 1 charging, 2 discharging), MOSFETs, remaining capacity."""

    state: int  # passed through unchecked: the driver decides what an unknown value means
    charge_mos: bool
    discharge_mos: bool
    heartbeat: int
    remaining_capacity_mah: int


@dataclass(frozen=True, slots=True)
class StatusInfo:
    """0x94: pack layout, charger/load detection, digital I/O and cycle count."""

    cell_count: int
    temperature_count: int
    charger_connected: bool
    load_connected: bool
    digital_inputs: tuple[bool, ...]
    digital_outputs: tuple[bool, ...]
    cycles: int


def decode_pack_status(data: bytes) -> PackStatus:
    """Decode 0x90, rejecting the two invalid patterns seen in the field."""
    status = _build(PackStatus, PACK_STATUS, data)
    if status.current_raw == 0:  # -3000 A: "no data" (Daly2MQTT, daly.md §1.4)
        raise DalyProtocolError("0x90 current raw 0 means no data")
    if status.soc > 100:  # Daly2MQTT and mr-manuel reject SOC above 100 %
        raise DalyProtocolError(f"0x90 SOC {status.soc} % is above 100 %")
    return status


def decode_cell_extremes(data: bytes) -> CellExtremes:
    """Decode 0x91."""
    return _build(CellExtremes, CELL_EXTREMES, data)


def decode_temperature_extremes(data: bytes) -> TemperatureExtremes:
    """Decode 0x92."""
    return _build(TemperatureExtremes, TEMPERATURE_EXTREMES, data)


def decode_mosfet_status(data: bytes) -> MosfetStatus:
    """Decode 0x93."""
    return _build(MosfetStatus, MOSFET_STATUS, data)


def decode_status_info(data: bytes) -> StatusInfo:
    """Decode 0x94; a cell count outside 1..48 means a corrupt answer."""
    values = decode_fields(STATUS_INFO, data)
    dio = values.pop("dio")
    if not 1 <= values["cell_count"] <= MAX_CELLS:
        raise DalyProtocolError(f"0x94 cell count {values['cell_count']} outside 1..{MAX_CELLS}")
    values["digital_inputs"] = tuple(bool(dio >> i & 1) for i in range(4))
    values["digital_outputs"] = tuple(bool(dio >> i & 1) for i in range(4, 8))
    return StatusInfo(**values)


def _frame_number(values: Mapping[str, Any], what: str) -> int:
    # The documents number frames from 0 with 0xFF invalid, but every capture starts at 1
    # (daly.md §1.4 0x95/0x96); 16 frames is the documented maximum.
    number = int(values["frame"])
    if not 1 <= number <= MAX_FRAMES:
        raise DalyProtocolError(f"{what} frame number {number} outside 1..{MAX_FRAMES}")
    return number


def decode_cell_frame(data: bytes) -> tuple[int, tuple[int, int, int]]:
    """Decode one 0x95 frame: (frame number, three cell voltages in mV); d7 is stale."""
    values = decode_fields(_CELL_FRAME, data)
    return _frame_number(values, "0x95"), (values["c0"], values["c1"], values["c2"])


def _assemble(frames: Mapping[int, Sequence[_T]], count: int, per_frame: int, what: str) -> list[_T]:
    # Frames are keyed by number, not arrival order; extra frames (a BMS that always sends
    # all 16) are ignored and slots beyond the count may hold garbage (daly.md §1.4, §1.5).
    needed = math.ceil(count / per_frame)
    missing = [k for k in range(1, needed + 1) if k not in frames]
    if missing:
        raise DalyProtocolError(f"{what}: frames {missing} missing for {count} values")
    return [v for k in range(1, needed + 1) for v in frames[k]][:count]


def assemble_cells(frames: Mapping[int, tuple[int, int, int]], cell_count: int) -> tuple[float, ...]:
    """Join 0x95 frames into cell voltages (V); frame k carries cells 3k-2..3k."""
    return tuple(mv / 1000 for mv in _assemble(frames, cell_count, CELLS_PER_FRAME, "0x95"))


def decode_temperature_frame(data: bytes) -> tuple[int, tuple[int, ...]]:
    """Decode one 0x96 frame: (frame number, seven raw values, °C + 40)."""
    values = decode_fields(_TEMP_FRAME, data)
    return _frame_number(values, "0x96"), tuple(values[f"t{i}"] for i in range(TEMPS_PER_FRAME))


def assemble_temperatures(frames: Mapping[int, Sequence[int]], sensor_count: int) -> tuple[float | None, ...]:
    """Join 0x96 frames into °C; raw 0 marks an absent sensor (it would read -40 °C)."""
    raws = _assemble(frames, sensor_count, TEMPS_PER_FRAME, "0x96")
    return tuple(None if raw == 0 else float(raw - 40) for raw in raws)


def decode_balancing(data: bytes, cell_count: int) -> tuple[int, ...]:
    """Decode 0x97 into the 1-based numbers of the cells being balanced.

    Bit order d0.bit0 = cell 1, d1.bit0 = cell 9 is the majority convention (maland16,
    Daly2MQTT, acpiccolo, bms-to-inverter); no real capture with a bit set exists, so this
    is LOW confidence (daly.md §1.4 0x97). Bits 48-63 are reserved.
    """
    if len(data) != DATA_LEN:
        raise DalyProtocolError(f"A5 data must be {DATA_LEN} bytes, got {len(data)}")
    bits = int.from_bytes(data, "little")
    return tuple(i + 1 for i in range(min(cell_count, MAX_CELLS)) if bits >> i & 1)


def decode_rated_capacity(data: bytes) -> tuple[float, float]:
    """Decode 0x50 into (rated capacity Ah, nominal cell voltage V)."""
    values = decode_fields(RATED_CAPACITY, data)
    return values["rated_capacity"], values["nominal_cell_voltage"]


# Encoder parameters carry exactly their table's field names, so locals() is the value map.
def encode_current(current: float) -> int:
    """Return the raw 0x90 current word for ``current`` amperes, in the wire's own sign."""
    return int.from_bytes(_CURRENT.encode(current), "big")


def encode_pack_status(voltage: float, current_raw: int, soc: float, acquired_voltage: float = 0.0) -> bytes:
    """Encode 0x90 data; ``current_raw`` already holds the 30000 offset and the device's sign."""
    return encode_fields(PACK_STATUS, locals())


def encode_cell_extremes(max_mv: int, max_cell: int, min_mv: int, min_cell: int) -> bytes:
    """Encode 0x91 data."""
    return encode_fields(CELL_EXTREMES, locals())


def encode_temperature_extremes(max_c: float, max_sensor: int, min_c: float, min_sensor: int) -> bytes:
    """Encode 0x92 data."""
    return encode_fields(TEMPERATURE_EXTREMES, locals())


def encode_mosfet_status(
    state: int, charge_mos: bool, discharge_mos: bool, heartbeat: int, remaining_capacity_mah: int
) -> bytes:
    """Encode 0x93 data."""
    return encode_fields(MOSFET_STATUS, locals())


def encode_status_info(
    cell_count: int,
    temperature_count: int,
    charger_connected: bool = False,
    load_connected: bool = False,
    digital_inputs: Sequence[bool] = (),
    digital_outputs: Sequence[bool] = (),
    cycles: int = 0,
) -> bytes:
    """Encode 0x94 data; at most four digital inputs and four outputs."""
    if len(digital_inputs) > 4 or len(digital_outputs) > 4:
        raise DalyProtocolError("0x94 carries at most 4 digital inputs and 4 outputs")
    bits = (*digital_inputs, *[False] * (4 - len(digital_inputs)), *digital_outputs)
    return encode_fields(STATUS_INFO, {**locals(), "dio": sum(1 << i for i, on in enumerate(bits) if on)})


def encode_cell_frame(frame: int, cells_mv: Sequence[int]) -> bytes:
    """Encode one 0x95 frame from up to three cell voltages (mV); missing slots are 0."""
    if len(cells_mv) > CELLS_PER_FRAME:
        raise DalyProtocolError(f"a 0x95 frame carries at most {CELLS_PER_FRAME} cells")
    return encode_fields(_CELL_FRAME, {"frame": frame} | {f"c{i}": mv for i, mv in enumerate(cells_mv)})


def encode_temperature_frame(frame: int, temperatures: Sequence[float | None]) -> bytes:
    """Encode one 0x96 frame from up to seven °C values; None (absent) goes out as raw 0."""
    if len(temperatures) > TEMPS_PER_FRAME:
        raise DalyProtocolError(f"a 0x96 frame carries at most {TEMPS_PER_FRAME} sensors")
    if any(t is not None and round(t) == -40 for t in temperatures):
        raise DalyProtocolError("-40 °C encodes as raw 0, which means 'no sensor'")
    raws = {f"t{i}": round(t) + 40 for i, t in enumerate(temperatures) if t is not None}
    return encode_fields(_TEMP_FRAME, {"frame": frame} | raws)


def encode_balancing(cells: Iterable[int]) -> bytes:
    """Encode 0x97 data from 1-based cell numbers (same low-confidence bit order as decoding)."""
    bits = 0
    for cell in cells:
        if not 1 <= cell <= MAX_CELLS:
            raise DalyProtocolError(f"balancing cell {cell} outside 1..{MAX_CELLS}")
        bits |= 1 << (cell - 1)
    return bits.to_bytes(DATA_LEN, "little")


def encode_rated_capacity(rated_capacity: float, nominal_cell_voltage: float) -> bytes:
    """Encode 0x50 data from Ah and V."""
    values = {"rated_capacity": rated_capacity, "nominal_cell_voltage": nominal_cell_voltage}
    return encode_fields(RATED_CAPACITY, values)


def build_mosfet_command(host_address: int, charge: bool, on: bool) -> bytes:
    """Switch the charge (0xDA) or discharge (0xD9) MOSFET: d0 = 1 on / 0 off (daly.md §1.6)."""
    return build_frame(host_address, 0xDA if charge else 0xD9, bytes((int(on),)) + bytes(DATA_LEN - 1))


def build_set_soc_command(host_address: int, soc: float, when: datetime) -> bytes:
    """Set SOC (%) and the BMS clock with 0x21 (layout: mr-manuel / bms-to-inverter, daly.md §1.6)."""
    if not 0 <= soc <= 100:
        raise DalyProtocolError(f"SOC {soc} % outside 0..100")
    stamp = {"year": when.year, "month": when.month, "day": when.day}
    clock = {"hour": when.hour, "minute": when.minute, "second": when.second}
    return build_frame(host_address, 0x21, encode_fields(SET_SOC, {**stamp, **clock, "soc": soc}))


def decode_set_soc(data: bytes) -> float:
    """Return the SOC (%) a 0x21 request asks for; the BMS ignores the date (daly.md §1.6)."""
    return float(decode_fields(SET_SOC, data)["soc"])


def build_restart_command(host_address: int) -> bytes:
    """Restart the BMS with 0x00 (python-daly-bms, Daly2MQTT; answer undocumented, §1.6)."""
    return build_frame(host_address, 0x00)
