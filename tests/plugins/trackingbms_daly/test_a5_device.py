"""Tests for the simulated A5 BMS: answers, frame counts, addressing and writes."""

from __future__ import annotations

import math
from collections.abc import Callable
from datetime import datetime

import pytest
from trackingbms_daly.a5 import codec
from trackingbms_daly.a5.device import HARDWARE_VERSION, DalyA5Device
from trackingbms_daly.a5.framing import A5Frame, A5Framer, build_frame

from hub.reading import AlarmLevel
from hub.simulation import PackModel, PackSnapshot


class _RecordingPack(PackModel):
    """Keeps the snapshot the device last took (cell voltages carry fresh noise each time)."""

    last: PackSnapshot

    def snapshot(self) -> PackSnapshot:
        self.last = super().snapshot()
        return self.last


def _pack(cells: int = 16, temps: int = 2, current: float = 12.3, soc: float = 60.0) -> _RecordingPack:
    # A frozen clock keeps SOC and temperature still between requests.
    return _RecordingPack(cells, temps, soc=soc, seed=7, clock=lambda: 0.0, current_profile=lambda _: current)


def _ask(device: DalyA5Device, data_id: int, address: int = 0x40, data: bytes = bytes(8)) -> list[A5Frame]:
    answers = device.handle(build_frame(address, data_id, data))
    # The answers must survive our own framer, as on a real link.
    framer = A5Framer()
    frames = framer.feed(b"".join(answers)) + framer.flush()
    assert [f.raw for f in frames] == answers
    return frames


def test_pack_status_reports_the_snapshot_with_charge_positive() -> None:
    pack = _pack(current=12.3)
    (frame,) = _ask(DalyA5Device(pack), 0x90)
    snap = pack.last
    status = codec.decode_pack_status(frame.data)
    assert frame.address == 0x01
    assert status.voltage == pytest.approx(snap.voltage, abs=0.05)
    assert status.current_raw == 30123
    assert status.soc == snap.soc


def test_invert_current_sends_the_older_sign_convention() -> None:
    # daly.md §1.8: some units send raw > 30000 while discharging.
    (frame,) = _ask(DalyA5Device(_pack(current=12.3), invert_current=True), 0x90)
    assert codec.decode_pack_status(frame.data).current_raw == 29877


def test_cell_and_temperature_extremes() -> None:
    pack = _pack(temps=3)
    device = DalyA5Device(pack)
    cells = codec.decode_cell_extremes(_ask(device, 0x91)[0].data)
    snap = pack.last
    assert cells.max_mv == round(max(snap.cell_voltages) * 1000)
    assert snap.cell_voltages[cells.max_cell - 1] == max(snap.cell_voltages)
    assert snap.cell_voltages[cells.min_cell - 1] == min(snap.cell_voltages)
    temps = codec.decode_temperature_extremes(_ask(device, 0x92)[0].data)
    snap = pack.last
    assert temps.max_c == round(max(snap.temperatures))
    assert snap.temperatures[temps.min_sensor - 1] == min(snap.temperatures)


@pytest.mark.parametrize(("current", "state"), [(5.0, 1), (-5.0, 2), (0.0, 0)])
def test_mosfet_status_state_byte_follows_the_current(current: float, state: int) -> None:
    pack = _pack(current=current)
    device = DalyA5Device(pack)
    first = codec.decode_mosfet_status(_ask(device, 0x93)[0].data)
    second = codec.decode_mosfet_status(_ask(device, 0x93)[0].data)
    assert first.state == state
    assert (first.charge_mos, first.discharge_mos) == (True, True)
    assert first.remaining_capacity_mah == round(pack.last.remaining_capacity_ah * 1000)
    assert second.heartbeat == (first.heartbeat + 1) & 0xFF  # rolling heartbeat, daly.md §1.4


def test_status_info_reports_layout_and_charger() -> None:
    info = codec.decode_status_info(_ask(DalyA5Device(_pack(cells=8, temps=1, current=3.0)), 0x94)[0].data)
    assert (info.cell_count, info.temperature_count) == (8, 1)
    assert (info.charger_connected, info.load_connected) == (True, False)


