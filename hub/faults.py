"""Fault injection for device simulators: the ways real links misbehave, at the byte level."""

from __future__ import annotations

import enum
import random
from collections.abc import Sequence
from dataclasses import dataclass

import voluptuous as vol


class Fault(enum.StrEnum):
    """A misbehaviour a simulator can show; protocol-specific ones are applied by the device."""

    ASLEEP = "asleep"  # answers nothing (a Daly board after its sleep time)
    GARBAGE = "garbage"  # junk bytes before the answer (noisy line)
    TRUNCATED = "truncated"  # the last frame of an answer is cut short
    BAD_CHECKSUM = "bad_checksum"  # the first frame's last byte is corrupted
    BAD_ECHO = "bad_echo"  # a write echo with a bad CRC (Daly D2 over BLE)
    LATE = "late"  # the answer comes after the host's timeout
    INVERTED_CURRENT = "inverted_current"  # discharge reported as positive current
    JUNK_CELLS = "junk_cells"  # garbage voltages in slots beyond the pack
    ALL_CELL_FRAMES = "all_cell_frames"  # all 16 cell frames instead of ceil(n/3)

    @classmethod
    def parse(cls, text: str) -> Fault:
        """A fault from its name ('bad-checksum' and 'bad_checksum' both work)."""
        try:
            return cls(text.strip().lower().replace("-", "_"))
        except ValueError as err:
            names = ", ".join(f.value for f in cls)
            raise ValueError(f"unknown fault {text!r} (known: {names})") from err


def fault_name(value: object) -> str:
    """Voluptuous validator for a fault name in a simulator's config (``faults: [garbage]``)."""
    try:
        return Fault.parse(str(value)).value
    except ValueError as err:
        raise vol.Invalid(str(err)) from err


# Faults the byte-level injector applies; the others are read by the simulated device.
BYTE_FAULTS = frozenset({Fault.ASLEEP, Fault.GARBAGE, Fault.TRUNCATED, Fault.BAD_CHECKSUM, Fault.LATE})
FOREVER = -1


@dataclass(frozen=True, slots=True)
class Answer:
    """What a simulator sends after applying faults: the bytes and how long to wait first."""

    data: bytes
    delay: float = 0.0


class FaultInjector:
    """Active faults, each for a number of answers or forever."""

    def __init__(self, seed: int | None = None, late_delay: float = 2.0) -> None:
        self._remaining: dict[Fault, int] = {}
        self._rng = random.Random(seed)
        self.late_delay = late_delay
        self.applied: dict[Fault, int] = {}

    def inject(self, fault: Fault | str, times: int = FOREVER) -> None:
        """Turn a fault on for the next ``times`` answers (FOREVER = until cleared)."""
        fault = Fault.parse(fault) if isinstance(fault, str) else fault
        self._remaining[fault] = times

    def clear(self, fault: Fault | str | None = None) -> None:
        """Turn one fault, or every fault, off."""
        if fault is None:
            self._remaining.clear()
        else:
            self._remaining.pop(Fault.parse(fault) if isinstance(fault, str) else fault, None)

    def active(self, fault: Fault) -> bool:
        """Whether a fault is on (device-level faults ask this)."""
        return self._remaining.get(fault, 0) != 0

    def use(self, fault: Fault) -> bool:
        """Consume one occurrence of a fault; True when it applies to this answer."""
        left = self._remaining.get(fault, 0)
        if left == 0:
            return False
        if left > 0:
            self._remaining[fault] = left - 1
        self.applied[fault] = self.applied.get(fault, 0) + 1
        return True

    def apply(self, frames: Sequence[bytes]) -> Answer | None:
        """The bytes to send for an answer made of ``frames`` (None: stay silent)."""
        if not frames or self.use(Fault.ASLEEP):
            return None
        out = [bytearray(frame) for frame in frames]
        if self.use(Fault.BAD_CHECKSUM):
            out[0][-1] ^= 0x5A
        if self.use(Fault.TRUNCATED):
            out[-1] = out[-1][: max(1, len(out[-1]) * 2 // 3)]
        data = b"".join(out)
        if self.use(Fault.GARBAGE):
            data = self.junk(7) + data
        return Answer(data, self.late_delay if self.use(Fault.LATE) else 0.0)

    def junk(self, size: int) -> bytes:
        """Random bytes that never contain a frame start used by the simulated protocols."""
        starts = {0xA5, 0xD2, 0x51}
        return bytes(self._rng.choice([b for b in range(256) if b not in starts]) for _ in range(size))
