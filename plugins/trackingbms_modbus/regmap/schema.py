"""The voluptuous schema of a register-map YAML file (shape and value checks; cross-checks are in checks.py)."""

from __future__ import annotations

import re
from typing import Any

import voluptuous as vol

from hub.reading import TemperatureKind
from trackingbms_modbus.regmap.model import LEVEL_NONE, Function, ValueType

__all__ = [
    "FUNCTION_NAMES",
    "MAP_SCHEMA",
    "SERIAL_KEYS",
    "address",
    "function_code",
    "parity",
    "slave_id",
]

_NAME = re.compile(r"^[a-z][a-z0-9_]{0,63}$")
# Function codes by number or by the table's name (Modbus spec names, and the usual short forms).
FUNCTION_NAMES: dict[str, Function] = {
    "coils": Function.COILS,
    "coil": Function.COILS,
    "discrete_inputs": Function.DISCRETE_INPUTS,
    "discrete": Function.DISCRETE_INPUTS,
    "holding": Function.HOLDING,
    "holding_registers": Function.HOLDING,
    "input": Function.INPUT,
    "input_registers": Function.INPUT,
}


def identifier(value: Any) -> str:
    """A register or bit name: lower-case letters, digits and '_' (it becomes an alarm code)."""
    if not isinstance(value, str) or not _NAME.match(value):
        raise vol.Invalid("expected a name of lower-case letters, digits and '_' starting with a letter")
    return value


def _integer(value: Any, what: str) -> int:
    if isinstance(value, bool):
        raise vol.Invalid(f"expected {what}")
    if isinstance(value, int):
        return value
    if isinstance(value, str):
        try:
            return int(value.strip().replace("_", ""), 0)
        except ValueError:
            pass
    raise vol.Invalid(f"expected {what}")


def address(value: Any) -> int:
    """A register address 0..65535, as a number or a string such as '0x1000'."""
    number = _integer(value, "an address such as 0x1000 or 4096")
    if not 0 <= number <= 0xFFFF:
        raise vol.Invalid(f"address {number} is outside 0..65535")
    return number


def bit_index(value: Any) -> int:
    """A bit number inside a bitfield or coil block."""
    number = _integer(value, "a bit number")
    if not 0 <= number <= 1999:
        raise vol.Invalid(f"bit {number} is outside 0..1999")
    return number


def enum_key(value: Any) -> int:
    """A raw value of an enumerated register."""
    return _integer(value, "an integer value")


def function_code(value: Any) -> Function:
    """A read function code: 1-4, or coils / discrete_inputs / holding / input."""
    if isinstance(value, str) and value.strip().lower() in FUNCTION_NAMES:
        return FUNCTION_NAMES[value.strip().lower()]
    try:
        return Function(_integer(value, "a function code"))
    except (ValueError, vol.Invalid) as err:
        raise vol.Invalid(
            "expected a read function code: 1, 2, 3, 4, coils, discrete_inputs, holding or input"
        ) from err


def parity(value: Any) -> str:
    """Serial parity: N, E or O (none/even/odd accepted)."""
    text = str(value).strip().upper()[:1]
    if text not in ("N", "E", "O"):
        raise vol.Invalid("expected parity N, E or O")
    return text


def slave_id(value: Any) -> int:
    """A Modbus unit id 0..247 (0 is the broadcast address, which some BMS answer: Seplos V3)."""
    number = _integer(value, "a unit id 0..247")
    if not 0 <= number <= 247:
        raise vol.Invalid("expected a unit id 0..247")
    return number


