"""The foxBMS DBC files: which one to load (layout, firmware version, own file) and what is in it.

The bundled files are the official foxBMS 2 DBCs (``dbc/README.md``: source commits, BSD-3-Clause
license of Fraunhofer IISB): ``foxbms.dbc`` (v1.7.0 … v1.11.0) and ``foxbms-v1.6.0.dbc``.
"""

from __future__ import annotations

import enum
import functools
import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import cantools
from cantools.database.can import Database, Message

from trackingbms_foxbms.errors import FoxbmsProtocolError
from trackingbms_foxbms.tables import ROLES, Layout

__all__ = [
    "BUNDLED",
    "FlagPolarity",
    "FoxbmsDbc",
    "Layout",
    "LayoutDetector",
    "MuxField",
    "Slot",
    "layout_for_firmware",
    "load_dbc",
    "parse_firmware",
    "polarity_for",
]

DBC_DIR = Path(__file__).with_name("dbc")
BUNDLED: dict[Layout, Path] = {Layout.CURRENT: DBC_DIR / "foxbms.dbc", Layout.V1_6: DBC_DIR / "foxbms-v1.6.0.dbc"}
_CELL = re.compile(r"^cellvoltage_(\d{3})$", re.IGNORECASE)
_TEMP = re.compile(r"^celltemperature_(\d{3})$", re.IGNORECASE)


class FlagPolarity(enum.StrEnum):
    """What a 1 in a ``..._invalidFlag`` signal means; it changed between releases."""

    ONE_MEANS_VALID = "one_means_valid"
    ONE_MEANS_INVALID = "one_means_invalid"


def parse_firmware(text: str) -> tuple[int, int, int]:
    """``"1.7"``, ``"v1.10.0"`` -> (major, minor, patch); ValueError for anything else."""
    match = re.fullmatch(r"v?(\d+)\.(\d+)(?:\.(\d+))?", text.strip())
    if match is None:
        raise ValueError(f"expected a foxBMS 2 version such as 1.7 or 1.11.0, got {text!r}")
    return int(match[1]), int(match[2]), int(match[3] or 0)


def layout_for_firmware(version: tuple[int, int, int]) -> Layout:
    """v1.7.0 (2024-08) moved every identifier (legacy.md §1.7)."""
    return Layout.V1_6 if version < (1, 7, 0) else Layout.CURRENT


def polarity_for(layout: Layout, firmware: tuple[int, int, int] | None) -> FlagPolarity:
    """The invalid-flag polarity of a release, read from the firmware's CAN TX callbacks.

    ``can_cbs_tx_cell-voltages.c`` writes 1 when ``invalidCellVoltage`` is true (the flag means
    "invalid", as its name says) at v1.6.0 (06d3878f) and v1.7.0 (5d9cfbab). From v1.8.0 on, the
    voltage and temperature callbacks write 1 when the value is VALID: v1.8.0 (f94839c7, both
    callbacks), v1.9.0 (dc64407a, both), v1.10.0 (temperatures) and v1.11.0 (308028fb, voltages),
    which is what the current DBC's value table says (0 "Invalid", 1 "Valid"; legacy.md §1.5).
    """
    if firmware is not None:
        return FlagPolarity.ONE_MEANS_INVALID if firmware < (1, 8, 0) else FlagPolarity.ONE_MEANS_VALID
    return FlagPolarity.ONE_MEANS_INVALID if layout is Layout.V1_6 else FlagPolarity.ONE_MEANS_VALID


@dataclass(frozen=True, slots=True)
class Slot:
    """One cell voltage or temperature in a multiplexed frame: 0-based global index and signals."""

    index: int
    value: str
    flag: str | None


@dataclass(frozen=True, slots=True)
class MuxField:
    """A multiplexer that sits inside data byte 0 (all foxBMS multiplexers do): shift and width."""

    signal: str
    shift: int
    width: int

    def read(self, data: bytes) -> int:
        """The raw multiplexer value of a frame."""
        return (data[0] >> self.shift) & ((1 << self.width) - 1)

    def write(self, data: bytes, value: int) -> bytes:
        """The frame with its multiplexer replaced."""
        mask = ((1 << self.width) - 1) << self.shift
        return bytes([(data[0] & ~mask & 0xFF) | ((value << self.shift) & mask), *data[1:]])


