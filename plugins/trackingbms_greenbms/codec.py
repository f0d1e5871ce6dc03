"""Green-BMS token values and line shapes: declarative field tables, pure decode and encode (legacy.md §3.3)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from trackingbms_greenbms.errors import GreenBmsProtocolError
from trackingbms_greenbms.framing import Token

# How the firmware prints each kind of value (Control_Unit_2_1.ino println statements):
# String(float, 1) / String(float) = 2 decimals / String(int). Digit counts are bounded so a
# garbled line cannot make a huge number.
_FORMATS: dict[str, tuple[re.Pattern[str], str]] = {
    "dec1": (re.compile(r"-?[0-9]{1,6}\.[0-9]"), "a number with 1 decimal"),
    "dec2": (re.compile(r"-?[0-9]{1,6}\.[0-9]{2}"), "a number with 2 decimals"),
    "current": (re.compile(r"-?[0-9]{1,6}(\.[0-9]{2})?"), "a current with 0 or 2 decimals"),
    "int": (re.compile(r"-?[0-9]{1,10}"), "an integer"),
    "flags": (re.compile(r"[01]{6}"), "6 flags 0/1"),
    "empty": (re.compile(r""), "empty"),
}
INT16 = (-32768, 32767)
# cell[i].millivolt is a 16-bit int; volt = millivolt / 1000 (Control_Unit_2_1.ino).
_CELL_VOLTS = (-32.768, 32.767)
# Temperatures are a byte mapped 0..255 -> -40..125 °C (legacy.md §3.2); 0 is what a module
# that never answered leaves behind.
TEMPERATURE_RANGE = (-40, 125)
NO_DATA_TEMPERATURE = -40


@dataclass(frozen=True, slots=True)
class Field:
    """One token's value: its name, print format, unit and the range the firmware can produce."""

    name: str
    fmt: str
    unit: str | None = None
    low: float | None = None
    high: float | None = None
    text: str = ""

    def decode(self, raw: str) -> Any:
        """The value of ``raw``; raises GreenBmsProtocolError when the firmware cannot have printed it."""
        pattern, described = _FORMATS[self.fmt]
        if not pattern.fullmatch(raw):
            raise GreenBmsProtocolError(f"{self.name}: {raw!r} is not {described}")
        if self.fmt == "empty":
            return None
        if self.fmt == "flags":
            return raw
        value: int | float = int(raw) if self.fmt == "int" else float(raw)
        # 2 decimals if -10 < I < 10, else 0 decimals (bluetooth_protocol.json #g002).
        if self.fmt == "current" and ("." in raw) != (abs(value) < 10):
            raise GreenBmsProtocolError(f"{self.name}: {raw!r} has the wrong number of decimals for its size")
        if (self.low is not None and value < self.low) or (self.high is not None and value > self.high):
            raise GreenBmsProtocolError(f"{self.name}: {raw} is outside {self.low}..{self.high}")
        return value

    def encode(self, value: Any) -> str:
        """The value as the firmware prints it."""
        if self.fmt == "empty":
            return ""
        if self.fmt in ("flags", "int"):
            return str(value) if self.fmt == "flags" else str(int(value))
        if self.fmt == "current":
            return arduino_float(value, 2 if -10 < value < 10 else 0)
        return arduino_float(value, 1 if self.fmt == "dec1" else 2)


def arduino_float(value: float, decimals: int) -> str:
    """Arduino ``String(float, decimals)``: rounded half away from zero (fixtures README)."""
    quantum = Decimal(1).scaleb(-decimals)
    return f"{Decimal(repr(float(value))).quantize(quantum, rounding=ROUND_HALF_UP):f}"


