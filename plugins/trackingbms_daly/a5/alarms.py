"""The 0x98 failure/alarm bit table and its decoder and encoder (daly.md §1.4 0x98)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from hub.reading import Alarm, AlarmLevel
from trackingbms_daly.a5.framing import DATA_LEN
from trackingbms_daly.errors import DalyProtocolError

__all__ = ["FAILURE_BITS", "FailureBit", "decode_failures", "encode_failures"]


@dataclass(frozen=True, slots=True)
class FailureBit:
    """One 0x98 alarm bit."""

    byte: int
    bit: int
    code: str
    text: str
    level: AlarmLevel


def _levels(byte: int, bit: int, code: str, text: str) -> tuple[FailureBit, FailureBit]:
    # L1 and L2 sit on adjacent bits; L1 = warning, L2 = alarm (mr-manuel maps L1->1, L2->2).
    return (
        FailureBit(byte, bit, code, text, AlarmLevel.WARNING),
        FailureBit(byte, bit + 1, code, text, AlarmLevel.ALARM),
    )


def _fault(byte: int, bit: int, code: str, text: str) -> tuple[FailureBit]:
    # MOS, AFE and other hardware faults have no level in [V1.2]; treat them as alarms.
    return (FailureBit(byte, bit, code, text, AlarmLevel.ALARM),)


# [V1.2] / [V1.0] failure bit table (daly.md §1.4 0x98); reserved bits are absent.
FAILURE_BITS: tuple[FailureBit, ...] = (
    *_levels(0, 0, "cell_voltage_high", "Cell voltage high"),
    *_levels(0, 2, "cell_voltage_low", "Cell voltage low"),
    *_levels(0, 4, "pack_voltage_high", "Total voltage high"),
    *_levels(0, 6, "pack_voltage_low", "Total voltage low"),
    *_levels(1, 0, "charge_temperature_high", "Charge temperature high"),
    *_levels(1, 2, "charge_temperature_low", "Charge temperature low"),
    *_levels(1, 4, "discharge_temperature_high", "Discharge temperature high"),
    *_levels(1, 6, "discharge_temperature_low", "Discharge temperature low"),
    *_levels(2, 0, "charge_overcurrent", "Charge overcurrent"),
    *_levels(2, 2, "discharge_overcurrent", "Discharge overcurrent"),
    *_levels(2, 4, "soc_high", "SOC high"),
    *_levels(2, 6, "soc_low", "SOC low"),
    *_levels(3, 0, "cell_voltage_difference", "Cell voltage difference high"),
    *_levels(3, 2, "temperature_difference", "Temperature difference high"),
    *_fault(4, 0, "charge_mos_temperature_high", "Charge MOS temperature high"),
    *_fault(4, 1, "discharge_mos_temperature_high", "Discharge MOS temperature high"),
    *_fault(4, 2, "charge_mos_temperature_sensor", "Charge MOS temperature sensor error"),
    *_fault(4, 3, "discharge_mos_temperature_sensor", "Discharge MOS temperature sensor error"),
    *_fault(4, 4, "charge_mos_adhesion", "Charge MOS stuck closed"),
    *_fault(4, 5, "discharge_mos_adhesion", "Discharge MOS stuck closed"),
    *_fault(4, 6, "charge_mos_open_circuit", "Charge MOS open circuit"),
    *_fault(4, 7, "discharge_mos_open_circuit", "Discharge MOS open circuit"),
    *_fault(5, 0, "afe_error", "AFE chip error"),
    *_fault(5, 1, "cell_voltage_collection_dropped", "Cell voltage collection dropped"),
    *_fault(5, 2, "cell_temperature_sensor", "Cell temperature sensor error"),
    *_fault(5, 3, "eeprom_error", "EEPROM error"),
    *_fault(5, 4, "rtc_error", "RTC error"),
    *_fault(5, 5, "precharge_failure", "Precharge failure"),
    *_fault(5, 6, "vehicle_communication", "Vehicle communication failure"),
    *_fault(5, 7, "internal_communication", "Internal communication failure"),
    *_fault(6, 0, "current_module_fault", "Current module fault"),
    *_fault(6, 1, "pack_voltage_detect_fault", "Total voltage detection fault"),
    *_fault(6, 2, "short_circuit_protect_fault", "Short-circuit protection fault"),
    *_fault(6, 3, "low_voltage_charge_forbidden", "Low voltage: charging forbidden"),
)
_FAULT_CODE_BYTE = 7
_FAULT_CODE_PREFIX = "fault_code_"


def decode_failures(data: bytes) -> tuple[Alarm, ...]:
    """Decode 0x98 into one Alarm per set bit, plus the d7 fault code when non-zero."""
    if len(data) != DATA_LEN:
        raise DalyProtocolError(f"A5 data must be {DATA_LEN} bytes, got {len(data)}")
    alarms = [Alarm(b.code, b.text, b.level) for b in FAILURE_BITS if data[b.byte] >> b.bit & 1]
    if code := data[_FAULT_CODE_BYTE]:
        alarms.append(Alarm(f"{_FAULT_CODE_PREFIX}{code}", f"BMS fault code {code}", AlarmLevel.ALARM))
    return tuple(alarms)


_BIT_BY_KEY = {(b.code, b.level): b for b in FAILURE_BITS}


def encode_failures(alarms: Iterable[Alarm]) -> bytes:
    """Encode 0x98 data from alarms keyed by (code, level), as decode_failures returns them."""
    out = bytearray(DATA_LEN)
    for alarm in alarms:
        if alarm.code.startswith(_FAULT_CODE_PREFIX):
            out[_FAULT_CODE_BYTE] = _fault_number(alarm.code)
        elif (bit := _BIT_BY_KEY.get((alarm.code, alarm.level))) is not None:
            out[bit.byte] |= 1 << bit.bit
        else:
            raise DalyProtocolError(f"no 0x98 bit for {alarm.code!r} at level {alarm.level}")
    return bytes(out)


def _fault_number(code: str) -> int:
    suffix = code.removeprefix(_FAULT_CODE_PREFIX)
    if not suffix.isdigit() or not 1 <= int(suffix) <= 0xFF:
        raise DalyProtocolError(f"{code!r} is not a fault code 1..255")
    return int(suffix)
