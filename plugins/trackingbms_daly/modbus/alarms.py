"""Fault registers of both Modbus-style families as alarm tables, decoded to hub Alarms (daly.md §3.2, §3.3)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from hub.reading import Alarm, AlarmLevel
from trackingbms_daly.a5.alarms import FAILURE_BITS
from trackingbms_daly.errors import DalyProtocolError

__all__ = [
    "D2_FAULT_BITS",
    "D2_FAULT_WORDS",
    "X81_FAULT_BITS",
    "X81_FAULT_WORDS",
    "X81_LEVELS",
    "FaultBit",
    "LevelField",
    "decode_d2_faults",
    "decode_x81_faults",
    "encode_d2_faults",
    "encode_x81_faults",
]

D2_FAULT_WORDS = 4  # registers 0x3A-0x3D
X81_FAULT_WORDS = 7  # registers 0x6D-0x73: fault codes 0-13
_LEVEL_MASK = 0b111


@dataclass(frozen=True, slots=True)
class FaultBit:
    """One alarm bit; ``byte`` counts the low byte of the first register as byte 0."""

    byte: int
    bit: int
    code: str
    text: str
    level: AlarmLevel


@dataclass(frozen=True, slots=True)
class LevelField:
    """A 3-bit alarm level 0-7 (0x81 family): 1 is a warning, 2 and up an alarm."""

    byte: int
    shift: int
    code: str
    text: str


# D2 fault registers: "Byte 0" of the Daly sheet is the LOW byte of 0x3A (syssi ERRORS[]). The
# groups are those of A5 0x98 bytes 0-6 in the same order (daly.md §3.2 vs §1.4), plus two bits
# the sheet adds to 0x3D's low byte.
D2_FAULT_BITS: tuple[FaultBit, ...] = (
    *(FaultBit(b.byte, b.bit, b.code, b.text, b.level) for b in FAILURE_BITS if b.byte <= 6),
    FaultBit(6, 4, "soft_switch_mos_off", "GPS / soft switch turned the MOS off", AlarmLevel.ALARM),
    FaultBit(6, 5, "charging_cabinet_offline", "Charging cabinet offline", AlarmLevel.WARNING),
)

# 0x81 fault codes 0-13, byte k = code k; register 0x6D + j holds code 2j in its low byte
# (patagonaa DalyHkmsStatus, daly.md §3.3). Informational bits (charger present, fan on) are not alarms.
X81_LEVELS: tuple[LevelField, ...] = (
    LevelField(0, 0, "cell_voltage_high", "Cell voltage high"),
    LevelField(0, 3, "cell_voltage_low", "Cell voltage low"),
    LevelField(1, 0, "cell_voltage_difference", "Cell voltage difference high"),
    LevelField(1, 3, "charge_temperature_high", "Charge temperature high"),
    LevelField(2, 0, "charge_temperature_low", "Charge temperature low"),
    LevelField(2, 3, "discharge_temperature_high", "Discharge temperature high"),
    LevelField(3, 0, "discharge_temperature_low", "Discharge temperature low"),
    LevelField(3, 3, "temperature_difference", "Temperature difference high"),
    LevelField(4, 0, "pack_voltage_high", "Total voltage high"),
    LevelField(4, 3, "pack_voltage_low", "Total voltage low"),
    LevelField(5, 0, "charge_overcurrent", "Charge overcurrent"),
    LevelField(5, 3, "discharge_overcurrent", "Discharge overcurrent"),
    LevelField(6, 0, "soc_low", "SOC low"),
    LevelField(6, 3, "soh_low", "SOH low"),
    LevelField(7, 0, "mos_temperature_high", "MOS temperature high"),
    LevelField(7, 3, "thermal_runaway", "Thermal runaway"),
)


def _err(byte: int, bit: int, code: str, text: str) -> FaultBit:
    return FaultBit(byte, bit, code, text, AlarmLevel.ALARM)


X81_FAULT_BITS: tuple[FaultBit, ...] = (
    _err(0, 7, "smart_charger_connection", "Smart charger connection failed"),
    _err(1, 7, "smart_discharger_connection", "Smart discharger connection failed"),
    _err(2, 6, "charge_mos_temperature_high", "Charge MOS temperature high"),
    _err(2, 7, "charge_mos_temperature_sensor", "Charge MOS temperature sensor error"),
    _err(3, 6, "discharge_mos_temperature_high", "Discharge MOS temperature high"),
    _err(3, 7, "discharge_mos_temperature_sensor", "Discharge MOS temperature sensor error"),
    _err(4, 6, "short_circuit", "Short circuit"),
    _err(5, 6, "charge_undervoltage", "Charge undervoltage error"),
    _err(5, 7, "discharge_overvoltage", "Discharge overvoltage error"),
    # Set on the single ESS-DL-BMS of the dump, so a warning rather than an alarm.
    FaultBit(6, 7, "parallel_communication", "Parallel communication error", AlarmLevel.WARNING),
    _err(11, 0, "afe_error", "AFE chip error"),
    _err(11, 1, "afe_communication", "AFE communication error"),
    _err(11, 2, "afe_sampling", "AFE sampling error"),
    _err(11, 3, "cell_voltage_detect", "Cell voltage detection error"),
    _err(11, 4, "cell_voltage_collection_dropped", "Cell voltage wire disconnected"),
    _err(11, 5, "pack_voltage_detect_fault", "Total voltage detection error"),
    _err(11, 6, "current_module_fault", "Current detection error"),
    _err(11, 7, "cell_temperature_sensor", "Temperature detection error"),
    _err(12, 0, "temperature_sensor_disconnected", "Temperature sensor disconnected"),
    _err(12, 1, "eeprom_error", "EEPROM error"),
    _err(12, 2, "flash_error", "Flash error"),
    _err(12, 3, "rtc_error", "RTC error"),
    _err(12, 4, "charge_mos_fault", "Charge MOS fault"),
    _err(12, 5, "discharge_mos_fault", "Discharge MOS fault"),
    _err(12, 6, "precharge_mos_fault", "Precharge MOS fault"),
    _err(12, 7, "precharge_failure", "Precharge failure"),
    _err(13, 7, "heating_fault", "Heating fault"),
)


def _bytes(words: Sequence[int | None], count: int) -> bytes:
    if len(words) != count or any(w is None for w in words):
        raise DalyProtocolError(f"expected {count} fault registers, got {list(words)}")
    return b"".join(int(w or 0).to_bytes(2, "little") for w in words)


def _words(data: bytes | bytearray) -> list[int]:
    return [int.from_bytes(data[i : i + 2], "little") for i in range(0, len(data), 2)]


def _bit_alarms(data: bytes, table: Iterable[FaultBit]) -> list[Alarm]:
    return [Alarm(b.code, b.text, b.level) for b in table if data[b.byte] >> b.bit & 1]


def decode_d2_faults(words: Sequence[int | None]) -> tuple[Alarm, ...]:
    """Alarms of D2 registers 0x3A-0x3D; L1 bits are warnings, L2 bits alarms."""
    return tuple(_bit_alarms(_bytes(words, D2_FAULT_WORDS), D2_FAULT_BITS))


def decode_x81_faults(words: Sequence[int | None]) -> tuple[Alarm, ...]:
    """Alarms of 0x81 registers 0x6D-0x73: level fields first, then error bits."""
    data = _bytes(words, X81_FAULT_WORDS)
    alarms = []
    for f in X81_LEVELS:
        level = data[f.byte] >> f.shift & _LEVEL_MASK
        if level:
            alarms.append(Alarm(f.code, f.text, AlarmLevel.WARNING if level == 1 else AlarmLevel.ALARM))
    return tuple(alarms + _bit_alarms(data, X81_FAULT_BITS))


def _set_bit(out: bytearray, table: Iterable[FaultBit], alarm: Alarm) -> bool:
    for b in table:
        if (b.code, b.level) == (alarm.code, alarm.level):
            out[b.byte] |= 1 << b.bit
            return True
    return False


def encode_d2_faults(alarms: Iterable[Alarm]) -> list[int]:
    """Register values 0x3A-0x3D for alarms keyed by (code, level), as decode_d2_faults returns them."""
    out = bytearray(2 * D2_FAULT_WORDS)
    for alarm in alarms:
        if not _set_bit(out, D2_FAULT_BITS, alarm):
            raise DalyProtocolError(f"no D2 fault bit for {alarm.code!r} at level {alarm.level}")
    return _words(out)


def encode_x81_faults(alarms: Iterable[Alarm]) -> list[int]:
    """Register values 0x6D-0x73: a warning sets level 1, an alarm level 2."""
    out = bytearray(2 * X81_FAULT_WORDS)
    levels = {f.code: f for f in X81_LEVELS}
    for alarm in alarms:
        if (f := levels.get(alarm.code)) is not None:
            level = 1 if alarm.level is AlarmLevel.WARNING else 2
            out[f.byte] = (out[f.byte] & ~(_LEVEL_MASK << f.shift)) | level << f.shift
        elif not _set_bit(out, X81_FAULT_BITS, alarm):
            raise DalyProtocolError(f"no 0x81 fault code for {alarm.code!r} at level {alarm.level}")
    return _words(out)