# Page 2, overview ('#g'), in the order of the line (bluetooth_protocol.json).
OVERVIEW_FIELDS: dict[int, Field] = {
    1: Field("pack_voltage", "dec1", "V", 0, 1500, "pack voltage, sum of the cells"),
    2: Field("current", "current", "A", -5000, 5000, "pack current, + while charging, 0.5 A steps"),
    3: Field("soc", "int", "%", 0, 100, "state of charge (coulomb counting)"),
    4: Field("cell_max", "dec2", "V", *_CELL_VOLTS, "highest cell voltage"),
    5: Field("cell_min", "dec2", "V", *_CELL_VOLTS, "lowest cell voltage"),
    6: Field("charge_status", "int", None, 0, 2, "0 standby, 1 charging, 2 discharging"),
}
CHARGE_STATUS = {0: "standby", 1: "charging", 2: "discharging"}
# Page 3, per cell: the number of the token is the cell's number.
CELL_FIELDS: dict[str, Field] = {
    "v": Field("voltage", "dec2", "V", *_CELL_VOLTS, "cell voltage (10 mV steps)"),
    "t": Field("pole_temperature", "int", "°C", *TEMPERATURE_RANGE, "cell pole (terminal) temperature"),
    "u": Field("resistor_temperature", "int", "°C", *TEMPERATURE_RANGE, "balancing resistor temperature"),
    "z": Field("status", "flags", None, None, None, "6 status flags"),
}
# The '#z' flags, in order (bluetooth_protocol.json #zNNN).
FLAG_NAMES = (
    "very_high_voltage",
    "balancing",
    "low_voltage",
    "error",
    "pole_temperature_high",
    "resistor_temperature_high",
)
# '#pNNN': NNN is also the EEPROM address (bluetooth_protocol.json #pNNN).
PARAMETERS: dict[int, Field] = {
    2: Field("password", "int", None, *INT16, "app password (sent in clear)"),
    12: Field("capacity", "int", "Ah", 0, 65535, "battery capacity"),
    14: Field("cell_count", "int", None, *INT16, "number of cells"),
    24: Field("very_high_voltage", "int", "mV", *INT16, "very high cell voltage alarm"),
    26: Field("very_high_voltage_reset", "int", "mV", *INT16, "very high voltage reset"),
    28: Field("high_voltage", "int", "mV", *INT16, "high cell voltage, stops charging"),
    30: Field("high_voltage_reset", "int", "mV", *INT16, "high voltage reset"),
    32: Field("balance_voltage", "int", "mV", *INT16, "balancing starts"),
    34: Field("balance_voltage_reset", "int", "mV", *INT16, "balancing reset"),
    36: Field("low_voltage", "int", "mV", *INT16, "low cell voltage alarm, stops discharging"),
    38: Field("low_voltage_reset", "int", "mV", *INT16, "low voltage reset"),
    40: Field("status_delay", "int", "ms", 0, 2**32 - 1, "delay before a status is set"),
    44: Field("cell_timeout", "int", "ms", 0, 2**32 - 1, "cell module communication timeout"),
    48: Field("pole_temperature_high", "int", "°C", *INT16, "pole temperature alarm"),
    50: Field("pole_temperature_reset", "int", "°C", *INT16, "pole temperature reset"),
    52: Field("resistor_temperature_high", "int", "°C", *INT16, "balancing resistor temperature alarm"),
    54: Field("resistor_temperature_reset", "int", "°C", *INT16, "balancing resistor temperature reset"),
    56: Field("balance_difference_on", "int", "mV", *INT16, "cell difference that starts balancing"),
    58: Field("balance_difference_off", "int", "mV", *INT16, "cell difference that stops balancing"),
    60: Field("balance_current", "int", "%", *INT16, "balancing current"),
    62: Field("charge_voltage_offset", "int", "mV", *INT16, "charge voltage offset"),
    70: Field("current_sensor_max", "int", "A", *INT16, "current at 5 V sensor output"),
    72: Field("current_sensor_min", "int", "A", *INT16, "current at 0 V sensor output"),
    74: Field("current_gain", "int", "‰", *INT16, "current gain"),
    76: Field("current_offset", "int", "mA", *INT16, "current offset"),
}
_OTHER_FIELDS: dict[tuple[str, int], Field] = {
    ("m", 0): Field("keepalive_marker", "empty", text="overview page marker, every 3rd line"),
    ("f", 0): Field("settings_end", "empty", text="end of the settings dump"),
    ("i", 0): Field("sign_of_life", "int", None, 0, 999, "Control Unit sign-of-life counter, every 5 s"),
    ("i", 1): Field("global_alarm", "int", None, 0, 1, "1 when any cell is in alarm"),
}
FIXED_FIELDS: dict[tuple[str, int], Field] = {
    **{("g", n): f for n, f in OVERVIEW_FIELDS.items()},
    **{("p", n): f for n, f in PARAMETERS.items()},
    **_OTHER_FIELDS,
}


@dataclass(frozen=True, slots=True)
class DecodedToken:
    """A token with its field and value; ``cell`` is set for per-cell tokens."""

    token: Token
    field: Field
    value: Any
    cell: int | None = None


def decode_token(token: Token) -> DecodedToken:
    """Decode one token; raises GreenBmsProtocolError for an unknown code or a bad value."""
    if token.letter in CELL_FIELDS:
        if token.number == 0:
            raise GreenBmsProtocolError(f"{token.code}: cells are numbered from 1")
        field = CELL_FIELDS[token.letter]
        return DecodedToken(token, field, field.decode(token.value), token.number)
    fixed = FIXED_FIELDS.get((token.letter, token.number))
    if fixed is None:
        raise GreenBmsProtocolError(f"unknown token {token.code}")
    return DecodedToken(token, fixed, fixed.decode(token.value))