@pytest.mark.parametrize("cells", [1, 3, 4, 16, 48])
def test_cell_voltages_come_in_ceil_cells_over_3_frames(cells: int) -> None:
    pack = _pack(cells=cells)
    frames = _ask(DalyA5Device(pack), 0x95)
    assert len(frames) == math.ceil(cells / 3)
    decoded = dict(codec.decode_cell_frame(f.data) for f in frames)
    assert sorted(decoded) == list(range(1, len(frames) + 1))
    assert codec.assemble_cells(decoded, cells) == pack.last.cell_voltages


def test_all_cell_frames_sends_16_frames_with_zeros_beyond_the_pack() -> None:
    # mpp-solar's capture: 16 frames for a 16S pack over the 0x80 path (daly.md §1.4 0x95).
    pack = _pack(cells=16)
    frames = _ask(DalyA5Device(pack, all_cell_frames=True), 0x95, address=0x80)
    decoded = dict(codec.decode_cell_frame(f.data) for f in frames)
    assert sorted(decoded) == list(range(1, 17))
    assert decoded[6][1:] == (0, 0)
    assert all(decoded[k] == (0, 0, 0) for k in range(7, 17))
    assert codec.assemble_cells(decoded, 16) == pack.last.cell_voltages


@pytest.mark.parametrize(("temps", "count"), [(0, 2), (1, 2), (7, 2), (8, 2), (14, 2), (15, 3), (16, 3)])
def test_temperatures_come_in_at_least_two_frames(temps: int, count: int) -> None:
    pack = _pack(temps=temps)
    frames = _ask(DalyA5Device(pack), 0x96)
    assert len(frames) == count
    decoded = dict(codec.decode_temperature_frame(f.data) for f in frames)
    values = codec.assemble_temperatures(decoded, count * 7)
    assert values[:temps] == tuple(float(round(t)) for t in pack.last.temperatures)
    assert set(values[temps:]) <= {None}  # unused slots are raw 0 = absent


def test_balancing_failures_capacity_and_version() -> None:
    pack = _pack(soc=3.0, current=-1.0)
    device = DalyA5Device(pack)
    assert codec.decode_balancing(_ask(device, 0x97)[0].data, 16) == pack.last.balancing
    alarms = {(a.code, a.level) for a in codec.decode_failures(_ask(device, 0x98)[0].data)}
    assert {("soc_low", AlarmLevel.WARNING), ("soc_low", AlarmLevel.ALARM)} <= alarms
    assert codec.decode_rated_capacity(_ask(device, 0x50)[0].data) == (100.0, 3.2)
    version = _ask(device, 0x63)
    assert [f.data[0] for f in version] == [1, 2]
    assert tuple(f.data[1:].decode() for f in version) == HARDWARE_VERSION


def test_balancing_bits_while_charging() -> None:
    pack = _pack(current=40.0)  # the model balances its top cell while charging a spread pack
    frames = _ask(DalyA5Device(pack), 0x97)
    assert pack.last.balancing  # seed 7 spreads the cells enough
    assert codec.decode_balancing(frames[0].data, 16) == pack.last.balancing


@pytest.mark.parametrize(("data_id", "attribute"), [(0xD9, "discharge_mos"), (0xDA, "charge_mos")])
def test_mosfet_writes_switch_the_pack_and_echo_d0(data_id: int, attribute: str) -> None:
    pack = _pack()
    device = DalyA5Device(pack)
    for on in (False, True):
        request = codec.build_mosfet_command(0x40, charge=data_id == 0xDA, on=on)
        (answer,) = device.handle(request)
        frame = A5Frame.parse(answer)
        assert (frame.data_id, frame.data[0]) == (data_id, int(on))
        assert getattr(pack, attribute) is on
        status = codec.decode_mosfet_status(_ask(device, 0x93)[0].data)
        assert getattr(status, attribute) is on


