"""The bundled DBCs, the name tables against them, layout and flag-meaning selection."""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path
from typing import Any

import pytest
from trackingbms_foxbms.dbc import (
    _CURRENT_ONLY,
    _V1_6_ONLY,
    BUNDLED,
    FlagPolarity,
    FoxbmsDbc,
    Layout,
    LayoutDetector,
    layout_for_firmware,
    load_dbc,
    parse_firmware,
    polarity_for,
)
from trackingbms_foxbms.errors import FoxbmsProtocolError
from trackingbms_foxbms.tables import FIELDS, FLAGS, REQUEST_SIGNALS, ROLES, STRING_FIELDS

# sha256 of the official files (shared/fixtures/foxbms/README.md).
SHA256 = {
    Layout.CURRENT: "e5ed07db9871603c13fb8808166ff0b44f706d00af3f1d4ad4d32b67c32888ad",
    Layout.V1_6: "5fb3fc0a97ed4ed3ca11e72e88f4971293980821c451f5b5f3760b25859899d1",
}


@pytest.mark.parametrize("layout", list(Layout))
def test_bundled_dbc_is_the_official_file(layout: Layout) -> None:
    assert hashlib.sha256(BUNDLED[layout].read_bytes()).hexdigest() == SHA256[layout]
    assert (BUNDLED[layout].parent / "README.md").exists()  # source and license travel with the files


def test_dbcs_load_with_their_message_counts(current: FoxbmsDbc, old: FoxbmsDbc) -> None:
    assert len(current.db.messages) == 41  # legacy.md §1.8
    assert len(old.db.messages) == 27
    assert current.messages["pack_values"].frame_id == 0x233
    assert old.messages["pack_values"].frame_id == 0x222
    assert current.messages["cell_voltages"].frame_id == 0x250
    assert old.messages["cell_voltages"].frame_id == 0x240  # the same id is string state in v1.7+
    assert current.messages["state_request"].frame_id == 0x210
    assert old.messages["state_request"].frame_id == 0x230


@pytest.mark.parametrize("layout", list(Layout))
def test_every_name_in_the_tables_exists_in_its_dbc(layout: Layout, current: FoxbmsDbc, old: FoxbmsDbc) -> None:
    dbc = current if layout is Layout.CURRENT else old
    for role, names in ROLES.items():
        if layout in names:
            assert role in dbc.messages, role
    for table in (FIELDS, STRING_FIELDS):
        for name, where in table.items():
            if layout in where:
                role, signal = where[layout]
                dbc.messages[role].get_signal_by_name(signal)  # KeyError if the name is wrong
                assert name
    for spec in FLAGS:
        if layout in spec.names:
            dbc.messages[spec.role].get_signal_by_name(spec.names[layout])
    for signal in REQUEST_SIGNALS[layout]:
        dbc.messages["state_request"].get_signal_by_name(signal)


def test_most_flags_exist_in_both_layouts() -> None:
    only_current = {spec.code for spec in FLAGS if Layout.V1_6 not in spec.names}
    assert only_current == {"clamp30c_lost", "string_overcurrent"}


@pytest.mark.parametrize(
    ("ids", "layout"), [(_CURRENT_ONLY, Layout.CURRENT), (_V1_6_ONLY, Layout.V1_6)], ids=["current", "v1.6"]
)
def test_detection_ids_exist_in_exactly_one_layout(
    ids: frozenset[int], layout: Layout, current: FoxbmsDbc, old: FoxbmsDbc
) -> None:
    mine, other = (current, old) if layout is Layout.CURRENT else (old, current)
    mine_ids = {m.frame_id for m in mine.db.messages}
    other_ids = {m.frame_id for m in other.db.messages}
    assert ids <= mine_ids
    assert not ids & other_ids


def test_cell_and_temperature_slots_cover_the_dbc(current: FoxbmsDbc, old: FoxbmsDbc) -> None:
    for dbc in (current, old):
        assert sorted(dbc.cell_slots) == list(range(54))  # 216 cells, 4 per frame (legacy.md §1.5)
        assert sorted(dbc.temp_slots) == list(range(30))  # 180 sensors, 6 per frame
        assert [s.index for s in dbc.cell_slots[4]] == [16, 17, 18, 19]
        assert all(s.flag is not None for slots in dbc.cell_slots.values() for s in slots)
        assert [s.index for s in dbc.temp_slots[1]] == [6, 7, 8, 9, 10, 11]


