"""Tests for the A5 field-table codec: golden captures, round trips and write commands."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from trackingbms_daly.a5 import codec
from trackingbms_daly.a5.describe import decode_frame
from trackingbms_daly.a5.framing import A5Frame, build_frame
from trackingbms_daly.errors import DalyProtocolError

from hub.reading import Alarm, AlarmLevel

FIXTURES = json.loads((Path(__file__).parents[2] / "fixtures/daly/frames.json").read_text())
A5_GOOD = [e for e in FIXTURES if e["frame_format"] == "a5" and e["checksum_ok"] is True]
RESPONSES = [e for e in A5_GOOD if e["direction"] == "response"]
REQUESTS = [e for e in A5_GOOD if e["direction"] == "request"]
STATES = {"stationary": 0, "charging": 1, "discharging": 2}


def _id(entry: dict[str, Any]) -> str:
    return f"{entry['hex'][:14]}|{entry['source'][:60]}"


def _data(entry: dict[str, Any]) -> bytes:
    return A5Frame.parse(bytes.fromhex(entry["hex"])).data


def _by_source(fragment: str, data_id: str) -> list[dict[str, Any]]:
    return [e for e in RESPONSES if fragment in e["source"] and e["decoded"]["data_id"] == data_id]


def _fields(data: bytes, data_id: int) -> dict[str, Any]:
    described = decode_frame(A5Frame(0x01, data_id, data))
    fields = described["fields"]
    assert isinstance(fields, dict)
    return {k: v["value"] for k, v in fields.items()}


# How each fixture key maps to what our decoders return (the corpus names differ per id).
def _pack_status(d: bytes) -> dict[str, Any]:
    s = codec.decode_pack_status(d)
    return {
        "total_voltage_V": s.voltage,
        "acquired_voltage_V": s.acquired_voltage,
        "current_raw": s.current_raw,
        "current_A_(raw-30000)/10": s.current,
        "soc_pct": s.soc,
    }


def _cell_extremes(d: bytes) -> dict[str, Any]:
    s = codec.decode_cell_extremes(d)
    return {
        "max_cell_mV": s.max_mv,
        "max_cell_no": s.max_cell,
        "min_cell_mV": s.min_mv,
        "min_cell_no": s.min_cell,
    }


def _temp_extremes(d: bytes) -> dict[str, Any]:
    s = codec.decode_temperature_extremes(d)
    return {
        "max_temp_C": s.max_c,
        "max_temp_sensor": s.max_sensor,
        "min_temp_C": s.min_c,
        "min_temp_sensor": s.min_sensor,
    }


def _mosfet(d: bytes) -> dict[str, Any]:
    s = codec.decode_mosfet_status(d)
    return {
        "state": s.state,
        "charge_mos": s.charge_mos,
        "discharge_mos": s.discharge_mos,
        "bms_life_or_heartbeat": s.heartbeat,
        "remaining_capacity_mAh": s.remaining_capacity_mah,
    }


def _status(d: bytes) -> dict[str, Any]:
    s = codec.decode_status_info(d)
    bits = [*s.digital_inputs, *s.digital_outputs]
    return {
        "cell_count": s.cell_count,
        "temp_sensor_count": s.temperature_count,
        "charger_connected": s.charger_connected,
        "load_connected": s.load_connected,
        "dio_bits": sum(1 << i for i, on in enumerate(bits) if on),
        "cycles": s.cycles,
    }


def _cells(d: bytes) -> dict[str, Any]:
    number, mv = codec.decode_cell_frame(d)
    return {"frame_no": number, "cell_mV": list(mv)}


def _temps(d: bytes) -> dict[str, Any]:
    number, raws = codec.decode_temperature_frame(d)
    celsius = list(codec.assemble_temperatures({1: raws}, 7))
    return {"frame_no": number, "temps_raw": list(raws), "temps_C_(raw-40; raw 0 = slot unused)": celsius}


DECODED: dict[str, Callable[[bytes], dict[str, Any]]] = {
    "0x90": _pack_status,
    "0x91": _cell_extremes,
    "0x92": _temp_extremes,
    "0x93": _mosfet,
    "0x94": _status,
    "0x95": _cells,
    "0x96": _temps,
    "0x63": lambda d: {"frame_no": _fields(d, 0x63)["frame"], "ascii": _fields(d, 0x63)["text"]},
    "0xD9": lambda d: {"byte0_state_echo": int(_fields(d, 0xD9)["on"]), "raw": d.hex(" ").upper()},
    "0xDA": lambda d: {"byte0_state_echo": int(_fields(d, 0xDA)["on"]), "raw": d.hex(" ").upper()},
}
NORMALISE: dict[str, Callable[[Any], Any]] = {
    "state": lambda v: STATES[v] if isinstance(v, str) else v,
    "dio_bits": lambda v: int(v, 2),
}


@pytest.mark.parametrize("entry", RESPONSES, ids=_id)
def test_fixture_response_decodes_to_the_listed_values(entry: dict[str, Any]) -> None:
    expected = entry["decoded"]
    decoder = DECODED.get(expected["data_id"])
    assert decoder is not None, f"no decoder mapped for {expected['data_id']} ({entry['source']})"
    got = decoder(_data(entry))
    compared = 0
    for key, value in got.items():
        if key in expected:
            want = NORMALISE.get(key, lambda v: v)(expected[key])
            assert value == pytest.approx(want), f"{key} of {entry['hex']} from {entry['source']}"
            compared += 1
    assert compared >= 2, entry["source"]


@pytest.mark.parametrize("entry", A5_GOOD, ids=_id)
def test_decode_frame_describes_every_fixture(entry: dict[str, Any]) -> None:
    described = decode_frame(A5Frame.parse(bytes.fromhex(entry["hex"])))
    json.dumps(described)  # the CLI prints it as JSON
    assert described["family"] == "a5"
    assert described["direction"] == entry["direction"], entry["source"]
    assert described["data_id"] == entry["decoded"]["data_id"]
    assert "error" not in described, entry["source"]
    if entry["direction"] == "request":
        assert described["fields"] == {}
    else:
        assert described["address"] == entry["decoded"].get("address", "0x01")
        assert described["fields"], entry["source"]


def test_decode_frame_reports_unknown_ids_and_bad_values_without_raising() -> None:
    unknown = decode_frame(A5Frame(0x01, 0x57, bytes(8)))
    assert (unknown["command"], unknown["fields"]) == ("unknown", {})
    assert unknown["data"] == "00 00 00 00 00 00 00 00"
    broken = decode_frame(A5Frame(0x01, 0x90, bytes(8)))
    assert broken["fields"] == {}
    assert "no data" in str(broken["error"])


def test_assemble_louisvdw_160_cells() -> None:
    # https://github.com/Louisvdw/dbus-serialbattery/issues/160: 6 frames for a 16S pack.
    entries = _by_source("dbus-serialbattery/issues/160", "0x95")
    frames = dict(codec.decode_cell_frame(_data(e)) for e in entries)
    cells = codec.assemble_cells(frames, 16)
    expected = [mv / 1000 for e in entries for mv in e["decoded"]["cell_mV"]][:16]
    assert cells == pytest.approx(expected)
    assert len(cells) == 16


def test_assemble_ignores_the_extra_frames_of_a_16_frame_burst() -> None:
    # mpp-solar test response: all 16 frames sent for 16 cells (daly.md §1.4 0x95).
    entries = _by_source("mpp-solar:mppsolar", "0x95")
    frames = dict(codec.decode_cell_frame(_data(e)) for e in reversed(entries))
    expected = [mv / 1000 for e in entries for mv in e["decoded"]["cell_mV"]][:16]
    assert codec.assemble_cells(frames, 16) == pytest.approx(expected)


def test_assemble_truncates_garbage_slots_and_reports_missing_frames() -> None:
    frames = {1: (3300, 3301, 3302), 2: (3303, 3142, 3142)}  # cells 5/6 garbage on a 4S pack
    assert codec.assemble_cells(frames, 4) == (3.3, 3.301, 3.302, 3.303)
    with pytest.raises(DalyProtocolError, match=r"\[2\]"):
        codec.assemble_cells({1: (1, 2, 3)}, 4)
    # Louisvdw #165 lost frame 5: assembling 16 cells must fail, not shift cells.
    got = dict(codec.decode_cell_frame(_data(e)) for e in _by_source("issues/165", "0x95"))
    with pytest.raises(DalyProtocolError):
        codec.assemble_cells(got, 16)


def test_assemble_temperatures_from_the_two_frame_answer_with_one_sensor() -> None:
    entries = _by_source("mpp-solar:mppsolar", "0x96")
    frames = dict(codec.decode_temperature_frame(_data(e)) for e in entries)
    expected = entries[0]["decoded"]["temps_C_(raw-40; raw 0 = slot unused)"][:1]
    assert codec.assemble_temperatures(frames, 1) == tuple(expected)
    assert codec.assemble_temperatures(frames, 9) == (*expected, *[None] * 8)
    assert codec.assemble_temperatures({}, 0) == ()


@pytest.mark.parametrize(
    ("hexdata", "match"),
    [("02 1C 00 00 00 00 02 86", "no data"), ("02 1C 00 00 75 30 03 E9", "above 100")],
)
def test_pack_status_rejects_field_invalid_values(hexdata: str, match: str) -> None:
    with pytest.raises(DalyProtocolError, match=match):
        codec.decode_pack_status(bytes.fromhex(hexdata))


@pytest.mark.parametrize("count", [0, 49, 255])
def test_status_info_rejects_impossible_cell_counts(count: int) -> None:
    with pytest.raises(DalyProtocolError):
        codec.decode_status_info(bytes([count, 1, 0, 0, 0, 0, 0, 0]))


@pytest.mark.parametrize("number", [0, 17, 0xFF])
def test_frame_numbers_outside_1_to_16_are_rejected(number: int) -> None:
    with pytest.raises(DalyProtocolError):
        codec.decode_cell_frame(bytes([number, 0, 0, 0, 0, 0, 0, 0]))
    with pytest.raises(DalyProtocolError):
        codec.decode_temperature_frame(bytes([number, 0, 0, 0, 0, 0, 0, 0]))


# --- round trips -------------------------------------------------------------------------------

_TENTHS = st.integers(0, 65535).map(lambda r: r / 10)
_U8 = st.integers(0, 255)
_U16 = st.integers(0, 65535)


@given(
    voltage=_TENTHS,
    acquired=_TENTHS,
    raw=st.integers(1, 65535),
    soc=st.integers(0, 1000).map(lambda r: r / 10),
)
def test_round_trip_pack_status(voltage: float, acquired: float, raw: int, soc: float) -> None:
    data = codec.encode_pack_status(voltage=voltage, current_raw=raw, soc=soc, acquired_voltage=acquired)
    status = codec.decode_pack_status(data)
    assert (status.voltage, status.acquired_voltage, status.current_raw, status.soc) == (
        voltage,
        acquired,
        raw,
        soc,
    )
    assert status.current == pytest.approx((raw - 30000) / 10)


@given(amps=st.integers(-29999, 35535).map(lambda r: r / 10))
def test_encode_current_matches_the_decoded_current(amps: float) -> None:
    raw = codec.encode_current(amps)
    assert raw == round(amps * 10) + 30000
    assert codec.decode_pack_status(codec.encode_pack_status(50.0, raw, 50.0)).current == amps


@given(max_mv=_U16, max_cell=_U8, min_mv=_U16, min_cell=_U8)
def test_round_trip_cell_extremes(max_mv: int, max_cell: int, min_mv: int, min_cell: int) -> None:
    decoded = codec.decode_cell_extremes(codec.encode_cell_extremes(max_mv, max_cell, min_mv, min_cell))
    assert decoded == codec.CellExtremes(max_mv, max_cell, min_mv, min_cell)


@given(hi=st.integers(-40, 215), hs=_U8, lo=st.integers(-40, 215), ls=_U8)
def test_round_trip_temperature_extremes(hi: int, hs: int, lo: int, ls: int) -> None:
    decoded = codec.decode_temperature_extremes(codec.encode_temperature_extremes(hi, hs, lo, ls))
    assert decoded == codec.TemperatureExtremes(hi, hs, lo, ls)


@given(state=st.integers(0, 2), chg=st.booleans(), dsg=st.booleans(), beat=_U8, mah=st.integers(0, 2**32 - 1))
def test_round_trip_mosfet_status(state: int, chg: bool, dsg: bool, beat: int, mah: int) -> None:
    data = codec.encode_mosfet_status(state, chg, dsg, beat, mah)
    assert codec.decode_mosfet_status(data) == codec.MosfetStatus(state, chg, dsg, beat, mah)


_FOUR = st.tuples(st.booleans(), st.booleans(), st.booleans(), st.booleans())


@given(
    cells=st.integers(1, 48),
    temps=_U8,
    chg=st.booleans(),
    load=st.booleans(),
    di=_FOUR,
    do=_FOUR,
    cycles=_U16,
)
def test_round_trip_status_info(
    cells: int, temps: int, chg: bool, load: bool, di: tuple[bool, ...], do: tuple[bool, ...], cycles: int
) -> None:
    data = codec.encode_status_info(cells, temps, chg, load, di, do, cycles)
    assert codec.decode_status_info(data) == codec.StatusInfo(cells, temps, chg, load, di, do, cycles)


@given(number=st.integers(1, 16), mv=st.lists(_U16, min_size=0, max_size=3))
def test_round_trip_cell_frame(number: int, mv: list[int]) -> None:
    padded = (*mv, *[0] * (3 - len(mv)))
    assert codec.decode_cell_frame(codec.encode_cell_frame(number, mv)) == (number, padded)


@given(number=st.integers(1, 16), temps=st.lists(st.one_of(st.none(), st.integers(-39, 215)), max_size=7))
def test_round_trip_temperature_frame(number: int, temps: list[int | None]) -> None:
    got_number, raws = codec.decode_temperature_frame(codec.encode_temperature_frame(number, temps))
    assert got_number == number
    padded = [*temps, *[None] * (7 - len(temps))]
    assert list(codec.assemble_temperatures({1: raws}, 7)) == padded


@given(cells=st.frozensets(st.integers(1, 48)), count=st.integers(0, 64))
def test_round_trip_balancing(cells: frozenset[int], count: int) -> None:
    assert codec.decode_balancing(codec.encode_balancing(cells), count) == tuple(sorted(c for c in cells if c <= count))


def test_balancing_bit_order_is_d0_bit0_cell_1_and_d1_bit0_cell_9() -> None:
    # Cell 48 is d5 bit 7; d6-d7 (bits 48-63) are reserved ([V1.2]) and ignored.
    assert codec.decode_balancing(bytes([0x01, 0x01, 0, 0, 0, 0x80, 0xFF, 0xFF]), 64) == (1, 9, 48)


_ALARMS = st.frozensets(st.sampled_from([Alarm(b.code, b.text, b.level) for b in codec.FAILURE_BITS]))


@given(alarms=_ALARMS, fault=st.integers(0, 255))
def test_round_trip_failures(alarms: frozenset[Alarm], fault: int) -> None:
    extra = [Alarm(f"fault_code_{fault}", "", AlarmLevel.ALARM)] if fault else []
    data = codec.encode_failures([*alarms, *extra])
    decoded = codec.decode_failures(data)
    assert {(a.code, a.level) for a in decoded} == {(a.code, a.level) for a in [*alarms, *extra]}
    assert codec.encode_failures(decoded) == data


def test_failure_table_covers_every_documented_bit_once() -> None:
    # daly.md §1.4 0x98: d0-d2, d4, d5 fully used; d3 and d6 bits 4-7 reserved; d7 a number.
    positions = [(b.byte, b.bit) for b in codec.FAILURE_BITS]
    documented = [(byte, bit) for byte in range(7) for bit in range(8) if byte not in (3, 6) or bit < 4]
    assert sorted(positions) == documented
    assert len({(b.code, b.level) for b in codec.FAILURE_BITS}) == len(positions)
    for b in codec.FAILURE_BITS:  # L1 on even bits is a warning, L2 on odd bits an alarm
        want = (AlarmLevel.WARNING if b.bit % 2 == 0 else AlarmLevel.ALARM) if b.byte < 4 else AlarmLevel.ALARM
        assert b.level is want, b


def test_snpg_lab_soc_low_l2_and_the_fault_code_byte() -> None:
    # daly.md §1.4: A5 01 98 08 00 00 80 00 00 00 00 00 C6 = SOC low L2 (snpg-lab).
    frame = A5Frame.parse(bytes.fromhex("A5 01 98 08 00 00 80 00 00 00 00 00 C6"))
    assert codec.decode_failures(frame.data) == (Alarm("soc_low", "SOC low", AlarmLevel.ALARM),)
    (fault,) = codec.decode_failures(bytes([0, 0, 0, 0xF0, 0, 0, 0xF0, 7]))  # reserved bits ignored
    assert (fault.code, fault.level) == ("fault_code_7", AlarmLevel.ALARM)
    with pytest.raises(DalyProtocolError):
        codec.encode_failures([Alarm("soc_low", "", AlarmLevel.WARNING), Alarm("no_such_alarm", "")])
    with pytest.raises(DalyProtocolError):
        codec.encode_failures([Alarm("fault_code_256", "")])


def test_rated_capacity_of_the_bms_to_inverter_log() -> None:
    # https://github.com/ai-republic/bms-to-inverter/issues/6: 280000 mAh, 3200 mV.
    data = (280000).to_bytes(4, "big") + (3200).to_bytes(4, "big")
    assert codec.decode_rated_capacity(data) == (280.0, 3.2)
    assert codec.encode_rated_capacity(280.0, 3.2) == data


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda: codec.encode_cell_frame(1, [1, 2, 3, 4]), "at most"),
        (lambda: codec.encode_temperature_frame(1, [0.0] * 8), "at most"),
        (lambda: codec.encode_temperature_frame(1, [-40.0]), "no sensor"),
        (lambda: codec.encode_cell_extremes(70000, 1, 0, 1), "fit"),
        (lambda: codec.encode_pack_status(float("nan"), 30000, 50), "fit"),
        (lambda: codec.encode_balancing([49]), "outside"),
        (lambda: codec.encode_status_info(4, 1, digital_inputs=[True] * 5), "at most"),
    ],
)
def test_encoders_raise_protocol_errors_for_unencodable_values(call: Callable[[], object], match: str) -> None:
    with pytest.raises(DalyProtocolError, match=match):
        call()


_DECODERS: list[Callable[[bytes], object]] = [
    codec.decode_pack_status,
    codec.decode_cell_extremes,
    codec.decode_temperature_extremes,
    codec.decode_mosfet_status,
    codec.decode_status_info,
    codec.decode_cell_frame,
    codec.decode_temperature_frame,
    codec.decode_failures,
    codec.decode_rated_capacity,
    codec.decode_set_soc,
    lambda d: codec.decode_balancing(d, 48),
]


@given(data=st.one_of(st.binary(min_size=8, max_size=8), st.binary(max_size=12)))
def test_decoders_raise_only_protocol_errors(data: bytes) -> None:
    for decode in _DECODERS:
        with contextlib.suppress(DalyProtocolError):
            decode(data)
    if len(data) == 8:
        for data_id in [*codec.COMMAND_NAMES, 0x57]:
            decode_frame(A5Frame(0x01, data_id, data))
            decode_frame(A5Frame(0x40, data_id, data))


# --- write commands ----------------------------------------------------------------------------


def _request(fragment: str, data_id: str, d0: int) -> bytes:
    entry = next(
        e for e in REQUESTS if fragment in e["source"] and e["decoded"]["data_id"] == data_id and _data(e)[0] == d0
    )
    return bytes.fromhex(entry["hex"])


@pytest.mark.parametrize("on", [True, False])
def test_discharge_mos_command_matches_the_sniffed_pc_software(on: bool) -> None:
    # https://github.com/dreadnought/python-daly-bms/issues/3 (BMS Monitor sniff).
    assert codec.build_mosfet_command(0x40, charge=False, on=on) == _request("python-daly-bms/issues/3", "0xD9", on)


def test_charge_mos_command_uses_0xda() -> None:
    frame = A5Frame.parse(codec.build_mosfet_command(0x80, charge=True, on=True))
    assert (frame.address, frame.data_id, frame.data) == (0x80, 0xDA, bytes([1, 0, 0, 0, 0, 0, 0, 0]))


def test_set_soc_command_layout() -> None:
    raw = codec.build_set_soc_command(0x40, 87.5, datetime(2024, 5, 17, 13, 45, 9))
    frame = A5Frame.parse(raw)
    assert (frame.address, frame.data_id) == (0x40, 0x21)
    assert frame.data == bytes([24, 5, 17, 13, 45, 9, 0x03, 0x6B])  # 875 = 0x036B
    assert codec.decode_set_soc(frame.data) == 87.5


@pytest.mark.parametrize("soc", [-0.1, 100.1, float("nan")])
def test_set_soc_command_range_check(soc: float) -> None:
    with pytest.raises(DalyProtocolError):
        codec.build_set_soc_command(0x40, soc, datetime(2024, 1, 1))


def test_restart_command() -> None:
    assert codec.build_restart_command(0x40) == build_frame(0x40, 0x00)
    assert codec.COMMAND_NAMES[0x00] == "restart"
