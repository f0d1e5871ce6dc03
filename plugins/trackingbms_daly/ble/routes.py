"""BLE transmitter discovery and pairing: GET /api/v1/bms/transmitters, POST /api/v1/bms/transmitter/pair."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import voluptuous as vol
from aiohttp import web

from hub.specs import LinkError
from hub.web import app as app_module
from hub.web.api import BODY, QUERY, Endpoint, add_endpoints, describe
from hub.web.api_control import update_batteries
from hub.web.envelope import ApiError, envelope
from hub.web.schemas import BATTERY_ENTRY, N_STR, STR, array, obj
from trackingbms_daly.ble.backend import backend_named
from trackingbms_daly.ble.registration import NAME, ble_address
from trackingbms_daly.ble.scan import scan

if TYPE_CHECKING:
    from hub.core import Hub

__all__ = ["PAIR_SCHEMA", "register"]

PLUGIN = "daly"  # the plugin's entry-point name, so its config section is ``daly:``
MAX_SCAN_TIMEOUT = 30.0
describe(ble_address, {"type": "string", "description": "a Bluetooth MAC (AA:BB:CC:DD:EE:FF) or a device UUID"})
SCAN_QUERY = {
    vol.Optional("timeout", description="seconds to scan (default: daly.ble_scan_timeout)"): vol.All(
        vol.Coerce(float), vol.Range(min=0.5, max=MAX_SCAN_TIMEOUT)
    )
}
PAIR_SCHEMA = vol.Schema(
    {
        vol.Required("address"): ble_address,
        vol.Required("id"): str,
        vol.Optional("name"): str,
        vol.Optional("protocol"): vol.In(["auto", "a5", "d2", "x81"]),
    }
)


def _settings(hub: Hub) -> dict[str, Any]:
    section = hub.config.data.get(PLUGIN) or {}
    return {
        "ble_backend": section.get("ble_backend", "bleak"),
        "ble_scan_timeout": float(section.get("ble_scan_timeout", 5.0)),
    }


def _paired(hub: Hub) -> dict[str, str]:
    """Address -> battery id of the daly_ble batteries in the config."""
    entries = hub.config.section_as_written("batteries") or []
    return {
        str(e.get("address", "")).upper(): str(e.get("id"))
        for e in entries
        if isinstance(e, dict) and e.get("driver") == NAME
    }


async def transmitters(request: web.Request) -> web.Response:
    """Scan for Daly BLE modules; each record says which battery, if any, it is paired to."""
    hub = app_module.get_hub(request)
    settings = _settings(hub)
    timeout = float(request[QUERY].get("timeout", settings["ble_scan_timeout"]))
    try:
        records = await scan(backend_named(settings["ble_backend"]).scanner, timeout)
    except LinkError as err:
        raise ApiError(503, f"Bluetooth is not available: {err}") from err
    paired = _paired(hub)
    found = [{**r, "paired_as": paired.get(str(r["address"]).upper())} for r in records]
    meta = {"count": len(found), "scan_timeout": timeout, "backend": settings["ble_backend"]}
    return envelope(request, found, meta=meta)


def _pair_entry(asked: dict[str, Any], backend: str) -> dict[str, Any]:
    entry: dict[str, Any] = {"id": asked["id"], "driver": NAME, "address": asked["address"]}
    for key in ("name", "protocol"):
        if key in asked:
            entry[key] = asked[key]
    if backend != "bleak":
        entry["backend"] = backend  # written only when not the default, so real configs stay clean
    return entry


async def pair(request: web.Request) -> web.Response:
    """Add a daly_ble battery for a transmitter, saved in the config file like POST /bms/connect (audited)."""
    hub = app_module.get_hub(request)
    entry = _pair_entry(request[BODY], _settings(hub)["ble_backend"])
    entries = list(hub.config.section_as_written("batteries") or [])
    if any(e.get("id") == entry["id"] for e in entries):
        raise ApiError(409, f"battery {entry['id']!r} already exists")
    if (owner := _paired(hub).get(entry["address"])) is not None:
        raise ApiError(409, f"transmitter {entry['address']} is already paired as {owner!r}")
    await update_batteries(hub, request, [*entries, entry], "bms.transmitter.pair", entry["id"])
    saved = next(e for e in hub.config.section_as_written("batteries") if e.get("id") == entry["id"])
    return envelope(request, saved, status=201, message="paired")


TRANSMITTER = obj(("address",), address=STR, name=N_STR, paired_as=N_STR)


def register(app: web.Application) -> None:
    """Add the two routes."""
    add_endpoints(
        app,
        Endpoint(
            "GET",
            "/api/v1/bms/transmitters",
            transmitters,
            "Scan for Daly BLE modules",
            "system.manage",  # the hub's radio and its battery list are hub-wide, not one tenant's
            ("bms",),
            query=SCAN_QUERY,
            data=array(TRANSMITTER),
            errors=(503,),
        ),
        Endpoint(
            "POST",
            "/api/v1/bms/transmitter/pair",
            pair,
            "Add a daly_ble battery for a transmitter (saved in the config file, audited)",
            "system.manage",
            ("bms",),
            body=PAIR_SCHEMA,
            data=BATTERY_ENTRY,
            status=201,
            errors=(409,),
        ),
    )
