"""The ``foxbms`` battery options: schema, validated options and the ``trackingbms read`` CLI mapping."""

from __future__ import annotations

import argparse
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import voluptuous as vol

from trackingbms_foxbms.assembly import AssemblySettings, CurrentSign
from trackingbms_foxbms.bus import BITRATE, BusConfig
from trackingbms_foxbms.dbc import BUNDLED, FlagPolarity, Layout, layout_for_firmware, parse_firmware, polarity_for

__all__ = ["BATTERY_SCHEMA", "FoxbmsOptions", "StateRequest", "add_read_arguments", "options_from_args", "parse_option"]

_SCALAR = vol.Any(bool, int, float, str)
# The DBCs define mux 0-53 for cell voltages (216 cells) and 0-29 for temperatures (180 sensors).
MAX_CELLS = 216
MAX_TEMPS = 180


def firmware_version(value: Any) -> str:
    """Voluptuous validator for ``firmware: "1.7"`` style versions."""
    try:
        parse_firmware(str(value))
    except ValueError as err:
        raise vol.Invalid(str(err)) from err
    return str(value)


def _count(maximum: int, minimum: int) -> Any:
    return vol.Any("auto", vol.All(vol.Coerce(int), vol.Range(min=minimum, max=maximum)))


STATE_REQUEST_SCHEMA: dict[Any, Any] = {
    # RequestBmsMode: 0 STANDBY, 1 NORMAL (DBC label "Discharge"), 2 CHARGE (legacy.md §1.6).
    vol.Required("mode"): vol.In(["standby", "normal", "charge"]),
    vol.Optional("balancing", default=False): vol.Boolean(),
    vol.Optional("balancing_threshold", default=0): vol.All(vol.Coerce(int), vol.Range(min=0, max=255)),
}


def _state_request(value: Any) -> Any:
    """``false``, or the request to send as a mapping: ``true`` alone would not say which mode."""
    if value is False or value in ("false", "no", "off", 0):
        return False
    if value is True or not isinstance(value, dict):
        raise vol.Invalid("send_state_request is false or a request such as {mode: standby, balancing: false}")
    return vol.Schema(STATE_REQUEST_SCHEMA)(value)


BATTERY_SCHEMA: dict[Any, Any] = {
    vol.Optional("interface", default="socketcan"): vol.All(str, vol.Length(min=1)),
    vol.Required("channel"): vol.All(str, vol.Length(min=1)),
    vol.Optional("bitrate", default=BITRATE): vol.All(vol.Coerce(int), vol.Range(min=5_000, max=1_000_000)),
    vol.Optional("options", default={}): {str: _SCALAR},
    vol.Optional("dbc_version", default="auto"): vol.In(["auto", "current", "v1.6"]),
    vol.Optional("firmware"): firmware_version,
    vol.Optional("dbc"): vol.All(str, vol.Length(min=1)),
    vol.Optional("cells", default="auto"): _count(MAX_CELLS, 1),
    vol.Optional("temps", default="auto"): _count(MAX_TEMPS, 0),
    vol.Optional("current_sign", default=CurrentSign.DISCHARGE_POSITIVE.value): vol.In([s.value for s in CurrentSign]),
    vol.Optional("invalid_flag", default="auto"): vol.In(["auto", *(p.value for p in FlagPolarity)]),
    vol.Optional("timeout", default=10.0): vol.All(vol.Coerce(float), vol.Range(min=0.2, max=300)),
    vol.Optional("partial", default=False): vol.Boolean(),
    # Writes 0x210 every 100 ms: can switch contactors and fault a live system (legacy.md §1.6).
    vol.Optional("send_state_request", default=False): _state_request,
}


@dataclass(frozen=True, slots=True)
class StateRequest:
    """What the hub asks for in 0x210 when ``send_state_request`` is on."""

    mode: str
    balancing: bool = False
    balancing_threshold: int = 0


