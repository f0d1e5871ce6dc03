"""Validated map data to model objects; each entry-level problem becomes an issue at its key path."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import replace
from typing import Any

from hub.reading import TemperatureKind
from trackingbms_modbus.regmap.model import (
    ARRAY_FIELDS,
    BIT_FIELDS,
    FLAG_FIELDS,
    LEVEL_NONE,
    SCALAR_FIELDS,
    STATE_FIELD,
    BitSpec,
    EnumValue,
    Function,
    Register,
    SerialDefaults,
    Target,
    ValueType,
)

__all__ = ["IssueSink", "build_defaults", "build_register", "slug"]

# Reports one problem: the key path inside the map file, and the message.
IssueSink = Callable[[list[Any], str], None]
_FIELD = re.compile(r"^([a-z_]+)(?:\[(\d+)\])?$")
_KNOWN_FIELDS = (*SCALAR_FIELDS, *ARRAY_FIELDS, *FLAG_FIELDS, *BIT_FIELDS, STATE_FIELD)


def slug(text: str) -> str:
    """A stable alarm code from readable text: 'Cell high-voltage alarm' -> 'cell_high_voltage_alarm'."""
    code = re.sub(r"[^a-z0-9]+", "_", text.lower()).strip("_") or "bit"
    return code if code[0].isalpha() else f"b_{code}"


def build_defaults(data: Mapping[str, Any]) -> SerialDefaults:
    """The map's per-device defaults."""
    base = SerialDefaults()
    return SerialDefaults(
        transport=str(data.get("transport", base.transport)),
        baudrate=int(data.get("baudrate", base.baudrate)),
        bytesize=int(data.get("bytesize", base.bytesize)),
        parity=str(data.get("parity", base.parity)),
        stopbits=int(data.get("stopbits", base.stopbits)),
        slave=int(data.get("slave", base.slave)),
        tcp_port=int(data.get("tcp_port", base.tcp_port)),
        timeout=float(data.get("timeout", base.timeout)),
    )


def build_register(data: Mapping[str, Any], top: Mapping[str, Any], path: list[Any], issue: IssueSink) -> Register:
    """One register entry; problems go to ``issue`` and a best-effort entry is still returned."""
    function: Function = data.get("function", top["function"])
    value_type = _value_type(data, function, path, issue)
    target = _target(data, path, issue)
    count = int(data["count"])
    length = int(data.get("length", 1))
    if value_type in (ValueType.STRING, ValueType.BITFIELD) and count != 1:
        issue([*path, "count"], f"a {value_type} entry holds one value: give its width in words with length")
    if value_type == ValueType.STRING and "length" not in data:
        issue([*path, "length"], "a string needs its length in words")
    alarm_default = "warning" if target is not None and target.field == "alarms" else LEVEL_NONE
    register = Register(
        name=data["name"],
        address=int(data["address"]),
        function=function,
        type=value_type,
        count=count,
        length=length,
        word_order=str(data.get("word_order", top["word_order"])),
        scale=float(data["scale"]),
        offset=float(data["offset"]),
        unit=data.get("unit"),
        target=target,
        kind=TemperatureKind(data["kind"]),
        sensor=data.get("sensor"),
        # An enum value is an alarm only when it says so: 0 = "normal" is the usual first value.
        enum=_enum(data["enum"]),
        bits={},
        absent=frozenset(int(v) for v in data["absent"]),
        valid_range=data.get("range"),
        invert=bool(data["invert"]),
        count_for=data.get("count_for"),
        every=int(data["every"]),
        optional=bool(data["optional"]),
        example=data.get("example"),
        description=str(data["description"]),
    )
    bits = _bits(data, register, alarm_default, path, issue)
    return replace(register, bits=bits)


def _value_type(data: Mapping[str, Any], function: Function, path: list[Any], issue: IssueSink) -> ValueType:
    default = ValueType.BOOL if function.is_bits else ValueType.U16
    value_type = ValueType(data.get("type", default))
    if function.is_bits and value_type != ValueType.BOOL:
        issue([*path, "type"], f"function {int(function)} reads single bits: the type must be bool")
        return ValueType.BOOL
    if not function.is_bits and value_type == ValueType.BOOL:
        issue([*path, "type"], "bool is for coils and discrete inputs (functions 1 and 2); use bitfield for a register")
        return ValueType.BITFIELD
    return value_type


def _target(data: Mapping[str, Any], path: list[Any], issue: IssueSink) -> Target | None:
    text = data.get("field")
    if text is None:
        return None
    match = _FIELD.match(text.strip())
    if match is None or match.group(1) not in _KNOWN_FIELDS:
        issue([*path, "field"], f"unknown field {text!r} (known: {', '.join(_KNOWN_FIELDS)}, cells[N], balancing[N])")
        return None
    name, index = match.group(1), match.group(2)
    if index is not None and name not in ("cells", "balancing", "temperatures"):
        issue([*path, "field"], f"{name} is not a list: it takes no [index]")
        return None
    start = int(index) if index is not None else 1
    if start < 1:
        issue([*path, "field"], "list slots are numbered from 1")
        start = 1
    return Target(name, start)


def _enum(data: Mapping[int, Any]) -> dict[int, EnumValue]:
    values: dict[int, EnumValue] = {}
    for raw, spec in data.items():
        if isinstance(spec, str):
            values[raw] = EnumValue(raw, slug(spec), spec)
        else:
            text = spec.get("text", spec["name"].replace("_", " ").capitalize())
            values[raw] = EnumValue(raw, spec["name"], text, spec.get("level", LEVEL_NONE))
    return values


def _bits(
    data: Mapping[str, Any], register: Register, level_default: str, path: list[Any], issue: IssueSink
) -> dict[int, BitSpec]:
    if (data["bits"] or "each_bit" in data) and register.bit_count == 0:
        issue([*path, "bits" if data["bits"] else "each_bit"], "bits are for bitfield and bool entries")
        return {}
    bits: dict[int, BitSpec] = {}
    for index, spec in data["bits"].items():
        if index >= register.bit_count:
            issue([*path, "bits", index], f"bit {index} is beyond the entry's {register.bit_count} bits")
            continue
        if isinstance(spec, str):
            bits[index] = BitSpec(index, slug(spec), spec, level_default)
            continue
        name = spec.get("name") or slug(spec.get("text", f"{register.name}_bit{index}"))
        text = spec.get("text", name.replace("_", " ").capitalize())
        level = spec.get("level", LEVEL_NONE if "field" in spec else level_default)
        bits[index] = BitSpec(index, name, text, level, spec.get("field"), bool(spec["invert"]))
    template = data.get("each_bit")
    if template is not None and _template_ok(template, path, issue):
        for index in range(register.bit_count):
            if index not in bits:
                number = index + template["first"]
                text = template.get("text", template["name"]).format(n=number)
                name = slug(template["name"].format(n=number))
                bits[index] = BitSpec(index, name, text, template.get("level", level_default))
    return bits


def _template_ok(template: Mapping[str, Any], path: list[Any], issue: IssueSink) -> bool:
    for key in ("name", "text"):
        if key in template:
            try:
                template[key].format(n=1)
            except (KeyError, IndexError, ValueError):
                issue([*path, "each_bit", key], "only {n} (the bit's number) may appear in braces")
                return False
    return True
