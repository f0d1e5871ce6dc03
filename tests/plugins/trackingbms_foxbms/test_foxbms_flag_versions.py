"""The cell "invalid" flag per firmware release, from raw frames as each release sends them."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import voluptuous as vol
from trackingbms_foxbms.assembly import PackAssembler
from trackingbms_foxbms.codec import decode_frame, encode_frame
from trackingbms_foxbms.config import BATTERY_SCHEMA, FoxbmsOptions
from trackingbms_foxbms.dbc import FlagPolarity, FoxbmsDbc, Layout

# Mux 0 of the cell voltages with cells 1-4 at 3300-3303 mV and cell 2 measured INVALID by the BMS.
# v1.6.0 and v1.7.0 write 1 for an invalid value (can_cbs_tx_cell-voltages.c at 06d3878f / 5d9cfbab:
# invalidCellVoltage true -> 1); v1.11.0 writes 1 for a valid one (can_cbs_tx_f_cell-voltages.c at
# 308028fb: invalidCellVoltage false -> 1, the DBC's `0 "Invalid" 1 "Valid"`). Flags are bits 12-15.
ONE_MEANS_INVALID_FRAME = bytes.fromhex("00267233959CCCE7")  # flags 0 1 0 0
ONE_MEANS_VALID_FRAME = bytes.fromhex("00D67233959CCCE7")  # flags 1 0 1 1

RELEASES = [
    # firmware, cell-voltage identifier, frame as that release sends it
    ("1.6.0", 0x240, ONE_MEANS_INVALID_FRAME),
    ("1.7.0", 0x250, ONE_MEANS_INVALID_FRAME),
    ("1.11.0", 0x250, ONE_MEANS_VALID_FRAME),
]


def options(**entry: Any) -> FoxbmsOptions:
    return FoxbmsOptions.from_config(vol.Schema(BATTERY_SCHEMA)({"channel": "can0", **entry}), Path("/"))


def dbc_of(layout: Layout, current: FoxbmsDbc, old: FoxbmsDbc) -> FoxbmsDbc:
    return current if layout is Layout.CURRENT else old


def invalid_cells(asm: PackAssembler, can_id: int, data: bytes) -> tuple[tuple[float, ...], str | None]:
    """Cells and the text of the invalid-cell alarm after one pack frame and one cell frame."""
    role = "pack_values"
    values = (
        {"foxBMS_batteryVoltage": 13.2, "foxBMS_packCurrent": 0.0, "foxBMS_packPower": 0.0}
        if asm.dbc.layout is Layout.V1_6
        else {"BatteryVoltage": 13.2, "BusVoltage": 13.2, "Current": 0.0, "Power": 0.0}
    )
    asm.add(decode_frame(asm.dbc, *encode_frame(asm.dbc, role, values)))
    asm.add(decode_frame(asm.dbc, can_id, data))
    reading = asm.build("p")
    alarm = next((a.text for a in reading.alarms if a.code == "cell_voltage_invalid"), None)
    return reading.cells, alarm


@pytest.mark.parametrize(("firmware", "can_id", "frame"), RELEASES)
def test_each_release_flags_cell_2_only(
    current: FoxbmsDbc, old: FoxbmsDbc, firmware: str, can_id: int, frame: bytes
) -> None:
    opts = options(firmware=firmware, cells=4, temps=0)
    assert opts.layout is not None
    asm = PackAssembler(dbc_of(opts.layout, current, old), opts.settings(opts.layout))
    cells, alarm = invalid_cells(asm, can_id, frame)
    assert cells == (3.3, 3.301, 3.302, 3.303)  # an invalid cell keeps its value
    assert alarm == "Cell voltage measurement invalid (foxBMS flag): 2"


@pytest.mark.parametrize(("firmware", "can_id", "frame"), RELEASES)
def test_the_other_meaning_inverts_every_flag(
    current: FoxbmsDbc, old: FoxbmsDbc, firmware: str, can_id: int, frame: bytes
) -> None:
    # What a wrong `firmware` would give: the three good cells invalid, and the hint to fix it.
    opts = options(firmware=firmware, cells=4, temps=0)
    assert opts.layout is not None
    right = opts.settings(opts.layout).polarity
    wrong = next(p for p in FlagPolarity if p is not right)
    opts = options(firmware=firmware, cells=4, temps=0, invalid_flag=wrong.value)
    assert opts.layout is not None
    asm = PackAssembler(dbc_of(opts.layout, current, old), opts.settings(opts.layout))
    _, alarm = invalid_cells(asm, can_id, frame)
    assert alarm == "Cell voltage measurement invalid (foxBMS flag): 1, 3, 4"


def test_without_a_firmware_the_layout_decides(current: FoxbmsDbc, old: FoxbmsDbc) -> None:
    # The v1.6.0 DBC's releases all write 1 = invalid; the current DBC's table says 1 = valid.
    assert options(dbc_version="v1.6").settings(Layout.V1_6).polarity is FlagPolarity.ONE_MEANS_INVALID
    assert options(dbc_version="current").settings(Layout.CURRENT).polarity is FlagPolarity.ONE_MEANS_VALID
    choices = current.db.get_message_by_frame_id(0x250).get_signal_by_name("CellVoltage_001_invalidFlag").choices
    assert choices is not None and {int(k): str(v) for k, v in choices.items()} == {0: "Invalid", 1: "Valid"}
    decoded: Any = current.db.decode_message(0x250, ONE_MEANS_VALID_FRAME)
    assert decoded["CellVoltage_001_invalidFlag"] == "Invalid"
    assert decoded["CellVoltage_000_invalidFlag"] == "Valid"