class FoxbmsDbc:
    """A loaded foxBMS DBC with its messages found by role and its multiplexed cell slots."""

    def __init__(self, db: Database, layout: Layout, path: Path) -> None:
        self.db = db
        self.layout = layout
        self.path = path
        by_name = {m.name: m for m in db.messages}
        self.messages: dict[str, Message] = {
            role: by_name[names[layout]] for role, names in ROLES.items() if names.get(layout) in by_name
        }
        self.role_of: dict[int, str] = {m.frame_id: role for role, m in self.messages.items()}
        self.mux: dict[str, MuxField] = {m.name: f for m in db.messages if (f := _mux_field(m)) is not None}
        self.cell_slots = self._slots("cell_voltages", _CELL)
        self.temp_slots = self._slots("cell_temperatures", _TEMP)

    @property
    def label(self) -> str:
        """How messages name this DBC: the layout, or the file for an own DBC."""
        return self.layout.value if self.path in BUNDLED.values() else str(self.path)

    def message(self, role: str) -> Message | None:
        """The message of a role, if this DBC has it."""
        return self.messages.get(role)

    def _slots(self, role: str, pattern: re.Pattern[str]) -> dict[int, tuple[Slot, ...]]:
        message = self.messages.get(role)
        if message is None:
            return {}
        by_mux: dict[int, list[Slot]] = {}
        names = {s.name for s in message.signals}
        for signal in message.signals:
            match = pattern.match(signal.name)
            if match is None or not signal.multiplexer_ids:
                continue
            flag = f"{signal.name}_invalidFlag"
            slot = Slot(int(match[1]), signal.name, flag if flag in names else None)
            for mux in signal.multiplexer_ids:
                by_mux.setdefault(mux, []).append(slot)
        return {mux: tuple(sorted(slots, key=lambda s: s.index)) for mux, slots in by_mux.items()}


def _mux_field(message: Message) -> MuxField | None:
    for signal in message.signals:
        if not signal.is_multiplexer:
            continue
        # Motorola start bit = MSB in sawtooth numbering (legacy.md §1.2); byte 0 = bits 0..7.
        lsb = signal.start - signal.length + 1
        if signal.byte_order == "big_endian" and signal.start < 8 and lsb >= 0:
            return MuxField(signal.name, lsb, signal.length)
    return None


def _detect_layout(db: Database) -> Layout:
    names = {m.name for m in db.messages}
    for layout in (Layout.CURRENT, Layout.V1_6):
        if ROLES["pack_values"][layout] in names and ROLES["cell_voltages"][layout] in names:
            return layout
    raise FoxbmsProtocolError("the DBC has neither the f_* (v1.7+) nor the foxBMS_* (v1.6) pack and cell messages")


@functools.lru_cache(maxsize=8)
def load_dbc(path: Path, layout: Layout | None = None) -> FoxbmsDbc:
    """Load a DBC (slow: about 0.4 s, so call it in a worker thread); cached per file and layout."""
    try:
        db = cantools.database.load_file(str(path), strict=False)
    except Exception as err:  # cantools raises parser, OS and Unicode errors alike
        raise FoxbmsProtocolError(f"cannot load DBC {path}: {err}") from err
    if not isinstance(db, Database):
        raise FoxbmsProtocolError(f"{path} is not a CAN database")
    return FoxbmsDbc(db, layout or _detect_layout(db), path)


# Periodic identifiers that exist in one layout only (legacy.md §1.3 and §1.7): 0x220 is
# BmsState in both and 0x240/0x250 change meaning, so they say nothing about the layout; 0x230
# (f_PackMinMaxCellTemperature) is left out because it is the v1.6 state request a VCU sends.
_CURRENT_ONLY = frozenset({0x219, 0x231, 0x232, 0x233, 0x234, 0x235, 0x241, 0x242, 0x243, 0x244, 0x245, 0x260})
_V1_6_ONLY = frozenset({0x223, 0x224, 0x225, 0x226, 0x281, 0x282, 0x283})
_EVIDENCE = 3


class LayoutDetector:
    """Picks the layout from the identifiers on the bus (``dbc_version: auto``)."""

    def __init__(self) -> None:
        self.hits = {Layout.CURRENT: 0, Layout.V1_6: 0}

    def feed(self, can_ids: Iterable[int]) -> Layout | None:
        """Count identifiers; the layout once one side has 3 hits and three times the other's."""
        for can_id in can_ids:
            if can_id in _CURRENT_ONLY:
                self.hits[Layout.CURRENT] += 1
            elif can_id in _V1_6_ONLY:
                self.hits[Layout.V1_6] += 1
        current, old = self.hits[Layout.CURRENT], self.hits[Layout.V1_6]
        if current >= _EVIDENCE and current >= 3 * old:
            return Layout.CURRENT
        if old >= _EVIDENCE and old >= 3 * current:
            return Layout.V1_6
        return None
