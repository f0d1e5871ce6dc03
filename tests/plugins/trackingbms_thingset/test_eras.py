"""Firmware eras: each era's names, their detection, the 0x72 reuse, and real captures made into readings."""

from __future__ import annotations

import json
from typing import Any

import pytest
from trackingbms_thingset.eras import ERAS, detect_era, era_for_can_reports, get_era
from trackingbms_thingset.errors import ThingSetError
from trackingbms_thingset.framing import decode_line
from trackingbms_thingset.objects import CanReports, Kind
from trackingbms_thingset.text import TextReport, TextResponse, parse_message
from trackingbms_thingset.values import (
    build_reading,
    decode_error_flags,
    flatten,
    measures_from_ids,
    measures_from_names,
    mosfets_from_state,
)

from hub.reading import TemperatureKind
from tests.plugins.trackingbms_thingset.harness import fixture, generated

# libresolar_bms_data_objects.json: extracted from bms-firmware data_objects.{c,h} per era.
TABLES = fixture("libresolar_bms_data_objects.json")
CAPTURES = fixture("captured_messages.json")["captures"]
FIXTURE_ERA = {
    "2024": "main (2024",
    "2023": "v23.0 / v23.1",
    "2022-05": "2022-05-09",
    "2021-10": "2021-10-04",
    "2021-05": "v21.0",
}


def _fixture_rows(key: str) -> list[dict[str, Any]]:
    era = next(e for e in TABLES["eras"] if e["era"].startswith(FIXTURE_ERA[key]))
    return [
        o for o in era["objects"] if o["type"] != "group" and o.get("parent") not in ("0xA0", "0xA2", "0xA4", "0x4C")
    ]


@pytest.mark.parametrize("key", list(FIXTURE_ERA))
def test_era_tables_match_the_firmware_extract(key: str) -> None:
    era = ERAS[key]
    for row in _fixture_rows(key):
        if row["name"] == "xDebugPrintRegisters" or row["name"] in ("xPrintRegister", "xPrintRegisters"):
            continue
        item = era.by_id(int(row["id"], 16))
        assert item is not None, row
        assert item.name == row["name"]
        assert item.decimals == row["text_decimals"]


@pytest.mark.parametrize(
    ("key", "names"),
    [
        ("2024", ["rPackVoltage_V", "rCellTemps_degC", "rCellVoltages_V", "rSOC_pct"]),
        ("2023", ["rPackVoltage_V", "rBatTemp_degC", "rCellVoltages_V", "rSOC_pct"]),
        ("2022-05", ["rBat_V", "rBat_A", "rCells_V", "rCellAvg_V"]),
        ("2021-10", ["Bat_V", "Bat_A", "Cells_V", "MOSFETs_degC"]),
    ],
)
def test_each_eras_names_detect_that_era(key: str, names: list[str]) -> None:
    assert detect_era(names) is ERAS[key]


@pytest.mark.parametrize(
    ("hint", "key"), [("", "2021-05"), ("output", "2021-05"), ("serial", "2021-10"), ("meas", "2021-10")]
)
def test_2021_eras_share_names_and_differ_by_path(hint: str, key: str) -> None:
    assert detect_era(["Bat_V", "SOC_pct"], hint) is ERAS[key]


def test_unknown_names_detect_nothing() -> None:
    assert detect_era(["rVoltage_V", "t_s"]) is None
    assert detect_era([]) is None


def test_aliases_and_can_report_kinds() -> None:
    assert get_era("main") is ERAS["2024"] and get_era("v23.1") is ERAS["2023"] and get_era("v21.0") is ERAS["2021-05"]
    assert era_for_can_reports(CanReports.MULTI_FRAME).key == "2024"
    assert era_for_can_reports(CanReports.SINGLE_FRAME).key == "2023"
    assert era_for_can_reports(CanReports.LEGACY).key == "2022-05"
    with pytest.raises(KeyError):
        get_era("1999")


def test_id_0x72_changed_meaning() -> None:
    # 0x72 was the current (Bat_A) before 2023 and is a voltage (rStackVoltage_V) after (§2.3).
    assert measures_from_ids(ERAS["2022-05"], {0x72: -5.13}) == {Kind.CURRENT: -5.13}
    assert measures_from_ids(ERAS["2023"], {0x72: 24.87}) == {Kind.STACK_VOLTAGE: 24.87}
    assert measures_from_ids(ERAS["2024"], {0x72: 26.17}) == {Kind.PACK_VOLTAGE: 26.17}


def test_pack_and_stack_voltage_names_swapped_in_main() -> None:
    # v23.x: rPackVoltage_V external, rStackVoltage_V stack; main: the reverse (fixture quirk).
    v23 = measures_from_names(ERAS["2023"], {"rPackVoltage_V": 0.47, "rStackVoltage_V": 24.87})
    main = measures_from_names(ERAS["2024"], {"rPackVoltage_V": 26.15, "rStackVoltage_V": 26.17})
    assert build_reading("x", v23).voltage == 24.87
    assert build_reading("x", main).voltage == 26.15


