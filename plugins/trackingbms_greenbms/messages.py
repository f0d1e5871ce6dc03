"""Green-BMS lines as typed messages: the token sequences the firmware prints, decoded and encoded."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from trackingbms_greenbms.codec import (
    CELL_FIELDS,
    FIXED_FIELDS,
    FLAG_NAMES,
    OVERVIEW_FIELDS,
    PARAMETERS,
    DecodedToken,
    decode_token,
)
from trackingbms_greenbms.errors import GreenBmsProtocolError
from trackingbms_greenbms.framing import Token

__all__ = [
    "SETTINGS_BLOCKS",
    "CellData",
    "Cells",
    "Heartbeat",
    "KeepAliveMarker",
    "Message",
    "Overview",
    "Parameters",
    "SettingsEnd",
    "decode_line",
    "encode_cells",
    "encode_heartbeat",
    "encode_keepalive_marker",
    "encode_overview",
    "encode_parameters",
    "encode_settings_end",
]

# The four lines of the settings dump, in the order the firmware prints them (page 4, x4 = 1..4).
SETTINGS_BLOCKS: tuple[tuple[int, ...], ...] = (
    (12, 14, 24, 26, 28, 30),
    (60, 70, 72, 74, 76, 2),
    (34, 36, 38, 40, 44, 32),
    (48, 50, 52, 54, 56, 58, 62),
)
# Parameter lines: the dump blocks, capacity + cell count (#h1 on page 2), and one parameter
# alone (page 1 password, or the echo after a write).
_PARAMETER_SHAPES = frozenset({*SETTINGS_BLOCKS, (12, 14), *((n,) for n in PARAMETERS)})
_OVERVIEW_SHAPE = tuple(("g", n) for n in OVERVIEW_FIELDS)
_CELL_LETTERS = tuple(CELL_FIELDS)  # v, t, u, z: the order of a cell's tokens


@dataclass(frozen=True, slots=True)
class Overview:
    """Page 2: the pack (current positive while charging)."""

    pack_voltage: float
    current: float
    soc: int
    cell_max: float
    cell_min: float
    charge_status: int


@dataclass(frozen=True, slots=True)
class CellData:
    """One cell of page 3."""

    index: int
    voltage: float
    pole_temperature: int
    resistor_temperature: int
    flags: frozenset[str] = frozenset()


@dataclass(frozen=True, slots=True)
class Cells:
    """Page 3: one line carries two cells, k (odd) and k + 1."""

    cells: tuple[CellData, ...]


@dataclass(frozen=True, slots=True)
class Parameters:
    """Parameter values by number (= EEPROM address)."""

    values: Mapping[int, int] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class KeepAliveMarker:
    """``#m000``: printed on every 3rd overview line."""


@dataclass(frozen=True, slots=True)
class SettingsEnd:
    """``#f000``: the settings dump went round."""


@dataclass(frozen=True, slots=True)
class Heartbeat:
    """Every 5 s on any page: sign-of-life counter and the global alarm."""

    counter: int
    alarm: bool


Message = Overview | Cells | Parameters | KeepAliveMarker | SettingsEnd | Heartbeat


def decode_line(tokens: Sequence[Token]) -> Message:
    """Decode the tokens of one line; raises GreenBmsProtocolError for a bad value or an unknown shape.

    The protocol has no checksum. The token sequence of each line is fixed by the firmware, so
    a line that lost bytes or ran into the next one shows up as an unknown sequence.
    """
    decoded = [decode_token(token) for token in tokens]
    shape = tuple((t.letter, t.number) for t in tokens)
    if shape == _OVERVIEW_SHAPE:
        return Overview(*(d.value for d in decoded))
    if _is_cell_pair(shape):
        return Cells((_cell(decoded[:4]), _cell(decoded[4:])))
    if shape and all(letter == "p" for letter, _ in shape) and tuple(n for _, n in shape) in _PARAMETER_SHAPES:
        return Parameters({d.token.number: d.value for d in decoded})
    if shape == (("m", 0),):
        return KeepAliveMarker()
    if shape == (("f", 0),):
        return SettingsEnd()
    if shape == (("i", 0), ("i", 1)):
        return Heartbeat(decoded[0].value, bool(decoded[1].value))
    codes = " ".join(t.code for t in tokens) or "nothing"
    raise GreenBmsProtocolError(f"the firmware sends no line of {codes}")


def _is_cell_pair(shape: tuple[tuple[str, int], ...]) -> bool:
    # Cells k = 2*x3 - 1 and j = 2*x3 (Control_Unit_2_1.ino page 3): k is odd.
    if len(shape) != 8 or tuple(letter for letter, _ in shape) != _CELL_LETTERS * 2:
        return False
    first = shape[0][1]
    return first % 2 == 1 and all(number == first + index // 4 for index, (_, number) in enumerate(shape))


def _cell(decoded: Sequence[DecodedToken]) -> CellData:
    voltage, pole, resistor, status = (d.value for d in decoded)
    flags = frozenset(name for name, bit in zip(FLAG_NAMES, status, strict=True) if bit == "1")
    return CellData(decoded[0].token.number, voltage, pole, resistor, flags)


def _line(tokens: Sequence[tuple[str, int, object]]) -> bytes:
    parts = []
    for letter, number, value in tokens:
        spec = CELL_FIELDS[letter] if letter in CELL_FIELDS else FIXED_FIELDS[(letter, number)]
        parts.append(f"#{letter}{number:03d}{spec.encode(value)}")
    # println: every token opened by '$', the line closed by '$' and CR LF.
    return ("$" + "$".join(parts) + "$\r\n").encode("ascii")


def encode_overview(overview: Overview) -> bytes:
    """The page 2 line."""
    values = (
        overview.pack_voltage,
        overview.current,
        overview.soc,
        overview.cell_max,
        overview.cell_min,
        overview.charge_status,
    )
    return _line([("g", number, value) for number, value in zip(OVERVIEW_FIELDS, values, strict=True)])


def encode_cells(cells: Sequence[CellData]) -> bytes:
    """A page 3 line with the given cells (the firmware always sends two)."""
    tokens: list[tuple[str, int, object]] = []
    for cell in cells:
        status = "".join("1" if name in cell.flags else "0" for name in FLAG_NAMES)
        values = (cell.voltage, cell.pole_temperature, cell.resistor_temperature, status)
        tokens += [(letter, cell.index, value) for letter, value in zip(_CELL_LETTERS, values, strict=True)]
    return _line(tokens)


def encode_parameters(values: Mapping[int, int], numbers: Sequence[int]) -> bytes:
    """A line of parameters, in the order given."""
    return _line([("p", number, values[number]) for number in numbers])


def encode_keepalive_marker() -> bytes:
    """``$#m000$``."""
    return _line([("m", 0, None)])


def encode_settings_end() -> bytes:
    """``$#f000$``."""
    return _line([("f", 0, None)])


def encode_heartbeat(counter: int, alarm: bool) -> bytes:
    """``$#i000<counter>$#i001<alarm>$``."""
    return _line([("i", 0, counter), ("i", 1, int(alarm))])
