"""Register tables and status decoders of the D2 and 0x81/0x51 families against captured answers."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from trackingbms_daly.errors import DalyProtocolError
from trackingbms_daly.modbus import d2, x81
from trackingbms_daly.modbus.alarms import (
    D2_FAULT_BITS,
    X81_FAULT_BITS,
    X81_LEVELS,
    decode_d2_faults,
    decode_x81_faults,
    encode_d2_faults,
    encode_x81_faults,
)
from trackingbms_daly.modbus.framing import ModbusFrame
from trackingbms_daly.modbus.registers import Register, decode_table, registers_from
from trackingbms_daly.modbus.status import ModbusStatus

from hub.reading import Alarm, AlarmLevel
from tests.plugins.trackingbms_daly.modbus.modbus_vectors import (
    BLUE_80,
    BLUE_SOURCE,
    ESS_RT1,
    ESS_RT2,
    ESS_SOURCE,
    ESS_VERSION,
    GOOD,
    entry_id,
    raw,
)

_STATES = {"stationary": 0, "charging": 1, "discharging": 2}


def _answer(entry: dict[str, Any]) -> tuple[int, ...]:
    return ModbusFrame.parse(raw(entry)).registers()


def _with(key: str) -> list[dict[str, Any]]:
    return [e for e in GOOD if e["direction"] == "response" and key in e["decoded"]]


def _regs(hex_text: str, start: int) -> dict[int, int]:
    return registers_from(start, ModbusFrame.parse(bytes.fromhex(hex_text)).registers())


# --- D2 fixtures ------------------------------------------------------------------------------


@pytest.mark.parametrize("entry", _with("cell_mV"), ids=entry_id)
def test_d2_status_fixture_decodes_to_its_values(entry: dict[str, Any]) -> None:
    want = entry["decoded"]
    regs = registers_from(0, _answer(entry))
    status = d2.decode_status(regs)
    table = decode_table(d2.STATUS, regs)
    assert list(status.cells_mv) == want["cell_mV"], entry["source"]
    assert list(status.temperatures) == want["temps_C"], entry["source"]
    assert status.voltage == want["total_voltage_V"]
    assert status.current == want["current_A_(raw-30000)/10"]
    assert status.soc == want["soc_pct"]
    assert status.remaining_capacity_ah == want["remaining_capacity_Ah"]
    assert status.cycles == want["cycles"]
    assert status.state == _STATES[want["status"]]
    assert status.charge_mos is bool(want["charge_mos"])
    assert status.discharge_mos is bool(want["discharge_mos"])
    assert status.balancer_active is bool(want["balance_state"])
    assert status.power == want["power_W_unsigned"]
    assert (table["max_cell_mv"], table["min_cell_mv"]) == (want["max_cell_mV"], want["min_cell_mV"])
    assert (table["max_temperature"], table["min_temperature"]) == (want["max_temp_C"], want["min_temp_C"])
    assert (table["average_cell_mv"], table["delta_cell_mv"]) == (want["avg_cell_mV"], want["delta_cell_mV"])
    assert [f"0x{regs[0x3A + i]:04X}" for i in range(4)] == want["fault_regs_0x3A_0x3D"]
    assert status.alarms == ()
    assert status.mos_temperature is None  # not part of a 62-register read


def _settings_register(key: str) -> Register:
    address = int(key.rsplit("_0x", 1)[1], 16)
    return next(r for r in d2.SETTINGS if r.address == address)


@pytest.mark.parametrize("entry", _with("rated_capacity_Ah_0x80"), ids=entry_id)
def test_d2_settings_fixture_decodes_to_its_values(entry: dict[str, Any]) -> None:
    values = decode_table(d2.SETTINGS, registers_from(d2.SETTINGS_BLOCK.start, _answer(entry)))
    keys = [k for k in entry["decoded"] if "_0x" in k]
    assert len(keys) > 15
    for key in keys:
        assert values[_settings_register(key).name] == entry["decoded"][key], (key, entry["source"])


@pytest.mark.parametrize("entry", _with("ascii_fields"), ids=entry_id)
def test_d2_text_fixture_decodes_to_its_strings(entry: dict[str, Any]) -> None:
    values = _answer(entry)
    start = d2.VERSION_BLOCK.start if len(values) == d2.VERSION_BLOCK.count else 0xC9  # else the password
    texts = [v for v in decode_table(d2.INFO, registers_from(start, values)).values() if isinstance(v, str) and v]
    assert texts == entry["decoded"]["ascii_fields"], entry["source"]


@pytest.mark.parametrize("entry", _with("regs_0x3E_0x46"), ids=entry_id)
def test_d2_mos_block_fixture(entry: dict[str, Any]) -> None:
    want = entry["decoded"]
    regs = registers_from(d2.MOS_BLOCK.start, _answer(entry))
    assert [f"0x{regs[a]:04X}" for a in range(0x3E, 0x47)] == want["regs_0x3E_0x46"], entry["source"]
    values = decode_table(d2.STATUS, regs)
    assert values["mos_temperature"] == want["reg0x42_mos_temp_C"]
    assert values["board_temperature"] == want["reg0x43_board_temp_C"]
    assert values["balance_current"] == want["reg0x40_balance_current_A"]
    # aiobmsble's auto-disable rule: 0x0000/0xFFFF at 0x42 means no sensor.
    assert d2.mos_temperature_usable(regs) is (want["reg0x42_mos_temp_C"] is not None)


def test_d2_eighty_register_status() -> None:
    status = d2.decode_status(_regs(BLUE_80, 0))  # BLUE_SOURCE
    assert len(status.cells_mv) == 16 and status.cells_mv[:3] == (3281, 3282, 3283), BLUE_SOURCE
    assert status.temperatures == (13, 13, 13, 13)
    assert (status.voltage, status.current, status.soc) == (52.5, -2.5, 56.1)
    assert status.state == 2  # discharging with raw < 30000: charge-positive (daly.md §1.8)
    assert (status.remaining_capacity_ah, status.cycles) == (117.8, 60)
    assert status.mos_temperature == 15 and status.board_temperature is None
    assert status.balancing == ()


# --- 0x81/0x51 --------------------------------------------------------------------------------


def test_x81_realtime_blocks_decode() -> None:
    regs = _regs(ESS_RT1, x81.RT1.start) | _regs(ESS_RT2, x81.RT2.start)
    status = x81.decode_status(regs)
    cells = (3316, 3312, 3315, 3314, 3315, 3313, 3315, 3315, 3312, 3315, 3315, 3316, 3315, 3315, 3315, 3317)
    assert status.cells_mv == cells, ESS_SOURCE
    assert status.temperatures == (22, 22, 22, 22)
    assert (status.voltage, status.current, status.soc) == (53.0, -8.9, 86.4)
    assert status.state == 2
    assert (status.remaining_capacity_ah, status.cycles) == (271.2, 7)
    assert status.charge_mos and status.discharge_mos
    assert (status.mos_temperature, status.board_temperature, status.power) == (24, 30, 471)
    values = decode_table(x81.REALTIME, regs)
    assert values["heartbeat"] == 0xB6
    assert values["temperature_5"] is None  # 0x00FF: sensor absent (daly.md §3.3)
    assert values["heater_temperature"] is None
    # 0x70 = 0x0080: code 6 bit 7 (parallel communication) per the DalyHkmsStatus layout.
    assert status.alarms == (Alarm("parallel_communication", "Parallel communication error", AlarmLevel.WARNING),)


def test_x81_status_needs_both_blocks() -> None:
    with pytest.raises(DalyProtocolError, match="rt2"):
        x81.decode_status(_regs(ESS_RT1, 0))


def test_x81_version_block() -> None:
    values = decode_table(x81.VERSION, _regs(ESS_VERSION, x81.VERSION_BLOCK.start))
    assert values == {
        "software_version": "41_260321_0323ESS-DL-BMS",
        "hardware_version": "ESS41_0323",
        "serial_number": "210LC210900005",
        "production_date": "20260326",
    }, ESS_SOURCE


# --- alarms -----------------------------------------------------------------------------------


def test_d2_fault_byte_order() -> None:
    # "Byte 0" of the sheet is the low byte of 0x3A (daly.md §3.2).
    assert decode_d2_faults([0x0001, 0, 0, 0])[0].code == "cell_voltage_high"
    assert decode_d2_faults([0x0002, 0, 0, 0])[0].level is AlarmLevel.ALARM
    assert decode_d2_faults([0x0100, 0, 0, 0])[0].code == "charge_temperature_high"
    assert decode_d2_faults([0, 0, 0, 0x0004])[0].code == "short_circuit_protect_fault"


def test_x81_levels() -> None:
    assert decode_x81_faults([0x0001, 0, 0, 0, 0, 0, 0])[0] == Alarm("cell_voltage_high", "Cell voltage high")
    assert decode_x81_faults([0x0010, 0, 0, 0, 0, 0, 0])[0].level is AlarmLevel.ALARM  # cell UV level 2
    assert decode_x81_faults([0x0800, 0, 0, 0, 0, 0, 0])[0].code == "charge_temperature_high"  # code 1 bits 3-5
    assert decode_x81_faults([0, 0, 0, 0, 0, 0x0100, 0])[0].code == "afe_error"  # code 11 bit 0
    assert decode_x81_faults([0, 0, 0, 0, 0, 0, 0x0001])[0].code == "temperature_sensor_disconnected"  # code 12


@pytest.mark.parametrize("bit", D2_FAULT_BITS, ids=lambda b: f"{b.code}-{b.level}")
def test_each_d2_fault_bit_round_trips(bit: Any) -> None:
    alarm = Alarm(bit.code, bit.text, bit.level)
    assert decode_d2_faults(encode_d2_faults([alarm])) == (alarm,)


@pytest.mark.parametrize("level", [AlarmLevel.WARNING, AlarmLevel.ALARM])
def test_each_x81_fault_round_trips(level: AlarmLevel) -> None:
    for field in X81_LEVELS:
        alarm = Alarm(field.code, field.text, level)
        assert decode_x81_faults(encode_x81_faults([alarm])) == (alarm,)
    for bit in X81_FAULT_BITS:
        alarm = Alarm(bit.code, bit.text, bit.level)
        assert decode_x81_faults(encode_x81_faults([alarm])) == (alarm,)


def test_unknown_alarm_cannot_be_encoded() -> None:
    with pytest.raises(DalyProtocolError):
        encode_d2_faults([Alarm("nonsense", "x")])
    with pytest.raises(DalyProtocolError):
        encode_x81_faults([Alarm("nonsense", "x")])


# --- encoders and robustness ------------------------------------------------------------------


def test_register_encoding_refuses_what_does_not_fit() -> None:
    temperature = next(r for r in d2.STATUS if r.name == "temperature_1")
    with pytest.raises(DalyProtocolError):
        temperature.encode(-40)  # raw 0 means "no sensor"
    with pytest.raises(DalyProtocolError):
        temperature.encode(215)  # raw 0xFF likewise
    voltage = next(r for r in d2.STATUS if r.name == "voltage")
    with pytest.raises(DalyProtocolError):
        voltage.encode(7000.0)
    assert temperature.encode(None) == (0,)


def _statuses(max_cells: int) -> st.SearchStrategy[ModbusStatus]:
    temps = st.lists(st.one_of(st.none(), st.integers(-39, 214)), max_size=8)
    return st.builds(
        ModbusStatus,
        cells_mv=st.lists(st.integers(1000, 4500), min_size=1, max_size=max_cells).map(tuple),
        temperatures=temps.map(tuple),
        voltage=st.integers(0, 2000).map(lambda v: v / 10),
        current=st.integers(-3000, 3000).map(lambda v: v / 10),
        soc=st.integers(0, 1000).map(lambda v: v / 10),
        state=st.integers(0, 2),
        remaining_capacity_ah=st.integers(0, 6000).map(lambda v: v / 10),
        cycles=st.integers(0, 9999),
        charge_mos=st.booleans(),
        discharge_mos=st.booleans(),
        balancer_active=st.booleans(),
        mos_temperature=st.one_of(st.none(), st.integers(-39, 214)),
        power=st.integers(0, 60000),
    )


@settings(max_examples=100, deadline=None)
@given(_statuses(d2.MAX_CELLS), st.data())
def test_d2_status_round_trips(status: ModbusStatus, data: st.DataObject) -> None:
    balancing = tuple(sorted(data.draw(st.sets(st.integers(1, len(status.cells_mv))))))
    status = ModbusStatus(**{**_fields(status), "balancing": balancing})
    assert d2.decode_status(d2.encode_status(status)) == status
    short = d2.decode_status(d2.encode_status(status, d2.STATUS_62.count))
    assert short == ModbusStatus(**{**_fields(status), "balancing": (), "mos_temperature": None})


@settings(max_examples=100, deadline=None)
@given(_statuses(x81.MAX_CELLS), st.data())
def test_x81_status_round_trips(status: ModbusStatus, data: st.DataObject) -> None:
    balancing = tuple(sorted(data.draw(st.sets(st.integers(1, len(status.cells_mv))))))
    status = ModbusStatus(**{**_fields(status), "balancing": balancing})
    assert x81.decode_status(x81.encode_status(status)) == status


def _fields(status: ModbusStatus) -> dict[str, Any]:
    return {name: getattr(status, name) for name in ModbusStatus.__dataclass_fields__}


@settings(max_examples=200, deadline=None)
@given(st.lists(st.integers(0, 0xFFFF), min_size=130, max_size=130))
def test_decoders_raise_nothing_but_the_protocol_error(words: list[int]) -> None:
    regs = registers_from(0, words)
    for decode in (d2.decode_status, x81.decode_status):
        try:
            status = decode(regs)
        except DalyProtocolError:
            continue
        assert 1 <= len(status.cells_mv) <= 48 and 0 <= status.soc <= 100
