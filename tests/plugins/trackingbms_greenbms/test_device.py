"""The simulated Control Unit behaves like firmware "Ver. 3.s.2.01": pages, commands, keep-alive check."""

from __future__ import annotations

from typing import Any

import pytest
from trackingbms_greenbms.device import DEFAULT_PARAMETERS, GreenBmsDevice
from trackingbms_greenbms.framing import parse_line
from trackingbms_greenbms.messages import (
    SETTINGS_BLOCKS,
    Cells,
    Heartbeat,
    KeepAliveMarker,
    Message,
    Overview,
    Parameters,
    SettingsEnd,
    decode_line,
)

from hub.simulation import PackModel


def make(cells: int = 16, current: float = 20.0, **options: Any) -> GreenBmsDevice:
    pack = PackModel(cells=cells, seed=1, clock=lambda: 0.0, current_profile=lambda t: current)
    return GreenBmsDevice(pack, capacity_ah=100, seed=1, **options)


def ticks(device: GreenBmsDevice, count: int) -> list[Message]:
    return [decode_line(parse_line(line.rstrip(b"\r\n")).tokens) for _ in range(count) for line in device.tick()]


def test_page_zero_streams_nothing() -> None:
    device = make()
    assert device.tick() == []
    assert not device.streaming


def test_overview_page_sends_a_line_per_tick_and_a_marker_every_third() -> None:
    device = make()
    device.receive(b"#s2\n")
    messages = ticks(device, 6)
    overviews = [m for m in messages if isinstance(m, Overview)]
    assert len(overviews) == 6
    assert sum(isinstance(m, KeepAliveMarker) for m in messages) == 2
    first = overviews[0]
    assert first.current == 20.0 and first.charge_status == 1  # + is charging, >= 3 A
    assert first.cell_min <= first.cell_max
    assert 16 * first.cell_min - 0.05 <= first.pack_voltage <= 16 * first.cell_max + 0.05


@pytest.mark.parametrize(("current", "status"), [(-25.0, 2), (-4.5, 0), (2.5, 0), (3.0, 1)])
def test_charge_status_thresholds(current: float, status: int) -> None:
    device = make(current=current)
    device.receive(b"#s2\n")
    (overview,) = [m for m in ticks(device, 1) if isinstance(m, Overview)]
    assert (overview.current, overview.charge_status) == (current, status)


def test_h1_sends_capacity_and_cell_count_instead_of_the_overview() -> None:
    device = make(cells=12)
    device.receive(b"#s2\n#h1\n")
    messages = ticks(device, 2)
    assert Parameters({12: 100, 14: 12}) in messages
    assert not any(isinstance(m, Overview) for m in messages)


@pytest.mark.parametrize(("cells", "lines"), [(16, 8), (7, 4), (1, 1)])
def test_cells_page_sweeps_two_cells_a_line_then_starts_over(cells: int, lines: int) -> None:
    device = make(cells=cells)
    device.receive(b"#s3\n")
    messages = ticks(device, lines + 1)
    indices = [cell.index for m in messages if isinstance(m, Cells) for cell in m.cells]
    assert indices == [*range(1, 2 * lines + 1), 1, 2]
    if cells % 2:  # cell n + 1 of an odd count is never polled: all zero
        phantom = next(c for m in messages if isinstance(m, Cells) for c in m.cells if c.index == cells + 1)
        assert (phantom.voltage, phantom.pole_temperature, phantom.flags) == (0.0, 0, frozenset())


def test_silent_cell_modules_read_zero_and_raise_low_and_error() -> None:
    device = make(cells=4, failed_cells=[3])
    device.receive(b"#s3\n")
    cells = {c.index: c for m in ticks(device, 2) if isinstance(m, Cells) for c in m.cells}
    assert (cells[3].voltage, cells[3].pole_temperature, cells[3].resistor_temperature) == (0.0, -40, -40)
    assert cells[3].flags == {"low_voltage", "error"}
    assert not cells[2].flags - {"balancing"}
    assert decode_line(parse_line(device.heartbeat().rstrip()).tokens) == Heartbeat(1, True)


def test_settings_page_dumps_every_block_twice_then_ends() -> None:
    device = make(cells=16)
    device.receive(b"#s4\n#e1\n")
    messages = ticks(device, 9)
    assert [tuple(m.values) for m in messages[:8] if isinstance(m, Parameters)] == list(SETTINGS_BLOCKS) * 2
    assert isinstance(messages[8], SettingsEnd)
    dump: dict[int, int] = {}
    for message in messages:
        if isinstance(message, Parameters):
            dump.update(message.values)
    assert dump == {**DEFAULT_PARAMETERS, 12: 100}
    device.receive(b"#e0\n")
    assert ticks(device, 2) == []


def test_a_parameter_write_is_stored_and_echoed() -> None:
    device = make()
    device.receive(b"#s4\n#p0243650\n")
    assert ticks(device, 1) == [Parameters({24: 3650})]
    assert device.params[24] == 3650


def test_connection_page_sends_the_password_three_times() -> None:
    device = make()
    device.receive(b"#s1\n")
    assert ticks(device, 5) == [Parameters({2: 1234})] * 3


def test_the_unit_filters_command_characters_like_the_firmware() -> None:
    device = make()
    device.receive(b"#s 3.x\r\n")
    assert device.page == 3
    assert device.commands == ["#s3"]


def test_an_unchanged_keep_alive_sends_the_unit_back_to_page_zero() -> None:
    device = make()
    device.receive(b"#m1\n#s2\n")
    device.keepalive_check()  # changed since the last check (0 -> 1): keeps streaming
    assert device.streaming
    device.keepalive_check()  # unchanged: page 0
    assert not device.streaming
    assert device.tick() == []
    device.receive(b"#m2\n")  # a new keep-alive alone does not select a page again
    assert not device.streaming
    device.receive(b"#s2\n")
    assert device.streaming


def test_a_changing_keep_alive_keeps_the_page() -> None:
    device = make()
    device.receive(b"#s3\n")
    for value in range(1, 6):
        device.receive(f"#m{value}\n".encode())
        device.keepalive_check()
        assert device.streaming
    assert device.keepalive_checks == 5


def test_the_first_check_drops_a_host_that_never_sent_a_keep_alive() -> None:
    device = make()
    device.receive(b"#s2\n")
    device.keepalive_check()  # 0 == the firmware's initial value
    assert not device.streaming