@dataclass(frozen=True, slots=True)
class FoxbmsOptions:
    """The validated options of a ``foxbms`` battery."""

    bus: BusConfig
    dbc_path: Path | None = None  # None: pick the bundled DBC from the traffic
    layout: Layout | None = None  # None: from the DBC's message names, or from the traffic
    firmware: tuple[int, int, int] | None = None
    cells: int | None = None
    temps: int | None = None
    current_sign: CurrentSign = CurrentSign.DISCHARGE_POSITIVE
    invalid_flag: FlagPolarity | None = None  # None: from layout and firmware
    timeout: float = 10.0
    partial: bool = False
    state_request: StateRequest | None = None  # set only when send_state_request is on
    extra: Mapping[str, Any] = field(default_factory=dict)

    @classmethod
    def from_config(cls, options: Mapping[str, Any], data_dir: Path) -> FoxbmsOptions:
        """Build from a validated battery entry; a relative ``dbc`` path is under the data directory."""
        entry = dict(vol.Schema(BATTERY_SCHEMA, extra=vol.ALLOW_EXTRA)(dict(options)))
        firmware = parse_firmware(entry["firmware"]) if "firmware" in entry else None
        # Precedence: an own ``dbc`` file, then ``dbc_version``, then ``firmware``, then the traffic.
        version = entry["dbc_version"]
        layout = Layout(version) if version != "auto" else layout_for_firmware(firmware) if firmware else None
        dbc_path = None
        if "dbc" in entry:
            dbc_path = Path(entry["dbc"]) if Path(entry["dbc"]).is_absolute() else data_dir / entry["dbc"]
        elif layout is not None:
            dbc_path = BUNDLED[layout]
        request = entry["send_state_request"] or None
        bus = BusConfig(entry["interface"], entry["channel"], entry["bitrate"], dict(entry["options"]))
        return cls(
            bus=bus,
            dbc_path=dbc_path,
            layout=layout,
            firmware=firmware,
            cells=None if entry["cells"] == "auto" else entry["cells"],
            temps=None if entry["temps"] == "auto" else entry["temps"],
            current_sign=CurrentSign(entry["current_sign"]),
            invalid_flag=None if entry["invalid_flag"] == "auto" else FlagPolarity(entry["invalid_flag"]),
            timeout=entry["timeout"],
            partial=entry["partial"],
            state_request=StateRequest(**request) if request else None,
        )

    def settings(self, layout: Layout) -> AssemblySettings:
        """Assembly settings once the layout is known."""
        return AssemblySettings(
            cells=self.cells,
            temps=self.temps,
            current_sign=self.current_sign,
            polarity=self.invalid_flag or polarity_for(layout, self.firmware),
            max_age=self.timeout,
        )


def parse_option(text: str) -> tuple[str, Any]:
    """``KEY=VALUE`` from the command line, VALUE read as bool, int, float or text."""
    key, sep, raw = text.partition("=")
    if not sep or not key:
        raise vol.Invalid(f"expected KEY=VALUE, got {text!r}")
    if raw.lower() in ("true", "false"):
        return key, raw.lower() == "true"
    for convert in (int, float):
        try:
            return key, convert(raw)
        except ValueError:
            pass
    return key, raw


def add_read_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``trackingbms read foxbms`` (listen only: it never sends)."""
    parser.add_argument("--interface", default="socketcan", help="python-can interface (socketcan, pcan, slcan...)")
    parser.add_argument("--channel", required=True, help="CAN channel: can0, PCAN_USBBUS1, a serial device...")
    parser.add_argument("--bitrate", type=int, default=BITRATE, help="bit rate (foxBMS: 500000)")
    parser.add_argument("--dbc-version", default="auto", help="auto, current (v1.7+) or v1.6")
    parser.add_argument("--firmware", help="foxBMS 2 firmware version, e.g. 1.7 (picks the DBC and flag meaning)")
    parser.add_argument("--dbc", help="your own DBC file")
    parser.add_argument("--cells", default="auto", help="cell voltages in the pack, or auto")
    parser.add_argument("--temps", default="auto", help="cell temperature sensors in the pack, or auto")
    parser.add_argument("--current-sign", default="discharge_positive", help="discharge_positive or charge_positive")
    parser.add_argument("--invalid-flag", default="auto", help="auto, one_means_valid or one_means_invalid")
    parser.add_argument("--timeout", type=float, default=10.0, help="seconds to wait for a complete reading")
    parser.add_argument("--partial", action="store_true", help="return a partial reading instead of failing")
    parser.add_argument("--option", action="append", default=[], metavar="KEY=VALUE", help="can.Bus keyword")


def options_from_args(args: argparse.Namespace) -> dict[str, Any]:
    """Map ``trackingbms read foxbms`` options to a validated battery entry."""
    entry: dict[str, Any] = {
        "interface": args.interface,
        "channel": args.channel,
        "bitrate": args.bitrate,
        "dbc_version": args.dbc_version,
        "cells": args.cells,
        "temps": args.temps,
        "current_sign": args.current_sign,
        "invalid_flag": args.invalid_flag,
        "timeout": args.timeout,
        "partial": args.partial,
        "options": dict(parse_option(o) for o in args.option),
    }
    entry.update({k: getattr(args, k) for k in ("firmware", "dbc") if getattr(args, k) is not None})
    result: dict[str, Any] = vol.Schema(BATTERY_SCHEMA)(entry)
    return result
