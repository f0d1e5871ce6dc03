"""The simulated master's frames per 100 ms cycle, their encoding and the CAN faults (pure)."""

from __future__ import annotations

from collections import Counter

import pytest
from trackingbms_foxbms.broadcast import BroadcastSettings, FoxbmsBroadcaster
from trackingbms_foxbms.bus import Frame
from trackingbms_foxbms.codec import decode_frame
from trackingbms_foxbms.dbc import FlagPolarity, FoxbmsDbc

from hub.faults import Fault
from hub.simulation import PackModel


def pack(cells: int = 18, temps: int = 8, seed: int = 1) -> PackModel:
    """A pack frozen in time, so two broadcasters produce the same frames."""
    return PackModel(cells=cells, temps=temps, seed=seed, clock=lambda: 0.0, current_profile=lambda t: -12.0)


def make(dbc: FoxbmsDbc, packs: int = 1, **settings: object) -> FoxbmsBroadcaster:
    models = [pack(seed=i) for i in range(packs)]
    return FoxbmsBroadcaster(dbc, models, BroadcastSettings(seed=5, **settings))  # type: ignore[arg-type]


def ids(frames: list[Frame]) -> Counter[int]:
    return Counter(can_id for can_id, _ in frames)


def test_the_firmware_schedule(current: FoxbmsDbc) -> None:
    caster = make(current)
    ticks = [caster.tick() for _ in range(10)]
    first = ids(ticks[0])
    # 100 ms messages (legacy.md §1.3) and the first 1000 ms ones.
    periodic = (0x219, 0x220, 0x221, 0x230, 0x231, 0x232, 0x233, 0x234, 0x235, 0x240, 0x241, 0x242, 0x243, 0x244, 0x245)
    for can_id in (*periodic, 0x250):
        assert first[can_id] == 1, hex(can_id)
    assert 0x260 not in first  # temperatures: one frame per 200 ms
    assert ids(ticks[1])[0x260] == 1
    everything = sum((ids(t) for t in ticks), Counter())
    assert everything[0x235] == everything[0x221] == everything[0x245] == 1  # 1000 ms
    assert everything[0x233] == 10
    muxes = [decode_frame(current, i, d).mux for t in ticks for i, d in t if i == 0x250]
    assert muxes == [0, 1, 2, 3, 4, 0, 1, 2, 3, 4]  # ceil(18 / 4) frames per cycle
    assert all(len(data) == 8 for t in ticks for _, data in t)


def test_every_frame_decodes_to_the_pack(current: FoxbmsDbc) -> None:
    caster = make(current)
    frames = [f for _ in range(10) for f in caster.tick()]
    decoded = [decode_frame(current, i, d) for i, d in frames]
    values = next(f for f in decoded if f.role == "pack_values").signals
    snap = caster.packs[0].snapshot()
    assert values["BatteryVoltage"] == pytest.approx(snap.voltage, abs=0.06)
    assert values["Current"] == pytest.approx(12.0)  # discharging 12 A, sent discharge-positive
    cells = {
        slot.index: f.signals[slot.value]
        for f in decoded
        if f.role == "cell_voltages" and f.mux is not None
        for slot in current.cell_slots[f.mux]
        if slot.index < 18
    }
    assert [cells[i] / 1000 for i in range(18)] == pytest.approx(list(snap.cell_voltages), abs=0.003)  # +-1 mV noise


def test_the_old_layout(old: FoxbmsDbc) -> None:
    first = ids(make(old).tick())
    for can_id in (0x220, 0x221, 0x222, 0x223, 0x224, 0x225, 0x226, 0x240, 0x280, 0x281, 0x282, 0x283):
        assert first[can_id] == 1, hex(can_id)
    assert 0x233 not in first and 0x250 not in first  # 0x250 is temperatures here: every 200 ms


