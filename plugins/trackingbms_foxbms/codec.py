"""Decode and encode single foxBMS CAN frames with cantools (pure functions, no I/O)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from cantools.database.can import Message, Signal
from cantools.database.errors import DecodeError, EncodeError

from trackingbms_foxbms.dbc import FoxbmsDbc
from trackingbms_foxbms.errors import FoxbmsProtocolError
from trackingbms_foxbms.tables import STRING_ROLES

__all__ = ["DecodedFrame", "decode_frame", "describe_frame", "encode_frame"]

# Every foxBMS identifier is 11-bit (CAN_STANDARD_IDENTIFIER_11_BIT, legacy.md §1.2).
MAX_STANDARD_ID = 0x7FF
_CANTOOLS_ERRORS = (DecodeError, EncodeError, ValueError, KeyError, IndexError, OverflowError, TypeError)


@dataclass(frozen=True, slots=True)
class DecodedFrame:
    """One decoded frame: physical values by signal name, exactly as cantools scales them."""

    can_id: int
    message: str
    role: str | None
    mux: int | None
    signals: Mapping[str, float]


def _message(dbc: FoxbmsDbc, can_id: int, data: bytes, extended: bool) -> Message:
    if extended or not 0 <= can_id <= MAX_STANDARD_ID:
        raise FoxbmsProtocolError(f"0x{can_id:X} is not an 11-bit identifier; foxBMS only uses 11-bit ones")
    try:
        message = dbc.db.get_message_by_frame_id(can_id)
    except KeyError:
        raise FoxbmsProtocolError(f"0x{can_id:03X} is not in the {dbc.label} DBC") from None
    if len(data) != message.length:
        raise FoxbmsProtocolError(
            f"0x{can_id:03X} {message.name}: {len(data)} data bytes, the DBC says {message.length}"
        )
    return message


def _string_fallback(dbc: FoxbmsDbc, message: Message, role: str | None, data: bytes) -> tuple[bytes, int] | None:
    """String messages of string 1.. decode with string 0's layout (the DBC only defines String0).

    The firmware fills every string's frame with the same signal layout and puts the string
    index in the multiplexer (legacy.md §1.5); only the DBC's value table stops at String0.
    """
    field = dbc.mux.get(message.name)
    if role not in STRING_ROLES or field is None:
        return None
    mux = field.read(data)
    return (field.write(data, 0), mux) if mux != 0 else None


def _plain_decode(message: Message, data: bytes) -> dict[str, float]:
    """cantools' decode with numbers only; raises cantools' own errors."""
    values = message.decode(data, decode_choices=False)
    if not isinstance(values, dict):  # pragma: no cover - container frames do not exist in foxBMS DBCs
        raise DecodeError("not a plain message")
    return {k: float(v) if isinstance(v, int | float) else float(getattr(v, "value", 0)) for k, v in values.items()}


def decode_frame(dbc: FoxbmsDbc, can_id: int, data: bytes, extended: bool = False) -> DecodedFrame:
    """Decode one frame; FoxbmsProtocolError for anything the DBC cannot decode."""
    data = bytes(data)
    message = _message(dbc, can_id, data, extended)
    role = dbc.role_of.get(can_id)
    field = dbc.mux.get(message.name)
    mux = field.read(data) if field is not None else None
    try:
        values = _plain_decode(message, data)
    except _CANTOOLS_ERRORS as err:
        fallback = _string_fallback(dbc, message, role, data)
        if fallback is None or field is None:
            raise FoxbmsProtocolError(f"0x{can_id:03X} {message.name}: {err}") from err
        try:
            values = {**_plain_decode(message, fallback[0]), field.signal: float(fallback[1])}
        except _CANTOOLS_ERRORS as err2:  # pragma: no cover - mux 0 of a foxBMS string message always decodes
            raise FoxbmsProtocolError(f"0x{can_id:03X} {message.name}: {err2}") from err2
    return DecodedFrame(can_id, message.name, role, mux, values)


def describe_frame(dbc: FoxbmsDbc, can_id: int, data: bytes, extended: bool = False) -> dict[str, Any]:
    """The decode CLI's view of a frame: value-table labels instead of numbers where the DBC has them."""
    frame = decode_frame(dbc, can_id, data, extended)
    message = dbc.db.get_message_by_frame_id(can_id)
    signals: dict[str, Any] = {}
    for name, value in frame.signals.items():
        signal = message.get_signal_by_name(name)
        label = signal.choices.get(int(value)) if signal.choices and value == int(value) else None
        if name == getattr(dbc.mux.get(message.name), "signal", None) and frame.role in STRING_ROLES:
            label = f"String{int(value)}"  # the value table only names String0
        signals[name] = str(label) if label is not None else _plain(value)
    return {
        "can_id": f"0x{can_id:03X}",
        "message": frame.message,
        "dbc": dbc.label,
        **({"mux": frame.mux} if frame.mux is not None else {}),
        "signals": signals,
    }


def _plain(value: float) -> int | float:
    return int(value) if value == int(value) else value


def _clamp(signal: Signal, value: float) -> float:
    """Keep a physical value inside what the signal's bits can carry (the encoder masks otherwise)."""
    if signal.is_signed:
        low, high = -(1 << (signal.length - 1)), (1 << (signal.length - 1)) - 1
    else:
        low, high = 0, (1 << signal.length) - 1
    ends = sorted((signal.offset + signal.scale * low, signal.offset + signal.scale * high))
    return min(ends[1], max(ends[0], value))


def encode_frame(dbc: FoxbmsDbc, role: str, values: Mapping[str, float], mux: int | None = None) -> tuple[int, bytes]:
    """Encode one message of a role (simulator side); absent signals are 0, values are clamped."""
    message = dbc.message(role)
    if message is None:
        raise FoxbmsProtocolError(f"the {dbc.label} DBC has no {role} message")
    field = dbc.mux.get(message.name)
    wire_mux = 0 if role in STRING_ROLES else mux  # strings 1.. reuse string 0's layout (see above)
    wanted = [
        s
        for s in message.signals
        if s.multiplexer_ids is None or (wire_mux is not None and wire_mux in s.multiplexer_ids)
    ]
    unknown = set(values) - {s.name for s in wanted}
    if unknown:
        raise FoxbmsProtocolError(f"{message.name} has no signals {sorted(unknown)} (mux {mux})")
    data: dict[str, float] = {s.name: _clamp(s, float(values.get(s.name, 0))) for s in wanted}
    if field is not None:
        data[field.signal] = float(wire_mux or 0)
    try:
        payload = message.encode(data, scaling=True, strict=False)
    except _CANTOOLS_ERRORS as err:
        raise FoxbmsProtocolError(f"cannot encode {message.name}: {err}") from err
    if field is not None and mux:
        payload = field.write(payload, mux)
    return message.frame_id, bytes(payload)
