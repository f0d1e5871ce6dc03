"""The simulated D2 / 0x81 boards at the protocol level: reads, Daly 0x10, echoes, exceptions, write effects."""

from __future__ import annotations

import pytest
from trackingbms_daly.modbus import d2, x81
from trackingbms_daly.modbus.crc import append_crc
from trackingbms_daly.modbus.device import ILLEGAL_ADDRESS, ILLEGAL_FUNCTION, ILLEGAL_VALUE, DalyModbusDevice
from trackingbms_daly.modbus.framing import (
    ModbusFrame,
    Role,
    build_read_request,
    build_write_multiple,
    build_write_single,
)
from trackingbms_daly.modbus.registers import decode_table, registers_from

from hub.simulation import PackModel

CURRENT_A = -12.3


def make(family: str = "d2", board: int = 1, cells: int = 8, **options: bool) -> DalyModbusDevice:
    pack = PackModel(cells=cells, temps=3, seed=1, clock=lambda: 0.0, current_profile=lambda _: CURRENT_A)
    return DalyModbusDevice(pack, family, board, **options)


def ask(device: DalyModbusDevice, request: bytes) -> ModbusFrame | None:
    answer = device.handle(ModbusFrame.parse(request, Role.REQUEST))
    return None if answer is None else ModbusFrame.parse(answer)


def read(device: DalyModbusDevice, start: int, count: int) -> dict[int, int]:
    answer = ask(device, build_read_request(device.address, start, count))
    assert answer is not None and not answer.is_exception
    assert answer.address == device.answer_address
    return registers_from(start, answer.registers())


def test_d2_status_reflects_the_pack() -> None:
    device = make()
    status = d2.decode_status(read(device, 0, 80))
    snap = device.pack.snapshot()
    # Each snapshot adds its own +-1 mV noise.
    assert status.cells_mv == pytest.approx([round(v * 1000) for v in snap.cell_voltages], abs=3)
    assert status.current == CURRENT_A and status.state == 2  # charge-positive on the wire
    assert len(status.temperatures) == 3 and status.mos_temperature is not None
    assert status.charge_mos and status.discharge_mos


def test_d2_settings_and_version_blocks() -> None:
    device = make()
    settings = decode_table(d2.SETTINGS, read(device, d2.SETTINGS_BLOCK.start, d2.SETTINGS_BLOCK.count))
    assert settings["rated_capacity"] == 100.0 and settings["board_1_cells"] == 8
    assert settings["charge_mos_switch"] is True
    info = decode_table(d2.INFO, read(device, d2.VERSION_BLOCK.start, d2.VERSION_BLOCK.count))
    assert info["software_version"].startswith("SIM")


def test_write_single_is_echoed_and_switches_the_fet() -> None:
    device = make()
    request = build_write_single(0xD2, d2.CHARGE_MOS, 0)
    answer = ask(device, request)
    assert answer is not None and answer.raw == request
    assert device.pack.charge_mos is False
    assert d2.decode_status(read(device, 0, 62)).charge_mos is False


def test_document_mos_registers_echo_without_effect() -> None:
    # Writing 0x000C/0x000D is echoed but moves no FET (batmon-ha #356, daly.md §3.2).
    device = make()
    answer = ask(device, append_crc(bytes.fromhex("D2 06 00 0C 00 00")))
    assert answer is not None and answer.function == 0x06
    assert device.pack.discharge_mos and device.pack.charge_mos


def test_soc_write_and_range() -> None:
    device = make()
    assert ask(device, build_write_single(0xD2, d2.SET_SOC, 425)) is not None
    assert device.pack.snapshot().soc == pytest.approx(42.5, abs=0.1)
    refused = ask(device, build_write_single(0xD2, d2.SET_SOC, 1001))
    assert refused is not None and refused.is_exception and refused.exception_code == ILLEGAL_VALUE
    assert device.pack.snapshot().soc == pytest.approx(42.5, abs=0.1)


def test_daly_write_multiple_has_no_byte_count_and_a_short_answer() -> None:
    # The app's RTC write from the btsnoop (daly.md §3.1).
    device = make()
    rtc = bytes.fromhex("D2 10 00 D4 00 03 18 0B 07 09 34 1C F7 D8")
    answer = ask(device, rtc)
    assert answer is not None and answer.raw == bytes.fromhex("D2 10 00 D4 00 03") + answer.raw[-2:]
    assert len(answer.raw) == 8
    assert device.writes[-3:] == [(0xD4, 0x180B), (0xD5, 0x0709), (0xD6, 0x341C)]


def test_refused_multiple_write_changes_nothing() -> None:
    device = make()
    # 0xA5 = 0 alone would be fine, but 0xA6 = 5 is refused, so neither is applied.
    answer = ask(device, build_write_multiple(0xD2, d2.CHARGE_MOS, [0, 5]))
    assert answer is not None and answer.is_exception and answer.exception_code == ILLEGAL_VALUE
    assert device.pack.charge_mos is True
    assert device.writes == []


def test_exceptions_for_unknown_function_register_and_count() -> None:
    device = make()
    unknown = ask(device, append_crc(bytes.fromhex("D2 04 00 00 00 01")))
    assert unknown is not None and unknown.function == 0x84 and unknown.exception_code == ILLEGAL_FUNCTION
    register = ask(device, build_write_single(0xD2, 0x0300, 1))
    assert register is not None and register.exception_code == ILLEGAL_ADDRESS
    beyond = ask(device, build_read_request(0xD2, 0x1F0, 0x20))
    assert beyond is not None and beyond.exception_code == ILLEGAL_ADDRESS
    zero = ask(device, append_crc(bytes.fromhex("D2 03 00 00 00 00")))
    assert zero is not None and zero.exception_code == ILLEGAL_VALUE


def test_x81_boards_answer_only_their_own_address() -> None:
    boards = [make("x81", board) for board in (1, 2, 3)]
    request = build_read_request(0x82, x81.RT1.start, x81.RT1.count)
    answers = [ask(device, request) for device in boards]
    assert answers[0] is None and answers[2] is None
    assert answers[1] is not None and answers[1].address == 0x52


def test_x81_status_and_writes() -> None:
    device = make("x81", 2, cells=40)
    regs = read(device, x81.RT1.start, x81.RT1.count) | read(device, x81.RT2.start, x81.RT2.count)
    status = x81.decode_status(regs)
    assert len(status.cells_mv) == 40 and status.current == CURRENT_A
    for register, value in ((x81.DISCHARGE_MOS, 0), (x81.SET_SOC, 777)):
        answer = ask(device, build_write_single(0x82, register, value))
        assert answer is not None and answer.raw == build_write_single(0x52, register, value)
    assert device.pack.discharge_mos is False
    assert x81.decode_status(read(device, 0, 64) | read(device, 0x41, 62)).soc == pytest.approx(77.7, abs=0.1)
    version = decode_table(x81.VERSION, read(device, x81.VERSION_BLOCK.start, x81.VERSION_BLOCK.count))
    assert version["serial_number"] == "SIM0002"


def test_inverted_current_and_missing_mos_sensor() -> None:
    device = make(invert_current=True, mos_sensor=False)
    regs = read(device, 0, 62) | read(device, d2.MOS_BLOCK.start, d2.MOS_BLOCK.count)
    assert d2.decode_status(regs).current == -CURRENT_A
    assert not d2.mos_temperature_usable(regs)


def test_family_limits() -> None:
    with pytest.raises(ValueError, match="32 cells"):
        make("d2", cells=40)
    with pytest.raises(ValueError, match="family"):
        make("a5")
