"""Writes: control actions on a battery, adding and removing batteries, and the audit log they leave."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

import voluptuous as vol
from aiohttp import web

from hub.config import ConfigError
from hub.specs import CONTROL_ACTIONS, ControlError, LinkError
from hub.storage.base import AuditEntry
from hub.web import app as app_module
from hub.web.envelope import ApiError, envelope, json_body
from hub.web.params import int_param

if TYPE_CHECKING:
    from hub.core import Hub

_LOGGER = logging.getLogger(__name__)
routes = web.RouteTableDef()


def _switch(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in ("on", "off", "true", "false"):
        return value.lower() in ("on", "true")
    raise vol.Invalid("expected true/false or 'on'/'off'")


_VALUES: dict[str, Any] = {
    "charge_mos": _switch,
    "discharge_mos": _switch,
    "soc": vol.All(vol.Coerce(float), vol.Range(min=0, max=100)),
    "restart": vol.Any(None, {}),
}
CONTROL_SCHEMA = vol.Schema({vol.Required("action"): vol.In(list(CONTROL_ACTIONS)), vol.Optional("value"): object})


def _parse_control(body: Any) -> tuple[str, Any]:
    try:
        request = CONTROL_SCHEMA(body)
        return request["action"], _VALUES[request["action"]](request.get("value"))
    except vol.Invalid as err:
        path = ".".join(str(p) for p in err.path) or "value"
        raise ApiError(
            422, f"invalid control request: {path}: {err.error_message}", {"actions": CONTROL_ACTIONS}
        ) from err


async def audit(
    hub: Hub,
    request: web.Request,
    action: str,
    target: str,
    result: str,
    asked: dict[str, Any] | None = None,
    **details: Any,
) -> None:
    """Record a write; a failing audit store is logged, never hidden."""
    # Until accounts exist (the accounts issue) every write is made by "anonymous" from an address.
    entry = AuditEntry(
        actor="anonymous",
        source_ip=request.remote,
        action=action,
        target=target,
        result=result,
        request=asked or {},
        details=details,
    )
    try:
        await hub.store.add_audit(entry)
    except Exception:
        _LOGGER.exception("Could not write the audit entry for %s on %s", action, target)
        raise


@routes.post("/api/v1/bms/configure/{id}")
async def configure(request: web.Request) -> web.Response:
    """Switch MOSFETs, set SOC or restart a BMS; confirmed by reading back and audited."""
    hub = app_module.get_hub(request)
    battery_id = request.match_info["id"]
    if hub.batteries is None or battery_id not in hub.batteries.coordinators:
        raise ApiError(404, f"unknown battery {battery_id!r}")
    body = await json_body(request)
    action, value = _parse_control(body)
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


async def update_batteries(hub: Hub, request: web.Request, entries: list[Any], action: str, target: str) -> None:
    """Replace the batteries section (validated, saved, reloaded, audited); 422 when invalid."""
    try:
        await hub.config.update_section("batteries", entries)
    except ConfigError as err:
        issues = [{"path": i.path, "message": i.message, "text": str(i)} for i in err.issues]
        await audit(hub, request, action, target, "rejected", error=str(err))
        raise ApiError(422, "invalid battery; nothing was changed", issues) from err
    await hub.reload_section("batteries")
    await audit(hub, request, action, target, "ok")


@routes.post("/api/v1/bms/connect")
async def connect(request: web.Request) -> web.Response:
    """Add a battery (validated like the YAML, saved in the config file) and start reading it."""
    hub = app_module.get_hub(request)
    entry = await json_body(request)
    if not isinstance(entry, dict) or not isinstance(entry.get("id"), str):
        raise ApiError(422, "expected a battery entry with at least id and driver")
    entries = list(hub.config.section_as_written("batteries") or [])
    if any(e.get("id") == entry["id"] for e in entries):
        raise ApiError(409, f"battery {entry['id']!r} already exists")
    await update_batteries(hub, request, [*entries, entry], "bms.connect", entry["id"])
    return envelope(request, hub.config.section_as_written("batteries")[-1], status=201, message="connected")


@routes.delete("/api/v1/bms/disconnect/{id}")
async def disconnect(request: web.Request) -> web.Response:
    """Stop reading a battery and remove it from the config file (its history stays)."""
    hub = app_module.get_hub(request)
    battery_id = request.match_info["id"]
    entries = list(hub.config.section_as_written("batteries") or [])
    remaining = [e for e in entries if e.get("id") != battery_id]
    if len(remaining) == len(entries):
        raise ApiError(404, f"unknown battery {battery_id!r}")
    await update_batteries(hub, request, remaining, "bms.disconnect", battery_id)
    return envelope(request, {"id": battery_id}, message="disconnected")


@routes.get("/api/v1/core/audit")
async def audit_log(request: web.Request) -> web.Response:
    """Audited writes, newest first; ``target`` filters by battery or module."""
    hub = app_module.get_hub(request)
    page = int_param(request, "page", 1, 1, 1_000_000)
    per_page = int_param(request, "per_page", 100, 1, 1000)
    entries, total = await hub.store.audit(per_page, (page - 1) * per_page, request.query.get("target"))
    meta = {
        "pagination": {"page": page, "per_page": per_page, "total": total, "pages": (total + per_page - 1) // per_page}
    }
    return envelope(request, [e.to_dict() for e in entries], meta=meta)


def setup(app: web.Application) -> None:
    """Add the write routes."""
    app.add_routes(routes)