@pytest.mark.parametrize("polarity", list(FlagPolarity))
def test_invalid_flags_follow_the_polarity(current: FoxbmsDbc, polarity: FlagPolarity) -> None:
    caster = make(current, polarity=polarity, invalid_cells=frozenset({2}))
    can_id, data = next(f for f in caster.tick() if f[0] == 0x250)
    signals = decode_frame(current, can_id, data).signals
    flags = [signals[f"CellVoltage_00{i}_invalidFlag"] for i in range(4)]
    one_valid = polarity is FlagPolarity.ONE_MEANS_VALID
    assert flags == ([1, 0, 1, 1] if one_valid else [0, 1, 0, 0])


def test_unused_slots_of_the_last_frame_stay_zero(current: FoxbmsDbc) -> None:
    caster = make(current)
    last = [f for _ in range(5) for f in caster.tick() if f[0] == 0x250][-1]
    signals = decode_frame(current, *last).signals
    assert signals["CellVoltage_018"] == signals["CellVoltage_019"] == 0
    assert signals["CellVoltage_018_invalidFlag"] == signals["CellVoltage_019_invalidFlag"] == 0


def test_raised_flags(current: FoxbmsDbc) -> None:
    caster = make(current, flags=frozenset({"bms_error_state", "fatal_error", "emergency_shutoff", "open_wire"}))
    frames = {i: decode_frame(current, i, d) for i, d in caster.tick()}
    assert frames[0x220].signals["BmsState"] == 10
    assert frames[0x220].signals["EmergencyShutoff"] == 1
    assert frames[0x222].signals["FatalErrorCode"] == 17
    assert frames[0x240].signals["OpenWireError"] == 1


def test_strings_are_multiplexed(current: FoxbmsDbc) -> None:
    frames = make(current, packs=2).tick()
    muxes = sorted(decode_frame(current, i, d).mux or 0 for i, d in frames if i == 0x243)
    assert muxes == [0, 1]
    assert decode_frame(current, *next(f for f in frames if f[0] == 0x220)).signals["NumberOfConnectedStrings"] == 2


def test_asleep_sends_nothing(current: FoxbmsDbc) -> None:
    caster = make(current)
    caster.faults.inject(Fault.ASLEEP, times=2)
    assert caster.tick() == []
    assert caster.tick() == []
    assert caster.tick() != []


def test_truncated_drops_the_last_cell_frame_of_a_cycle(current: FoxbmsDbc) -> None:
    caster = make(current)
    caster.faults.inject(Fault.TRUNCATED, times=1)
    muxes = [decode_frame(current, i, d).mux for _ in range(10) for i, d in caster.tick() if i == 0x250]
    assert muxes == [0, 1, 2, 3, 0, 1, 2, 3, 4]


def test_junk_cells_and_all_cell_frames(current: FoxbmsDbc) -> None:
    caster = make(current)
    caster.faults.inject(Fault.JUNK_CELLS, times=1)
    caster.faults.inject(Fault.ALL_CELL_FRAMES, times=1)
    cell_frames = [decode_frame(current, i, d) for _ in range(54) for i, d in caster.tick() if i == 0x250]
    assert [f.mux for f in cell_frames] == list(range(54))
    assert cell_frames[0].signals["CellVoltage_000"] == 8191


def test_garbage_and_crc_losses(current: FoxbmsDbc) -> None:
    clean, noisy = make(current), make(current)
    noisy.faults.inject(Fault.GARBAGE, times=1)
    noisy.faults.inject(Fault.BAD_CHECKSUM, times=1)
    normal, disturbed = clean.tick(), noisy.tick()
    assert len(disturbed) == len(normal) - 1 + 2
    foreign = [f for f in disturbed if f[0] not in {m.frame_id for m in current.db.messages}]
    assert len(foreign) == 1
    assert any(i == 0x233 and len(d) == 3 for i, d in disturbed)


def test_inverted_current(current: FoxbmsDbc) -> None:
    caster = make(current)
    caster.faults.inject(Fault.INVERTED_CURRENT, times=1)
    values = [decode_frame(current, i, d).signals["Current"] for _ in range(2) for i, d in caster.tick() if i == 0x233]
    assert values == pytest.approx([-12.0, 12.0])