def test_mux_fields_read_and_write_like_cantools(current: FoxbmsDbc) -> None:
    message = current.messages["string_state"]  # mux 3|4: the low nibble of byte 0
    field = current.mux[message.name]
    assert (field.shift, field.width) == (0, 4)
    data = field.write(bytes.fromhex("F0" + "00" * 7), 0)
    decoded: Any = message.decode(data, decode_choices=False)
    assert decoded["f_StringState_Mux"] == 0
    assert field.read(field.write(data, 9)) == 9
    assert field.write(data, 9)[0] == 0xF9  # the other bits of byte 0 are kept
    values = current.mux[current.messages["string_values"].name]  # 7|3: the top three bits
    assert (values.shift, values.width) == (5, 3)


@pytest.mark.parametrize(
    ("text", "version"), [("1.7", (1, 7, 0)), ("v1.11.0", (1, 11, 0)), (" 1.6.0 ", (1, 6, 0)), ("2.0.1", (2, 0, 1))]
)
def test_parse_firmware(text: str, version: tuple[int, int, int]) -> None:
    assert parse_firmware(text) == version


@pytest.mark.parametrize("text", ["", "1", "1.x", "latest", "1.7.0.1"])
def test_parse_firmware_rejects(text: str) -> None:
    with pytest.raises(ValueError, match="version"):
        parse_firmware(text)


def test_layout_and_flag_meaning_by_firmware() -> None:
    assert layout_for_firmware((1, 6, 0)) is Layout.V1_6
    assert layout_for_firmware((1, 7, 0)) is Layout.CURRENT
    # v1.6.0 and v1.7.0 write 1 when the value is invalid; v1.8.0 on when it is valid (dbc.polarity_for).
    assert polarity_for(Layout.CURRENT, (1, 7, 0)) is FlagPolarity.ONE_MEANS_INVALID
    assert polarity_for(Layout.CURRENT, (1, 7, 9)) is FlagPolarity.ONE_MEANS_INVALID
    assert polarity_for(Layout.CURRENT, (1, 8, 0)) is FlagPolarity.ONE_MEANS_VALID
    assert polarity_for(Layout.CURRENT, (1, 9, 0)) is FlagPolarity.ONE_MEANS_VALID
    assert polarity_for(Layout.CURRENT, (1, 11, 0)) is FlagPolarity.ONE_MEANS_VALID
    assert polarity_for(Layout.V1_6, None) is FlagPolarity.ONE_MEANS_INVALID
    assert polarity_for(Layout.CURRENT, None) is FlagPolarity.ONE_MEANS_VALID


def test_layout_detector_needs_evidence() -> None:
    detector = LayoutDetector()
    assert detector.feed([0x220, 0x240, 0x250, 0x35C]) is None  # shared or foreign ids say nothing
    assert detector.feed([0x233, 0x231]) is None
    assert detector.feed([0x230]) is None  # the v1.6 state request from a VCU says nothing either
    assert detector.feed([0x232]) is Layout.CURRENT
    mixed = LayoutDetector()
    assert mixed.feed([0x223, 0x224, 0x233, 0x225, 0x231]) is None  # 3 old vs 2 new: not three times as many
    assert mixed.feed([0x226, 0x281, 0x282]) is Layout.V1_6


def test_own_dbc_file_layout_from_its_names(tmp_path: Path) -> None:
    path = tmp_path / "mine.dbc"
    shutil.copy(BUNDLED[Layout.V1_6], path)
    dbc = load_dbc(path)
    assert dbc.layout is Layout.V1_6
    assert dbc.label == str(path)


def test_unusable_dbc_files_raise_the_protocol_error(tmp_path: Path) -> None:
    with pytest.raises(FoxbmsProtocolError, match="cannot load"):
        load_dbc(tmp_path / "missing.dbc")
    other = tmp_path / "other.dbc"
    other.write_text('VERSION ""\n\nBU_: X\n\nBO_ 100 Foo: 8 X\n SG_ Bar : 0|8@1+ (1,0) [0|255] "" X\n')
    with pytest.raises(FoxbmsProtocolError, match="neither"):
        load_dbc(other)