def _number(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise vol.Invalid("expected a number")
    return float(value)


def _nonzero(value: Any) -> float:
    number = _number(value)
    if number == 0:
        raise vol.Invalid("scale must not be 0")
    return number


def _level(value: Any) -> str:
    text = str(value).strip().lower()
    if text not in ("warning", "alarm", LEVEL_NONE):
        raise vol.Invalid("expected level warning, alarm or none")
    return text


def _range(value: Any) -> tuple[float, float]:
    if not isinstance(value, list) or len(value) != 2:
        raise vol.Invalid("expected [min, max]")
    low, high = _number(value[0]), _number(value[1])
    if low > high:
        raise vol.Invalid("min is above max")
    return low, high


def _unreadable(value: Any) -> Any:
    """An address, or [first, last], or {function, first, last}: addresses a block read must not span."""
    if isinstance(value, dict):
        return vol.Schema(
            {vol.Optional("function"): function_code, vol.Required("first"): address, vol.Optional("last"): address}
        )(value)
    if isinstance(value, list):
        if len(value) != 2:
            raise vol.Invalid("expected an address or [first, last]")
        return {"first": address(value[0]), "last": address(value[1])}
    return {"first": address(value)}


_BIT = vol.Any(
    str,
    {
        vol.Optional("name"): identifier,
        vol.Optional("text"): str,
        vol.Optional("level"): _level,
        vol.Optional("field"): vol.In(["charge_mos", "discharge_mos"]),
        vol.Optional("invert", default=False): bool,
    },
)
_EACH_BIT = {
    # ``{n}`` is the 1-based bit number plus ``first`` - 1 (cell numbers in per-cell alarm blocks).
    vol.Required("name"): str,
    vol.Optional("text"): str,
    vol.Optional("level"): _level,
    vol.Optional("first", default=1): vol.All(int, vol.Range(min=0, max=10_000)),
}
_ENUM = vol.Any(str, {vol.Required("name"): identifier, vol.Optional("text"): str, vol.Optional("level"): _level})

REGISTER_SCHEMA: dict[Any, Any] = {
    vol.Required("name"): identifier,
    vol.Required("address"): address,
    vol.Optional("function"): function_code,
    vol.Optional("type"): vol.In([t.value for t in ValueType]),
    vol.Optional("count", default=1): vol.All(int, vol.Range(min=1, max=2000)),
    vol.Optional("length"): vol.All(int, vol.Range(min=1, max=125)),
    vol.Optional("word_order"): vol.In(["big", "little"]),
    vol.Optional("scale", default=1.0): _nonzero,
    vol.Optional("offset", default=0.0): _number,
    vol.Optional("unit"): str,
    vol.Optional("field"): str,
    vol.Optional("kind", default="cell"): vol.In([k.value for k in TemperatureKind]),
    vol.Optional("sensor"): vol.All(int, vol.Range(min=1, max=64)),
    vol.Optional("enum", default={}): {enum_key: _ENUM},
    vol.Optional("bits", default={}): {bit_index: _BIT},
    vol.Optional("each_bit"): _EACH_BIT,
    vol.Optional("absent", default=[]): [enum_key],
    vol.Optional("range"): _range,
    vol.Optional("invert", default=False): bool,
    vol.Optional("count_for"): identifier,
    vol.Optional("every", default=1): vol.All(int, vol.Range(min=1, max=100_000)),
    vol.Optional("optional", default=False): bool,
    vol.Optional("example"): vol.Any(int, float, str, bool, [vol.Any(int, float, bool)]),
    vol.Optional("description", default=""): str,
}

SERIAL_KEYS: dict[Any, Any] = {
    vol.Optional("transport"): vol.In(["rtu", "tcp"]),
    vol.Optional("baudrate"): vol.All(int, vol.Range(min=300, max=921_600)),
    vol.Optional("bytesize"): vol.In([7, 8]),
    vol.Optional("parity"): parity,
    vol.Optional("stopbits"): vol.In([1, 2]),
    vol.Optional("slave"): slave_id,
    vol.Optional("tcp_port"): vol.All(int, vol.Range(min=1, max=65535)),
    vol.Optional("timeout"): vol.All(vol.Coerce(float), vol.Range(min=0.05, max=30)),
}

MAP_SCHEMA = vol.Schema(
    {
        vol.Optional("name"): identifier,
        vol.Optional("description", default=""): str,
        vol.Optional("source", default=[]): vol.Any([str], vol.All(str, lambda s: [s])),
        vol.Optional("function", default=3): function_code,
        vol.Optional("word_order", default="big"): vol.In(["big", "little"]),
        vol.Optional("max_registers", default=125): vol.All(int, vol.Range(min=1, max=125)),
        vol.Optional("max_bits", default=2000): vol.All(int, vol.Range(min=1, max=2000)),
        vol.Optional("max_gap", default=0): vol.All(int, vol.Range(min=0, max=124)),
        vol.Optional("unreadable", default=[]): [_unreadable],
        vol.Optional("inter_frame_delay", default=0.0): vol.All(vol.Coerce(float), vol.Range(min=0, max=5)),
        vol.Optional("current_sign", default="charge_positive"): vol.In(["charge_positive", "discharge_positive"]),
        # For BMS without a SOC register (Renogy): soc = 100 * remaining / rated capacity.
        vol.Optional("soc_from_capacity", default=False): bool,
        vol.Optional("defaults", default={}): SERIAL_KEYS,
        vol.Required("registers"): vol.All([REGISTER_SCHEMA], vol.Length(min=1, msg="a map needs registers")),
    }
)
