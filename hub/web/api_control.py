"""Writes: control actions on a battery, adding and removing batteries, and the audit log they leave."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

import voluptuous as vol
from aiohttp import web

from hub.auth.policy import require_battery
from hub.config import ConfigError
from hub.specs import CONTROL_ACTIONS, ControlError, LinkError
from hub.web import api_audit
from hub.web import app as app_module
from hub.web.api import BODY, QUERY, Endpoint, add_endpoints, describe
from hub.web.envelope import ApiError, envelope
from hub.web.params import page_query, pagination
from hub.web.schemas import AUDIT_ENTRY, BATTERY_ENTRY, STR, array, obj

if TYPE_CHECKING:
    from hub.core import Hub

_LOGGER = logging.getLogger(__name__)


def _switch(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in ("on", "off", "true", "false"):
        return value.lower() in ("on", "true")
    raise vol.Invalid("expected true/false or 'on'/'off'")


MAX_SETTINGS = 32


def _setting_value(value: Any) -> Any:
    if isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, list) and all(isinstance(v, int | float) and not isinstance(v, bool) for v in value):
        return value
    raise vol.Invalid("each setting takes a number, true/false, text or a list of numbers")


def _settings(value: Any) -> dict[str, Any]:
    """BMS settings to write (name -> value); which names exist is the driver's to check."""
    if not isinstance(value, dict) or not 1 <= len(value) <= MAX_SETTINGS:
        raise vol.Invalid(f"expected an object of 1 to {MAX_SETTINGS} settings")
    if not all(isinstance(name, str) and name for name in value):
        raise vol.Invalid("setting names must be non-empty text")
    return {name: _setting_value(item) for name, item in value.items()}


_VALUES: dict[str, Any] = {
    "charge_mos": _switch,
    "discharge_mos": _switch,
    "soc": vol.All(vol.Coerce(float), vol.Range(min=0, max=100)),
    "restart": vol.Any(None, {}),
    "config": _settings,
}
_VALUE_DOC = {
    "description": "charge_mos/discharge_mos: true/false or on/off; soc: 0-100; restart: nothing; "
    "config: an object of BMS settings",
    "anyOf": [
        {"type": "boolean"},
        {"type": "string", "enum": ["on", "off", "true", "false"]},
        {"type": "number"},
        {"type": "null"},
        {"type": "object", "minProperties": 1, "maxProperties": MAX_SETTINGS},
    ],
}
CONTROL_SCHEMA = vol.Schema(
    {vol.Required("action"): vol.In(list(CONTROL_ACTIONS)), vol.Optional("value"): describe(lambda v: v, _VALUE_DOC)}
)
CONNECT_SCHEMA = vol.Schema({vol.Required("id"): str, vol.Required("driver"): str}, extra=vol.ALLOW_EXTRA)
CONTROL_RESULT = {
    "type": "object",
    "properties": {"battery_id": STR, "action": STR},
    "required": ["battery_id", "action"],
}


def _parse_control(body: dict[str, Any]) -> tuple[str, Any]:
    """The action and its value, checked against the action (the schema checked the shape)."""
    action = body["action"]
    try:
        return action, _VALUES[action](body.get("value"))
    except vol.Invalid as err:
        message = err.error_message
        raise ApiError(
            422, f"invalid control request: value: {message}", [{"path": "body.value", "message": message}]
        ) from err


async def audit(
    hub: Hub,
    request: web.Request,
    action: str,
    target: str,
    result: str,
    asked: dict[str, Any] | None = None,
    *,
    before: Any = None,
    after: Any = None,
    **details: Any,
) -> None:
    """Record a write: the request's principal, its tenant, address and request id, the target
    ``before`` and ``after`` (JSON-ready, None = not recorded); a failing audit store is logged, never hidden."""
    await api_audit.record(hub, request, action, target, result, asked, before=before, after=after, **details)


async def configure(request: web.Request) -> web.Response:
    """Switch MOSFETs, set SOC or restart a BMS; confirmed by reading back and audited."""
    hub = app_module.get_hub(request)
    battery_id = request.match_info["id"]
    await require_battery(request, "battery.control", battery_id)
    if hub.batteries is None or battery_id not in hub.batteries.coordinators:
        raise ApiError(404, f"unknown battery {battery_id!r}")
    action, value = _parse_control(request[BODY])
    coordinator = hub.batteries.coordinators[battery_id]
    asked = {"action": action, "value": value}
    try:
        result = await coordinator.control(action, value)
    except ControlError as err:
        outcome = "rejected" if err.status in (403, 422) else "failed"
        await audit(hub, request, f"bms.{action}", battery_id, outcome, asked=asked, error=str(err))
        raise ApiError(err.status, str(err)) from err
    except LinkError as err:
        await audit(hub, request, f"bms.{action}", battery_id, "failed", asked=asked, error=str(err))
        raise ApiError(504, f"the BMS did not answer: {err}") from err
    await audit(hub, request, f"bms.{action}", battery_id, "ok", asked=asked, outcome=result)
    return envelope(request, {**result, "battery_id": battery_id, "action": action}, message="confirmed")