def test_set_soc_write_recalibrates_the_pack() -> None:
    pack = _pack(soc=60.0)
    device = DalyA5Device(pack)
    (answer,) = device.handle(codec.build_set_soc_command(0x40, 42.5, datetime(2025, 1, 2, 3, 4, 5)))
    assert A5Frame.parse(answer).data[0] == 1
    assert pack.snapshot().soc == 42.5
    # 0x21 with SOC x10 = 1001 is refused (d0 = 0) and changes nothing.
    (refused,) = device.handle(build_frame(0x40, 0x21, bytes([25, 1, 2, 3, 4, 5, 0x03, 0xE9])))
    assert A5Frame.parse(refused).data[0] == 0
    assert pack.snapshot().soc == 42.5


def test_restart_is_answered_and_changes_nothing() -> None:
    pack = _pack()
    before = pack.snapshot()
    (answer,) = DalyA5Device(pack).handle(codec.build_restart_command(0x80))
    assert A5Frame.parse(answer).data_id == 0x00
    after = pack.last
    assert (after.soc, after.charge_mos, after.discharge_mos) == (before.soc, True, True)


@pytest.mark.parametrize(
    ("board", "address", "answered"),
    [
        (1, 0x40, True),
        (1, 0x80, True),
        (1, 0x41, False),
        (2, 0x41, True),
        (2, 0x80, True),
        (2, 0x40, False),  # board 1's multi-drop address: board 2 must keep quiet
        (1, 0x20, False),
        (1, 0x01, False),  # a board's own answer echoed back on RS485
    ],
)
def test_addressing(board: int, address: int, answered: bool) -> None:
    frames = _ask(DalyA5Device(_pack(), board=board), 0x90, address=address)
    assert [f.address for f in frames] == ([board] if answered else [])


def test_two_boards_on_one_bus_never_answer_together() -> None:
    devices = [DalyA5Device(_pack(), board=1), DalyA5Device(_pack(), board=2)]
    for address, board in ((0x40, 1), (0x41, 2)):
        answers = [A5Frame.parse(a).address for d in devices for a in d.handle(build_frame(address, 0x94))]
        assert answers == [board]


def test_custom_host_addresses() -> None:
    device = DalyA5Device(_pack(), host_addresses=frozenset({0x80, 0x20}))
    assert _ask(device, 0x90, address=0x20)
    # Without 0x40 there is no RS485 path: a UART-only port ignores the multi-drop address.
    assert not _ask(device, 0x90, address=0x40)
    rs485 = DalyA5Device(_pack(), board=2, host_addresses=frozenset({0x40}))
    assert _ask(rs485, 0x90, address=0x41)
    assert not _ask(rs485, 0x90, address=0x80)


@pytest.mark.parametrize(
    "request_bytes",
    [
        bytes.fromhex("A5 40 90 08 00 00 00 00 00 00 00 00 7E"),  # bad checksum
        bytes.fromhex("A5 40 90 08 00 00 00 00 00 00 00 00"),  # short
        bytes.fromhex("A5 40 90 08 00 00 00 00 00 00 00 00 7D 00"),  # padded (Louisvdw #397)
        build_frame(0x40, 0x57),  # an id the simulator does not know
        b"",
    ],
)
def test_malformed_or_unknown_requests_get_silence(request_bytes: bytes) -> None:
    assert DalyA5Device(_pack()).handle(request_bytes) == []


def test_one_snapshot_per_request(monkeypatch: pytest.MonkeyPatch) -> None:
    pack = _pack()
    calls: list[int] = []
    real: Callable[[], PackSnapshot] = pack.snapshot
    monkeypatch.setattr(pack, "snapshot", lambda: calls.append(1) or real())
    device = DalyA5Device(pack)
    assert len(device.handle(build_frame(0x40, 0x95))) == 6
    assert len(calls) == 1
    device.handle(build_frame(0x42, 0x95))
    assert len(calls) == 1  # silence costs no snapshot


def test_board_number_is_validated() -> None:
    with pytest.raises(ValueError, match="board"):
        DalyA5Device(_pack(), board=0)