def test_binary_floats_are_rounded_to_the_items_decimals() -> None:
    measures = measures_from_ids(ERAS["2024"], {0x71: 26.149999618530273, 0x80: [3.2709999084472656]})
    assert measures == {Kind.STACK_VOLTAGE: 26.15, Kind.CELL_VOLTAGES: [3.271]}


def test_2022_capture_makes_a_reading() -> None:
    # bms-firmware #29: 6.060 V on a broken cell and -58.8 °C from an open thermistor.
    report = parse_message(decode_line(CAPTURES[0]["lines"][2].encode()).text)
    assert isinstance(report, TextReport) and report.path == "mSerial"
    values = flatten(report.payload)
    era = detect_era(values, report.path)
    assert era is ERAS["2022-05"]
    reading = build_reading("pack", measures_from_names(era, values), cells=6)
    assert (reading.voltage, reading.current, reading.soc) == (8.45, 0.0, 0.0)
    assert reading.cells == (0.552, 0.216, 0.140, 0.322, 0.950, 6.060)
    assert reading.temperatures == ()  # -58.8 °C is not a temperature
    assert [a.code for a in reading.alarms] == [
        "cell_voltage_high",
        "discharge_temperature_low",
        "charge_temperature_low",
    ]
    assert (reading.charge_mos, reading.discharge_mos) == (False, False)  # rBmsState 0 = OFF


def test_2023_capture_makes_a_reading() -> None:
    # bms-c1 #45 (v23.1 names), re-joined on one line as the device sends it.
    capture = CAPTURES[1]
    response = parse_message(":85 " + json.dumps(capture["response_json"]))
    assert isinstance(response, TextResponse)
    values = flatten(response.payload)
    era = detect_era(values, "Meas")
    assert era is ERAS["2023"]
    measures = measures_from_names(era, values)
    eight = build_reading("pack", measures, cells=8)
    assert eight.voltage == 24.87 and eight.cells[0] == 3.267 and len(eight.cells) == 8
    assert {(t.kind, t.value) for t in eight.temperatures} == {
        (TemperatureKind.MOS, 31.9),
        (TemperatureKind.BOARD, 34.7),
    }
    assert [a.code for a in eight.alarms] == ["cell_voltage_low", "discharge_temperature_low", "charge_temperature_low"]
    # Without a cell count, channels below 0.5 V are dropped: the 1.009 V channel stays (legacy.md §2.7).
    assert build_reading("pack", measures).cells[-1] == 1.009


def test_2024_generated_report_makes_a_reading() -> None:
    example = generated("serial_text_report_mLive_with_crc")
    report = parse_message(decode_line(example["line"].encode()).text)
    assert isinstance(report, TextReport)
    values = flatten(report.payload)
    era = detect_era(values, report.path)
    assert era is ERAS["2024"]
    reading = build_reading("pack", measures_from_names(era, values), rated_capacity_ah=100.0)
    assert (reading.voltage, reading.current, reading.soc) == (26.15, -1.23, 67.5)
    assert reading.power == pytest.approx(-32.16, abs=0.01) and reading.state is not None
    assert reading.state.value == "discharging"  # ThingSet current is positive while charging
    assert len(reading.cells) == 8 and reading.remaining_capacity_ah == 67.5
    assert (reading.charge_mos, reading.discharge_mos) == (True, True)  # rBmsState 3 = NORMAL


def test_2021_library_vector_names() -> None:
    # thingset-device-library v0.4 test vectors use the 2021 names (Bat_V, Bat_A).
    report = parse_message(fixture("captured_messages.json")["library_test_vectors"][0]["reports"][0])
    assert isinstance(report, TextReport) and report.path == ""
    values = flatten(report.payload)
    era = detect_era(values, report.path)
    assert era is ERAS["2021-05"]
    reading = build_reading("pack", measures_from_names(era, values))
    assert (reading.voltage, reading.current) == (14.10, 5.13)


def test_error_flags_and_states() -> None:
    assert decode_error_flags(0) == ()
    codes = [a.code for a in decode_error_flags(1 << 14 | 1 << 2 | 1 << 20)]
    assert codes == ["short_circuit", "mos_temperature_high", "error_bit_20"]
    assert [mosfets_from_state(s) for s in range(5)] == [
        (False, False),
        (True, False),
        (False, True),
        (True, True),
        (False, False),
    ]
    assert mosfets_from_state(9) == (None, None)


def test_values_of_wrong_types_are_left_out() -> None:
    measures = {
        Kind.STACK_VOLTAGE: "26",
        Kind.SOC: 150.0,
        Kind.CELL_VOLTAGES: [3.3, "x", None, 3.2],
        Kind.CURRENT: True,
    }
    reading = build_reading("pack", measures)
    assert (reading.voltage, reading.soc, reading.current, reading.cells) == (None, None, None, (3.3, 3.2))
    with pytest.raises(ThingSetError):
        build_reading("pack", {Kind.ERROR_FLAGS: 1})


def test_balancing_bits_are_cell_numbers() -> None:
    reading = build_reading("pack", {Kind.CELL_VOLTAGES: [3.3] * 4, Kind.BALANCING: 0b1010})
    assert reading.balancing == (2, 4)