def _written_entry(hub: Hub, battery_id: str) -> dict[str, Any] | None:
    """A battery's entry as the config file has it (secrets stay references), for the audit log."""
    entries = hub.config.section_as_written("batteries") or []
    return next((dict(e) for e in entries if isinstance(e, dict) and e.get("id") == battery_id), None)


async def update_batteries(hub: Hub, request: web.Request, entries: list[Any], action: str, target: str) -> None:
    """Replace the batteries section (validated, saved, reloaded, audited with the target's entry
    before and after); 422 when invalid."""
    before = _written_entry(hub, target)
    try:
        await hub.config.update_section("batteries", entries)
    except ConfigError as err:
        issues = [{"path": i.path, "message": i.message, "text": str(i)} for i in err.issues]
        await audit(hub, request, action, target, "rejected", before=before, error=str(err))
        raise ApiError(422, "invalid battery; nothing was changed", issues) from err
    await hub.reload_section("batteries")
    await audit(hub, request, action, target, "ok", before=before, after=_written_entry(hub, target))


async def connect(request: web.Request) -> web.Response:
    """Add a battery (validated like the YAML, saved in the config file) and start reading it."""
    hub = app_module.get_hub(request)
    entry = request[BODY]
    entries = list(hub.config.section_as_written("batteries") or [])
    if any(e.get("id") == entry["id"] for e in entries):
        raise ApiError(409, f"battery {entry['id']!r} already exists")
    await update_batteries(hub, request, [*entries, entry], "bms.connect", entry["id"])
    return envelope(request, hub.config.section_as_written("batteries")[-1], status=201, message="connected")


async def disconnect(request: web.Request) -> web.Response:
    """Stop reading a battery and remove it from the config file (its history stays)."""
    hub = app_module.get_hub(request)
    battery_id = request.match_info["id"]
    await require_battery(request, "system.manage", battery_id)
    entries = list(hub.config.section_as_written("batteries") or [])
    remaining = [e for e in entries if e.get("id") != battery_id]
    if len(remaining) == len(entries):
        raise ApiError(404, f"unknown battery {battery_id!r}")
    await update_batteries(hub, request, remaining, "bms.disconnect", battery_id)
    return envelope(request, {"id": battery_id}, message="disconnected")


async def audit_log(request: web.Request) -> web.Response:
    """Audited writes of the caller's tenant, newest first; ``target`` filters by battery or module (the
    older form of GET /api/v1/audit)."""
    query = request[QUERY]
    page, per_page = query["page"], query["per_page"]
    store = await api_audit.tenant_store(request)
    entries, total = await store.audit(per_page, (page - 1) * per_page, query.get("target"))
    meta = {"pagination": pagination(page, per_page, total)}
    return envelope(request, [e.to_dict() for e in entries], meta=meta)


BMS = ("bms",)
ENDPOINTS = (
    Endpoint(
        "POST",
        "/api/v1/bms/configure/{id}",
        configure,
        "Switch MOSFETs, set SOC or restart a BMS (confirmed by reading back, audited)",
        "battery.control",
        BMS,
        body=CONTROL_SCHEMA,
        data=CONTROL_RESULT,
        errors=(404, 504),
    ),
    Endpoint(
        "POST",
        "/api/v1/bms/connect",
        connect,
        "Add a battery (validated like the config file) and start reading it",
        "system.manage",  # the config file's battery list is hub-wide hardware, not one tenant's
        BMS,
        body=CONNECT_SCHEMA,
        data=BATTERY_ENTRY,
        status=201,
        errors=(409,),
    ),
    Endpoint(
        "DELETE",
        "/api/v1/bms/disconnect/{id}",
        disconnect,
        "Stop reading a battery and remove it from the config file",
        "system.manage",
        BMS,
        data=obj(id=STR),
        errors=(404,),
    ),
    Endpoint(
        "GET",
        "/api/v1/core/audit",
        audit_log,
        "Audited writes, newest first",
        "audit.read",
        ("core",),
        query={**page_query(), vol.Optional("target"): str},
        data=array(AUDIT_ENTRY),
    ),
)


def setup(app: web.Application) -> None:
    """Add the write routes."""
    add_endpoints(app, *ENDPOINTS)
