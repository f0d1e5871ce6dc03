"""Green-BMS framing: bytes -> CR LF lines -> '$'-closed tokens, resynchronising on junk (legacy.md §3.3)."""

from __future__ import annotations

import re
from dataclasses import dataclass

from trackingbms_greenbms.errors import GreenBmsProtocolError

__all__ = [
    "ALLOWED_COMMAND_CHARS",
    "MAX_LINE",
    "CommandFramer",
    "Line",
    "LineFramer",
    "Token",
    "command",
    "parse_line",
    "to_int",
]

# The longest line the firmware prints is a cells line (~90 characters); anything far longer has
# lost its line end, so it is dropped instead of growing the buffer.
MAX_LINE = 256
# A token is '#', one letter, exactly 3 digits, then its value up to the closing '$'
# (bluetooth_protocol.json "framing": code = part[0:5], value = part[5:]).
_TOKEN = re.compile(rb"#([a-z])([0-9]{3})([\x20-\x7e]*)")
_TERMINATOR = re.compile(rb"[\r\n]")
# The firmware keeps only these characters of what the host sends and drops every other one
# (Control_Unit_2_1.ino, "data reading from HMI"; legacy.md §3.3).
ALLOWED_COMMAND_CHARS = frozenset("#0123456789shepgqrm-")
_COMMAND_LETTERS = frozenset("shepgqrm")
_LEADING_INT = re.compile(r"-?[0-9]+")
_COMMAND_ARGUMENT = re.compile(r"-?[0-9]*")


@dataclass(frozen=True, slots=True)
class Token:
    """One device-to-host token: ``#<letter><3 digits><value>``."""

    letter: str
    number: int
    value: str

    @property
    def code(self) -> str:
        """The 5-character code, e.g. ``#v001``."""
        return f"#{self.letter}{self.number:03d}"

    def __str__(self) -> str:
        return self.code + self.value


@dataclass(frozen=True, slots=True)
class Line:
    """The well-formed tokens of one received line and how many of its bytes were junk."""

    tokens: tuple[Token, ...]
    junk: int = 0


def parse_line(raw: bytes) -> Line:
    """Split one line (without its CR LF) into tokens; junk between and around tokens is skipped.

    A line is ``$tok$tok$...$``: text before the first '$' is junk, and text after the last '$'
    is a token that was never closed (a truncated line), so it is dropped too. Inside a closed
    part the token starts at its last '#', so noise glued in front of a token is cut off.
    """
    parts = raw.split(b"$")
    if len(parts) < 3:
        return Line((), len(raw))
    junk = len(parts[0]) + len(parts[-1])
    tokens: list[Token] = []
    for part in parts[1:-1]:
        start = part.rfind(b"#")
        match = _TOKEN.fullmatch(part, max(start, 0)) if start >= 0 else None
        if match is None:
            junk += len(part)
            continue
        junk += start
        letter, number, value = match.groups()
        tokens.append(Token(letter.decode("ascii"), int(number), value.decode("ascii")))
    return Line(tuple(tokens), junk)


class LineFramer:
    """Cut a device-to-host byte stream into lines of tokens.

    Lines end with CR LF (Arduino ``println``); either byte ends a line, so a lost CR or LF
    costs nothing. Decisions depend only on the bytes of one line, so the result does not depend
    on how the stream was chunked. Lines without any token are counted as junk, not returned.
    """

    def __init__(self, max_line: int = MAX_LINE) -> None:
        self.max_line = max_line
        self._buffer = bytearray()
        self._overflow = False
        self.skipped_bytes = 0

    @property
    def pending(self) -> int:
        """Bytes of an unfinished line held back until its line end arrives."""
        return len(self._buffer)

    def feed(self, chunk: bytes) -> list[Line]:
        """Add received bytes; return every line they complete."""
        lines: list[Line] = []
        start = 0
        while (match := _TERMINATOR.search(chunk, start)) is not None:
            self._append(chunk[start : match.start()])
            self._finish(lines)
            start = match.end()
        self._append(chunk[start:])
        return lines

    def reset(self) -> None:
        """Forget an unfinished line, e.g. after discarding stale input."""
        self._buffer.clear()
        self._overflow = False

    def _append(self, data: bytes) -> None:
        if self._overflow:
            self.skipped_bytes += len(data)
            return
        self._buffer += data
        if len(self._buffer) > self.max_line:
            # A line this long lost its end: drop it up to the next line end.
            self.skipped_bytes += len(self._buffer)
            self._buffer.clear()
            self._overflow = True

    def _finish(self, lines: list[Line]) -> None:
        if self._overflow:
            self._overflow = False
            return
        raw = bytes(self._buffer)
        self._buffer.clear()
        if not raw:
            return
        line = parse_line(raw)
        if line.tokens:
            self.skipped_bytes += line.junk
            lines.append(line)
        else:
            self.skipped_bytes += len(raw)


def command(letter: str, argument: int | str = "") -> bytes:
    """One host-to-device command line, e.g. ``command("s", 3)`` -> ``b"#s3\\n"``.

    The firmware drops characters outside ``# 0-9 s h e p g q r m -`` (legacy.md §3.3), so an
    argument must be an integer; anything else would reach the unit mangled.
    """
    text = str(argument)
    if letter not in _COMMAND_LETTERS or not _COMMAND_ARGUMENT.fullmatch(text):
        raise GreenBmsProtocolError(f"#{letter}{text} cannot be sent: the unit keeps only # 0-9 s h e p g q r m -")
    return f"#{letter}{text}\n".encode("ascii")


class CommandFramer:
    """The unit's side of host commands: keep allowed characters, cut lines at CR or LF.

    The firmware appends every allowed character to its line buffer and processes the buffer at
    CR or LF (Control_Unit_2_1.ino); empty lines do nothing. The cap only protects the simulator.
    """

    def __init__(self, max_line: int = 64) -> None:
        self.max_line = max_line
        self._line: list[str] = []

    def feed(self, data: bytes) -> list[str]:
        """Complete command lines in ``data``, filtered as the firmware filters them."""
        commands: list[str] = []
        for char in data.decode("latin-1"):
            if char in "\r\n":
                if self._line:
                    commands.append("".join(self._line))
                self._line.clear()
            elif char in ALLOWED_COMMAND_CHARS and len(self._line) < self.max_line:
                self._line.append(char)
        return commands


def to_int(text: str) -> int:
    """Arduino ``String.toInt()`` as the firmware parses command arguments: the leading integer, else 0."""
    match = _LEADING_INT.match(text)
    return int(match.group()) if match else 0
