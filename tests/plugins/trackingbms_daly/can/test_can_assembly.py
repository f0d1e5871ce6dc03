"""Answer collection and reading assembly of the CAN driver, with a fuzz of arbitrary payloads."""

from __future__ import annotations

import contextlib
import json
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from trackingbms_daly.a5 import codec
from trackingbms_daly.can.assembly import POLLED, CurrentSign, ReplyCollector, build_reading
from trackingbms_daly.errors import DalyProtocolError

from hub.reading import BatteryState
from hub.specs import DataError

FIXTURES = json.loads((Path(__file__).parents[3] / "fixtures/daly/frames.json").read_text())
# mr-manuel/venus-os_dbus-serialbattery#249, board 2 of a 2025 Daly active-balance BMS on CAN.
BOARD2 = {
    (int(e["can_id"], 16) >> 16 & 0xFF, bytes.fromhex(e["hex"])[0]): bytes.fromhex(e["hex"])
    for e in FIXTURES
    if e["protocol"] == "can" and e["can_id"].endswith("4002")
}


def _issue_249(collector: ReplyCollector) -> None:
    for (data_id, _), payload in BOARD2.items():
        collector.add(data_id, payload)
    collector.add(0x96, codec.encode_temperature_frame(1, [14, 13]))  # not in the capture
    collector.add(0x95, codec.encode_cell_frame(3, [3365, 3364]))  # frame 3 of 8S: not in the capture


def test_issue_249_answers_assemble_into_a_reading() -> None:
    # The capture's 0x90/0x93/0x94/0x95 answers (source: issue #249), completed with frame 3 and 0x96.
    collector = ReplyCollector()
    _issue_249(collector)
    assert collector.missing(POLLED) == [0x97, 0x98]
    reading = build_reading("b2", collector, CurrentSign())
    assert reading.voltage == 26.9
    assert reading.current == 5.4  # raw 30054 while 0x93 says charging: charge-positive wire (§1.8)
    assert reading.state is BatteryState.CHARGING
    assert reading.cells[:6] == (3.364, 3.364, 3.365, 3.365, 3.365, 3.365)
    assert len(reading.cells) == 8
    assert reading.remaining_capacity_ah == pytest.approx(162.364)
    assert reading.cycles == 1
    assert reading.alarms == () and reading.balancing == ()


def test_frames_are_keyed_by_number_and_filler_is_rejected() -> None:
    collector = ReplyCollector(codec.decode_status_info(codec.encode_status_info(4, 1)))
    collector.add(0x95, codec.encode_cell_frame(2, [3300]))
    collector.add(0x95, codec.encode_cell_frame(1, [3301, 3302, 3303]))
    collector.add(0x95, codec.encode_cell_frame(1, [1, 2, 3]))  # a late duplicate: the first one stays
    for filler in (b"\xff" * 8, bytes(8)):  # "0xFF invalid"; frames number from 1 (daly.md §1.4)
        with pytest.raises(DalyProtocolError, match="frame number"):
            collector.add(0x95, filler)
    with pytest.raises(DalyProtocolError, match="DLC 3"):
        collector.add(0x90, b"\x01\x02\x03")
    assert collector.complete(0x95)
    assert collector.frames_needed(0x96) == 1
    assert not collector.complete(0x96)
    assert collector.complete(0x94)  # from the cached layout


def test_junk_beyond_the_pack_is_ignored() -> None:
    # Cells 17/18 = 3.142 V on a 16S pack (mpp-solar #113, daly.md §1.4 0x95).
    collector = ReplyCollector()
    collector.add(0x94, codec.encode_status_info(4, 0))
    collector.add(0x90, codec.encode_pack_status(13.2, codec.encode_current(0), 50))
    collector.add(0x93, codec.encode_mosfet_status(0, True, True, 1, 50_000))
    collector.add(0x95, codec.encode_cell_frame(1, [3300, 3300, 3300]))
    collector.add(0x95, codec.encode_cell_frame(2, [3300, 3142, 3142]))
    assert build_reading("p", collector, CurrentSign()).cells == (3.3,) * 4


@pytest.mark.parametrize(
    ("mode", "wire", "state", "expected"),
    [
        ("auto", 20.0, 1, 20.0),
        ("auto", -20.0, 1, 20.0),  # an inverted firmware, learned from 0x93 (daly.md §1.8)
        ("auto", 20.0, 2, -20.0),
        ("charge_positive", -20.0, 1, -20.0),
        ("discharge_positive", 20.0, 2, -20.0),
    ],
)
def test_current_sign(mode: str, wire: float, state: int, expected: float) -> None:
    assert CurrentSign(mode).apply(wire, state) == expected


def test_auto_sign_keeps_what_it_learned_below_one_ampere() -> None:
    sign = CurrentSign()
    assert sign.apply(-10.0, 1) == 10.0
    assert sign.apply(-0.5, 0) == 0.5  # too small to judge: the learned convention stays


def test_no_layout_is_a_data_error() -> None:
    collector = ReplyCollector()
    collector.add(0x94, bytes(8))  # cell count 0: corrupt
    assert collector.layout is None
    with pytest.raises(DataError, match="0x94"):
        build_reading("p", collector, CurrentSign())


ids = st.sampled_from([*POLLED, 0x50, 0x91, 0x00, 0xFF])
payloads = st.one_of(st.binary(min_size=8, max_size=8), st.binary(max_size=9))
answers = st.lists(st.tuples(ids, payloads), max_size=40)


def _valid_poll() -> list[tuple[int, bytes]]:
    return [
        (0x94, codec.encode_status_info(7, 3)),
        (0x90, codec.encode_pack_status(23.1, codec.encode_current(-3.0), 40)),
        (0x93, codec.encode_mosfet_status(2, True, True, 9, 40_000)),
        *((0x95, codec.encode_cell_frame(k, [3300, 3301, 3302])) for k in (1, 2, 3)),
        (0x96, codec.encode_temperature_frame(1, [20, 21, 22])),
    ]


@given(
    answers=answers,
    cached=st.booleans(),
    then_valid=st.booleans(),
    mode=st.sampled_from(["auto", "charge_positive", "discharge_positive"]),
)
def test_arbitrary_answers_raise_only_protocol_or_data_errors(
    answers: list[tuple[int, bytes]], cached: bool, then_valid: bool, mode: str
) -> None:
    # Arbitrary payloads first, then (maybe) a good poll: first answers win, as on the bus.
    layout = codec.decode_status_info(codec.encode_status_info(7, 3)) if cached else None
    collector = ReplyCollector(layout)
    for data_id, payload in [*answers, *(_valid_poll() if then_valid else [])]:
        with contextlib.suppress(DalyProtocolError):
            collector.add(data_id, payload)
        collector.missing(POLLED)
    try:
        reading = build_reading("fuzz", collector, CurrentSign(mode))
    except (DalyProtocolError, DataError):
        return
    assert collector.layout is not None
    assert len(reading.cells) == collector.layout.cell_count
    json.dumps(reading.to_dict())
