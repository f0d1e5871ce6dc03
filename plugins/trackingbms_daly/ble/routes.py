"""BLE transmitter discovery and pairing: GET /api/v1/bms/transmitters, POST /api/v1/bms/transmitter/pair."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import voluptuous as vol
from aiohttp import web

from hub.specs import LinkError
from hub.web import app as app_module
from hub.web.api_control import update_batteries
from hub.web.envelope import ApiError, envelope, json_body
from trackingbms_daly.ble.backend import backend_named
from trackingbms_daly.ble.registration import NAME, ble_address
from trackingbms_daly.ble.scan import scan

if TYPE_CHECKING:
    from hub.core import Hub

__all__ = ["PAIR_SCHEMA", "register"]

PLUGIN = "daly"  # the plugin's entry-point name, so its config section is ``daly:``
MAX_SCAN_TIMEOUT = 30.0
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


def _scan_timeout(request: web.Request, default: float) -> float:
    text = request.query.get("timeout")
    if text is None:
        return default
    try:
        value = float(text)
    except ValueError as err:
        raise ApiError(400, f"timeout must be a number of seconds, not {text!r}") from err
    if not 0.5 <= value <= MAX_SCAN_TIMEOUT:
        raise ApiError(400, f"timeout must be between 0.5 and {MAX_SCAN_TIMEOUT:g} seconds")
    return value


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
    timeout = _scan_timeout(request, settings["ble_scan_timeout"])
    try:
        records = await scan(backend_named(settings["ble_backend"]).scanner, timeout)
    except LinkError as err:
        raise ApiError(503, f"Bluetooth is not available: {err}") from err
    paired = _paired(hub)
    found = [{**r, "paired_as": paired.get(str(r["address"]).upper())} for r in records]
    meta = {"count": len(found), "scan_timeout": timeout, "backend": settings["ble_backend"]}
    return envelope(request, found, meta=meta)


def _pair_entry(body: Any, backend: str) -> dict[str, Any]:
    try:
        asked = PAIR_SCHEMA(body)
    except vol.Invalid as err:
        path = ".".join(str(p) for p in err.path) or "body"
        raise ApiError(422, f"invalid pairing request: {path}: {err.error_message}") from err
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
    entry = _pair_entry(await json_body(request), _settings(hub)["ble_backend"])
    entries = list(hub.config.section_as_written("batteries") or [])
    if any(e.get("id") == entry["id"] for e in entries):
        raise ApiError(409, f"battery {entry['id']!r} already exists")
    if (owner := _paired(hub).get(entry["address"])) is not None:
        raise ApiError(409, f"transmitter {entry['address']} is already paired as {owner!r}")
    await update_batteries(hub, request, [*entries, entry], "bms.transmitter.pair", entry["id"])
    saved = next(e for e in hub.config.section_as_written("batteries") if e.get("id") == entry["id"])
    return envelope(request, saved, status=201, message="paired")


def register(app: web.Application) -> None:
    """Add the two routes."""
    app.router.add_get("/api/v1/bms/transmitters", transmitters)
    app.router.add_post("/api/v1/bms/transmitter/pair", pair)
