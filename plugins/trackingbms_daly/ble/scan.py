"""Finding Daly BLE modules: advertisement matching (DL-* names, service fff0, manufacturer ids) and scans."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from bleak.exc import BleakError

from hub.specs import LinkError
from trackingbms_daly.ble.backend import Scanner
from trackingbms_daly.ble.link import uuid16

__all__ = ["DALY_MANUFACTURER_IDS", "DALY_NAME_PREFIXES", "SERVICE_FFF0", "embedded_mac", "match_daly", "scan"]

_LOGGER = logging.getLogger(__name__)
# aiobmsble's Daly matchers: these company ids, or a DL-* local name with service fff0 (daly.md §3.4).
DALY_MANUFACTURER_IDS = frozenset({0x0102, 0x0104, 0x0302, 0x0303, 0x0402})
# "DL-<12 hex MAC>" (also "DL-F" + 13 hex) and "JHB-..." are the names seen on Daly modules (daly.md §3.4).
DALY_NAME_PREFIXES = ("DL-", "JHB-")
SERVICE_FFF0 = uuid16(0xFFF0)
_MAC_LEN = 6


def embedded_mac(data: bytes) -> str | None:
    """The MAC in Daly manufacturer data: ``16 <6-byte MAC> 44 4C`` (0x16, MAC, "DL"), else None."""
    if len(data) < 1 + _MAC_LEN:
        return None
    return ":".join(f"{b:02X}" for b in data[1 : 1 + _MAC_LEN])


def _daly_manufacturer(manufacturer_data: Mapping[int, bytes]) -> tuple[int, bytes] | None:
    for company, data in manufacturer_data.items():
        if company in DALY_MANUFACTURER_IDS:
            return company, bytes(data)
    return None


def match_daly(address: str, device_name: str | None, advertisement: Any) -> dict[str, Any] | None:
    """A transmitter record when the advertisement is a Daly module's, else None.

    Matches a DL-*/JHB-* name (the advertised local name, else the OS's device name), or
    one of Daly's manufacturer ids. Service fff0 alone is not enough: many cheap BLE UART
    modules use it. ``protocol_hint`` is "modbus" (D2 or 0x81) for the newer modules that
    advertise Daly manufacturer data or service fff0, "auto" otherwise: the old A5 dongles
    advertise DL-* too, so only probing tells (daly.md §0).
    """
    name = advertisement.local_name or device_name
    services = {str(u).lower() for u in advertisement.service_uuids or ()}
    manufacturer = _daly_manufacturer(advertisement.manufacturer_data or {})
    named = bool(name) and str(name).upper().startswith(DALY_NAME_PREFIXES)
    if not named and manufacturer is None:
        return None
    modern = manufacturer is not None or SERVICE_FFF0 in services
    return {
        "address": address,
        "name": name,
        "rssi": advertisement.rssi,
        "protocol_hint": "modbus" if modern else "auto",
        "manufacturer_id": manufacturer[0] if manufacturer else None,
        "mac": embedded_mac(manufacturer[1]) if manufacturer else None,
        "service_fff0": SERVICE_FFF0 in services,
    }


async def scan(scanner: Scanner, timeout: float = 5.0) -> list[dict[str, Any]]:  # noqa: ASYNC109 - scan duration
    """Scan for ``timeout`` seconds; Daly transmitters, strongest signal first. Raises LinkError."""
    try:
        seen = await scanner.discover(timeout=timeout, return_adv=True)
    except (BleakError, OSError) as err:
        raise LinkError(f"Bluetooth scan failed: {type(err).__name__}: {err}") from err
    records = []
    for address, (device, advertisement) in seen.items():
        record = match_daly(address, getattr(device, "name", None), advertisement)
        if record is not None:
            records.append(record)
    _LOGGER.debug("BLE scan: %d devices, %d Daly", len(seen), len(records))
    return sorted(records, key=lambda r: -(r["rssi"] if r["rssi"] is not None else -999))
