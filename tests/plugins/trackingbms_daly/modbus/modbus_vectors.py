"""Golden D2 and 0x81/0x51 frames for the Modbus-family tests: the fixture file plus real dumps it lacks."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from trackingbms_daly.modbus.framing import Role

FIXTURES: list[dict[str, Any]] = json.loads((Path(__file__).parents[3] / "fixtures/daly/frames.json").read_text())
MODBUS = [e for e in FIXTURES if e["frame_format"] in ("modbus-d2", "modbus-x81/x51")]
GOOD = [e for e in MODBUS if e["checksum_ok"] is True]
BAD = [e for e in MODBUS if e["checksum_ok"] is False]
BTSNOOP = "syssi/esphome-daly-bms:docs/pdus/btsnoop_daly_balancer.log"

# A D2 80-register status answer; cells of 0x0CD2 put the address byte inside the data.
BLUE_SOURCE = "syssi/esphome-daly-bms:docs/pdus/daly_bms_blue_series_80_registers.txt (syssi #55)"
BLUE_80 = (
    "D2 03 A0 0C D1 0C D2 0C D3 0C D3 0C D3 0C D2 0C D3 0C D3 0C D3 0C D3 0C D3 0C D3 0C D3 0C D3 0C"
    " D3 0C D3 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00"
    " 00 00 00 00 35 00 35 00 35 00 35 00 00 00 00 00 00 00 00 02 0D 75 17 02 31 0C D3 0C D1 00 35 00"
    " 35 00 02 04 9A 00 10 00 04 00 3C 00 00 00 01 00 01 0C D2 00 02 00 83 00 00 00 00 00 00 00 00 00"
    " 00 00 00 75 30 00 00 00 37 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00"
    " 00 00 00 54 55"
)

# Real 0x81/0x51 exchanges of an ESS-DL-BMS (16S, 4 sensors, discharging 8.9 A at 53.0 V).
ESS_SOURCE = "syssi/esphome-daly-bms:docs/pdus/ess-dl-bms-41_260321_0323.txt"
ESS_RT1 = (
    "51 03 80 0C F4 0C F0 0C F3 0C F2 0C F3 0C F1 0C F3 0C F3 0C F0 0C F3 0C F3 0C F4 0C F3 0C F3 0C F3"
    " 0C F5" + " 00" * 64 + " 00 3E 00 3E 00 3E 00 3E" + " 00" * 8 + " 02 12 74 D7 03 60 00 B6 00 10 00 04"
    " 0C F5 00 10 99 EF"
)
ESS_RT2 = (
    "51 03 7C 00 09 00 05 00 3E 00 04 00 3E 00 01 00 00 00 02 00 00 00 00 0A 98 00 07 00 07 00 00 00 00"
    " 00 00 00 00 00 01 00 01 00 00 00 00 00 00 0C F2 01 D7 00 00 00 40 00 46 00 00 00 00 FF FF 00 00 75"
    " 30 1A 06 02 14 02 21 0B 4B 04 02 00 00 00 00 00 80 00 00 74 BE 00 11 03 5F 00 00 00 00 00 00 00 80"
    " 00 00 00 00 00 00 FF FF FF FF FF FF FF FF FF FF FF FF FF FF FF FF 00 FF FF FF 00 02 B8 AC"
)
ESS_VERSION = (
    "51 03 94 34 31 5F 32 36 30 33 32 31 5F 30 33 32 33 45 53 53 2D 44 4C 2D 42 4D 53 00 00 00 00 45 53"
    " 53 34 31 5F 30 33 32 33 00 00 00 00 32 31 30 4C 43 32 31 30 39 30 30 30 30 35" + " 00" * 10 + " 20 20"
    " 20 20 32 30 32 36 30 33 32 36" + " 00" * 56 + " FF" * 14 + " D8 15"
)
ESS_ALARMS = "51 03 14 FF FF 00 02 05 DC 05 DC C0 10 00 02 8E 7F 00 01 F2 C7 FF FF 1D 8E"
ESS_BALANCER = "51 03 02 FF FF 79 F8"


def raw(entry: dict[str, Any]) -> bytes:
    """The entry's bytes."""
    return bytes.fromhex(entry["hex"])


def entry_id(entry: dict[str, Any]) -> str:
    """A readable test id."""
    return f"{entry['hex'][:17]}|{entry['direction']}|{entry['source'][:50]}"


def role(entry: dict[str, Any]) -> Role:
    """Which side sent the entry's frame."""
    return Role.REQUEST if entry["direction"] == "request" else Role.ANSWER
