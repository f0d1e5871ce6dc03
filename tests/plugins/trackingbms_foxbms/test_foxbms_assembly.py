"""Assembly of multiplexed cell frames and pack values into readings (pure, with a fake clock)."""

from __future__ import annotations

import math
from collections.abc import Sequence

import pytest
from trackingbms_foxbms.assembly import SLOW_GRACE_FRAMES, AssemblySettings, CurrentSign, PackAssembler
from trackingbms_foxbms.codec import decode_frame, encode_frame
from trackingbms_foxbms.dbc import FlagPolarity, FoxbmsDbc
from trackingbms_foxbms.errors import FoxbmsProtocolError

from hub.reading import AlarmLevel, BatteryState

CELLS = [3300 + i for i in range(18)]  # foxBMS default: 18 cells, 8 sensors (legacy.md §1.5)
TEMPS = [20, 21, 22, 23, -5, 25, 26, 27]


class Clock:
    """A settable monotonic clock."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def feed(asm: PackAssembler, role: str, values: dict[str, float], mux: int | None = None) -> None:
    can_id, data = encode_frame(asm.dbc, role, values, mux)
    asm.add(decode_frame(asm.dbc, can_id, data))


def cell_frame(
    asm: PackAssembler,
    mux: int,
    cells: Sequence[float] = CELLS,
    invalid: frozenset[int] = frozenset(),
    one_valid: bool = True,
) -> None:
    values: dict[str, float] = {}
    for slot in asm.dbc.cell_slots[mux]:
        if slot.index < len(cells):
            values[slot.value] = cells[slot.index]
            assert slot.flag is not None
            values[slot.flag] = float((slot.index + 1 not in invalid) == one_valid)
    feed(asm, "cell_voltages", values, mux)


def temp_frame(
    asm: PackAssembler, mux: int, temps: Sequence[float] = TEMPS, invalid: frozenset[int] = frozenset()
) -> None:
    values: dict[str, float] = {}
    for slot in asm.dbc.temp_slots[mux]:
        if slot.index < len(temps):
            values[slot.value] = temps[slot.index]
            assert slot.flag is not None
            values[slot.flag] = float(slot.index + 1 not in invalid)
    feed(asm, "cell_temperatures", values, mux)


def pack(asm: PackAssembler, current: float = 12.34, power: float = 0.8) -> None:
    feed(asm, "pack_values", {"BatteryVoltage": 59.7, "BusVoltage": 59.6, "Current": current, "Power": power})


def slow(asm: PackAssembler) -> None:
    feed(asm, "pack_state_estimation", {"MinimumSoc": 55.2, "MaximumSoc": 56.0, "Soh": 98.5, "Energy": 3.2})


def full_cycle(asm: PackAssembler, **kwargs: object) -> None:
    pack(asm)
    for mux in range(math.ceil(len(CELLS) / 4)):
        cell_frame(asm, mux, **kwargs)  # type: ignore[arg-type]
    for mux in range(math.ceil(len(TEMPS) / 6)):
        temp_frame(asm, mux)


def make(dbc: FoxbmsDbc, clock: Clock | None = None, **settings: object) -> PackAssembler:
    return PackAssembler(dbc, AssemblySettings(**settings), clock or Clock())  # type: ignore[arg-type]


def test_a_reading_needs_every_cell_frame(current: FoxbmsDbc) -> None:
    asm = make(current, cells=18, temps=8)
    slow(asm)
    pack(asm)
    for mux in (0, 1, 2, 4):
        cell_frame(asm, mux)
    temp_frame(asm, 0)
    temp_frame(asm, 1)
    assert not asm.ready()
    assert "cell voltage frames missing: mux 3" in asm.missing()
    cell_frame(asm, 3)
    assert asm.ready()
    reading = asm.build("pack")
    assert reading.cells == tuple(v / 1000 for v in CELLS)
    assert [t.value for t in reading.temperatures] == TEMPS
    assert [t.sensor for t in reading.temperatures] == list(range(1, 9))
    assert reading.voltage == pytest.approx(59.7)
    assert reading.soc == pytest.approx(55.2)  # the pack minimum (see extras for the maximum)
    assert reading.soh == pytest.approx(98.5)
    assert reading.cell_max is not None and reading.cell_max.index == 18
    assert asm.extras()["soc_max"] == pytest.approx(56.0)
    # A new round starts: the old frames do not count again.
    assert not asm.ready()
    assert "mux 0, 1, 2, 3, 4" in asm.missing()


def test_cells_seen_over_two_cycles_complete_a_round(current: FoxbmsDbc) -> None:
    asm = make(current, cells=8, temps=0)
    slow(asm)
    pack(asm)
    cell_frame(asm, 0)
    cell_frame(asm, 0)  # the next cycle, whose mux 1 got lost before
    assert not asm.ready()
    cell_frame(asm, 1)
    assert asm.ready()
    assert len(asm.build("p").cells) == 8


def test_pack_values_must_be_fresh(current: FoxbmsDbc) -> None:
    asm = make(current, cells=4, temps=0)
    slow(asm)
    pack(asm)
    cell_frame(asm, 0)
    asm.build("p")
    cell_frame(asm, 0)
    assert not asm.ready()
    assert "no pack values" in asm.missing()
    pack(asm)
    assert asm.ready()


def test_counts_are_learned_from_the_multiplexer_wrap(current: FoxbmsDbc) -> None:
    asm = make(current)  # cells and temps: auto
    slow(asm)
    pack(asm)
    for mux in (3, 4):  # joined mid-cycle
        cell_frame(asm, mux)
    temp_frame(asm, 0)
    assert not asm.ready()
    assert "count not known yet" in asm.missing()
    for mux in (0, 1, 2, 3, 4):
        cell_frame(asm, mux)
    temp_frame(asm, 1)
    assert asm.cells.learned_frames == 5
    assert not asm.ready()  # the temperature cycle has not wrapped yet
    temp_frame(asm, 0)
    assert asm.temps.learned_frames == 2
    assert asm.ready()
    reading = asm.build("p")
    # 5 frames carry 20 slots; the 2 unused ones (0 mV, flag 0) of the last frame are not cells.
    assert len(reading.cells) == 18
    assert len(reading.temperatures) == 8
    assert not reading.alarms


def test_extra_frames_beyond_the_pack_are_dropped(current: FoxbmsDbc) -> None:
    asm = make(current, temps=0)
    slow(asm)
    pack(asm)
    for _ in range(2):
        for mux in range(54):  # a build that sends every multiplexer value the DBC has
            cell_frame(asm, mux, cells=CELLS[:7])
    assert asm.ready()
    assert len(asm.build("p").cells) == 7


@pytest.mark.parametrize("polarity", list(FlagPolarity))
def test_invalid_flags_in_both_meanings(current: FoxbmsDbc, polarity: FlagPolarity) -> None:
    one_valid = polarity is FlagPolarity.ONE_MEANS_VALID
    asm = make(current, cells=18, temps=0, polarity=polarity)
    slow(asm)
    pack(asm)
    for mux in range(5):
        cell_frame(asm, mux, invalid=frozenset({3, 17}), one_valid=one_valid)
    reading = asm.build("p")
    assert len(reading.cells) == 18  # an invalid cell keeps its value: a reading has no gaps
    alarm = next(a for a in reading.alarms if a.code == "cell_voltage_invalid")
    assert alarm.text.endswith(": 3, 17")
    assert alarm.level is AlarmLevel.WARNING


def test_the_wrong_flag_meaning_shows_as_all_cells_invalid(current: FoxbmsDbc) -> None:
    asm = make(current, cells=8, temps=0, polarity=FlagPolarity.ONE_MEANS_INVALID)
    slow(asm)
    pack(asm)
    cell_frame(asm, 0)
    cell_frame(asm, 1)  # sent with 1 = valid
    alarm = next(a for a in asm.build("p").alarms if a.code == "cell_voltage_invalid")
    assert "check invalid_flag" in alarm.text


def test_invalid_sensors_are_left_out_with_their_numbers_kept(current: FoxbmsDbc) -> None:
    asm = make(current, cells=4, temps=8)
    slow(asm)
    pack(asm)
    cell_frame(asm, 0)
    temp_frame(asm, 0, invalid=frozenset({2}))
    temp_frame(asm, 1)
    reading = asm.build("p")
    assert [t.sensor for t in reading.temperatures] == [1, 3, 4, 5, 6, 7, 8]
    assert any(a.code == "temperature_invalid" and a.text.endswith(": 2") for a in reading.alarms)


@pytest.mark.parametrize(
    ("sign", "bms_current", "expected"),
    [
        (CurrentSign.DISCHARGE_POSITIVE, 12.34, -12.34),  # foxBMS default: +12.34 A is discharging
        (CurrentSign.DISCHARGE_POSITIVE, -30.0, 30.0),
        (CurrentSign.CHARGE_POSITIVE, 12.34, 12.34),
    ],
)
def test_current_is_positive_while_charging(
    current: FoxbmsDbc, sign: CurrentSign, bms_current: float, expected: float
) -> None:
    asm = make(current, cells=4, temps=0, current_sign=sign)
    slow(asm)
    pack(asm, current=bms_current, power=bms_current * 59.7 / 1000)
    cell_frame(asm, 0)
    reading = asm.build("p")
    assert reading.current == pytest.approx(expected)
    assert reading.power == pytest.approx(expected * 59.7, abs=6)  # 10 W resolution
    assert reading.state is (BatteryState.CHARGING if expected > 0 else BatteryState.DISCHARGING)


def test_flags_become_alarms(current: FoxbmsDbc) -> None:
    asm = make(current, cells=4, temps=0)
    slow(asm)
    pack(asm)
    cell_frame(asm, 0)
    feed(asm, "bms_state", {"BmsState": 10, "NumberOfConnectedStrings": 1, "GeneralWarning": 1, "InterlockState": 1})
    feed(asm, "string_state", {"OvervoltageMslError": 1, "UndervoltageMolWarning": 1}, 0)
    feed(asm, "string_state", {"DeepDischargeError": 1}, 1)
    feed(asm, "fatal_error", {"FatalErrorCode": 17})
    feed(asm, "bms_state_details", {"TimingViolation10msTask": 1, "TimingViolation1msTaskRecorded": 1})
    reading = asm.build("p")
    got = {(a.code, a.text, a.level) for a in reading.alarms}
    assert got == {
        ("bms_error_state", "BMS state machine in ERROR", AlarmLevel.ALARM),
        ("bms_general_warning", "BMS general warning", AlarmLevel.WARNING),
        ("interlock_open", "Interlock open", AlarmLevel.ALARM),
        ("cell_voltage_high", "String 0: Cell overvoltage (MSL)", AlarmLevel.ALARM),
        ("cell_voltage_low", "String 0: Cell undervoltage (MOL)", AlarmLevel.WARNING),
        ("deep_discharge", "String 1: Deep discharge detected", AlarmLevel.ALARM),
        ("fatal_error", "Fatal error DIAG_ID_CELL_VOLTAGE_OVERVOLTAGE_MSL", AlarmLevel.ALARM),
        ("timing_violation", "Task timing violation: 10msTask", AlarmLevel.WARNING),
    }
    assert reading.charge_mos is True and reading.discharge_mos is True  # a string's contactors are closed
    assert asm.extras()["bms_state_name"] == "ERROR"
    feed(asm, "fatal_error", {"FatalErrorCode": 85})  # NO_ERROR
    pack(asm)
    cell_frame(asm, 0)
    assert not any(a.code == "fatal_error" for a in asm.build("p").alarms)


def test_old_layout_flags_and_values(old: FoxbmsDbc) -> None:
    asm = make(old, cells=4, temps=0, polarity=FlagPolarity.ONE_MEANS_INVALID)
    feed(asm, "pack_state_estimation", {"foxBMS_packSoc": 41.5, "foxBMS_packSoh": 97.5})
    feed(asm, "pack_values", {"foxBMS_batteryVoltage": 13.2, "foxBMS_packCurrent": -5.0, "foxBMS_packPower": -0.07})
    feed(asm, "bms_state", {"foxBMS_State": 7, "BMS_nrOfConnectedStrings": 0, "foxBMS_Error_Cantiming": 1})
    feed(asm, "string_state", {"String0_Wrng_overvoltage_RSL": 1}, 0)
    cell_frame(asm, 0, one_valid=False)
    reading = asm.build("p")
    assert (reading.voltage, reading.current, reading.soc, reading.soh) == (13.2, 5.0, 41.5, 97.5)
    assert reading.charge_mos is False
    assert {a.code for a in reading.alarms} == {"can_timing_error", "cell_voltage_high"}


def test_slow_values_age_out(current: FoxbmsDbc) -> None:
    clock = Clock()
    asm = make(current, clock, cells=4, temps=0, max_age=10.0)
    slow(asm)
    clock.now += 11
    pack(asm)
    cell_frame(asm, 0)
    reading = asm.build("p")
    assert reading.soc is None and reading.soh is None
    assert reading.voltage is not None


def test_the_first_reading_waits_a_little_for_the_soc(current: FoxbmsDbc) -> None:
    clock = Clock()
    asm = make(current, clock, cells=4, temps=0)
    pack(asm)
    cell_frame(asm, 0)
    assert not asm.ready()
    clock.now += 60  # wall time alone does not end the wait: a stalled host has not missed the SOC
    assert not asm.ready()
    for _ in range(SLOW_GRACE_FRAMES - 2):
        pack(asm)
    assert not asm.ready()
    pack(asm)
    assert asm.ready()  # 1.5 s of the BMS's own traffic without a state estimation: go on without it
    asm.build("p")
    slow(asm)
    pack(asm)
    cell_frame(asm, 0)
    assert asm.ready()


def test_partial_readings_say_so(current: FoxbmsDbc) -> None:
    asm = make(current, cells=8, temps=0)
    slow(asm)
    pack(asm)
    cell_frame(asm, 0)
    reading = asm.build("p", partial=True)
    assert reading.cells == ()
    assert reading.voltage is not None
    alarm = next(a for a in reading.alarms if a.code == "cells_incomplete")
    assert "mux 1" in alarm.text


def test_impossible_values_flagged_valid_are_bad_data(current: FoxbmsDbc) -> None:
    asm = make(current, cells=4, temps=0)
    slow(asm)
    pack(asm)
    cell_frame(asm, 0, cells=[3300, 8191, 3300, 3300])
    with pytest.raises(FoxbmsProtocolError, match="cell 2: 8191 mV"):
        asm.build("p")
    assert not asm.ready()  # the round restarts
    pack(asm)
    cell_frame(asm, 0, cells=[3300, 0, 3300, 3300], invalid=frozenset({2}))  # flagged invalid: only an alarm
    assert any(a.code == "cell_voltage_invalid" for a in asm.build("p").alarms)


def test_string_values_by_index(current: FoxbmsDbc) -> None:
    asm = make(current)
    feed(asm, "string_values", {"Voltage": 64.81, "Current": 12.34, "Power": 0.8}, 0)
    feed(asm, "string_values", {"Voltage": 64.5, "Current": -1.5, "Power": -0.1}, 2)
    feed(asm, "string_state", {"IsStringConnected": 1}, 2)
    strings = asm.string_values()
    assert strings[0]["voltage"] == pytest.approx(64.81)
    assert strings[0]["current"] == pytest.approx(-12.34)  # +12.34 A discharging (foxBMS default sign)
    # -1.5 A from the BMS is charging: positive in the hub's convention, as in the reading.
    assert strings[2] == {"voltage": 64.5, "current": 1.5, "power_kw": 0.1, "connected": 1.0, "balancing": 0.0}
    charge_positive = make(current, current_sign=CurrentSign.CHARGE_POSITIVE)
    feed(charge_positive, "string_values", {"Voltage": 64.5, "Current": -1.5, "Power": -0.1}, 0)
    assert charge_positive.string_values()[0]["current"] == pytest.approx(-1.5)
