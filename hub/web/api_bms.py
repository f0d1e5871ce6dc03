"""BMS read endpoints: battery list, types, status, latest data, history, cells, temperatures, alarms."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import voluptuous as vol
from aiohttp import web

from hub.auth.policy import require_battery, visible_batteries
from hub.auth.scope import store_for
from hub.batteries import Coordinator, LinkState
from hub.export import render_csv
from hub.reading import Reading, utc_now
from hub.storage.history import AUTO, RAW, HistoryError, HistoryQuery, parse_fields, parse_resolution, run_history
from hub.web import app as app_module
from hub.web.api import QUERY, Endpoint, add_endpoints
from hub.web.envelope import ApiError, envelope
from hub.web.params import int_range, iso_time
from hub.web.schemas import (
    ALARM,
    BATTERY,
    INT,
    N_NUM,
    N_STR,
    NUM,
    OBJECT,
    READING,
    STR,
    TEMPERATURE,
    TIME,
    array,
    obj,
)

if TYPE_CHECKING:
    from hub.core import Hub
    from hub.storage.base import BatteryRecord, TenantStore

MAX_HISTORY = 10_000
READ = "battery.read"
HISTORY_QUERY = {
    vol.Optional("from"): iso_time,
    vol.Optional("to"): iso_time,
    vol.Optional("resolution"): str,
    vol.Optional("points"): int_range(1, MAX_HISTORY),
    vol.Optional("fields"): str,
    vol.Optional("limit"): int_range(1, MAX_HISTORY),
    vol.Optional("format"): vol.In(["csv", "json"]),
}


def _coordinator(hub: Hub, battery_id: str) -> Coordinator:
    if hub.batteries is None or battery_id not in hub.batteries.coordinators:
        raise ApiError(404, f"unknown battery {battery_id!r}")
    return hub.batteries.coordinators[battery_id]


def _battery_summary(coordinator: Coordinator) -> dict[str, Any]:
    last = coordinator.last_reading
    return {
        "id": coordinator.config.id,
        "name": coordinator.config.name,
        "driver": coordinator.config.driver,
        "link_state": coordinator.link_state().value,
        "poll_interval": coordinator.config.poll_interval,
        "last_reading_at": last.timestamp.isoformat().replace("+00:00", "Z") if last else None,
    }


async def _known(hub: Hub, store: TenantStore, battery_id: str) -> Coordinator | None:
    """The battery's coordinator; None for a battery that only storage knows (a bank, whose readings
    a plugin makes); 404 for neither."""
    if hub.batteries is not None and battery_id in hub.batteries.coordinators:
        return hub.batteries.coordinators[battery_id]
    if battery_id in {record.id for record in await store.batteries()}:
        return None
    raise ApiError(404, f"unknown battery {battery_id!r}")


async def _latest(request: web.Request) -> tuple[Reading, dict[str, Any]]:
    """The newest processed reading of a battery, with freshness in meta; 404 if none yet."""
    hub = app_module.get_hub(request)
    battery_id = request.match_info["id"]
    store = await require_battery(request, READ, battery_id)
    coordinator = await _known(hub, store, battery_id)
    state = coordinator.link_state().value if coordinator is not None else _unpolled(hub, battery_id)
    reading = (hub.batteries.latest.get(battery_id) if hub.batteries else None) or await store.latest(battery_id)
    if reading is None:
        raise ApiError(404, f"no reading yet for battery {battery_id!r}", {"link_state": state})
    age = (utc_now() - reading.timestamp).total_seconds()
    # A value is current only while the link is online; otherwise say it is stale. A virtual
    # battery has no link: its readings are made from its members' (stale: null).
    stale = None if coordinator is None else state != LinkState.ONLINE.value
    meta = {"link_state": state, "age_s": round(age, 3), "stale": stale}
    return reading, meta


def _unpolled(hub: Hub, battery_id: str) -> str:
    """The link state shown for a battery this hub does not poll: the state reported for it (a
    ``battery.<id>`` service with ``link_state``, as an edge's uplink keeps), else ``remote`` on a
    central hub (an edge polls it) and ``virtual`` elsewhere (a bank, another reading made here)."""
    service = hub.registry.get(f"battery.{battery_id}")
    reported = service.details.get("link_state") if service is not None else None
    if isinstance(reported, str):
        return reported
    return "remote" if hub.role == "central" else "virtual"


async def list_batteries(request: web.Request) -> web.Response:
    """Every configured battery with its driver and link state (on a central hub: its edges')."""
    hub = app_module.get_hub(request)
    coordinators = list(hub.batteries.coordinators.values() if hub.batteries else [])
    # Batteries run hub-wide; a user sees those of the tenant's nodes they may read.
    mine = await visible_batteries(request, READ)
    if mine is not None:
        coordinators = [c for c in coordinators if c.config.id in mine]
    data = [_battery_summary(c) for c in coordinators]
    if hub.role == "central":
        remote = [b for b in await store_for(request).batteries() if mine is None or b.id in mine]
        data += [_remote_summary(hub, b) for b in remote]
    return envelope(request, data, meta={"count": len(data)})


def _remote_summary(hub: Hub, battery: BatteryRecord) -> dict[str, Any]:
    """A battery an edge hub polls, as a central hub lists it: from storage, with the link state
    its edge reported."""
    return {
        "id": battery.id,
        "name": battery.name,
        "driver": battery.driver,
        "link_state": _unpolled(hub, battery.id),
        "poll_interval": None,
        "last_reading_at": None,
    }


async def types(request: web.Request) -> web.Response:
    """The BMS families the loaded plugins can read."""
    hub = app_module.get_hub(request)
    drivers = hub.plugins.drivers
    data = [
        {
            "name": spec.name,
            "description": spec.description,
            "transports": list(spec.transports),
            "plugin": drivers.owners.get(spec.name),
            "options": sorted(str(k) for k in spec.schema),
        }
        for spec in drivers
    ]
    return envelope(request, data)


async def status(request: web.Request) -> web.Response:
    """Link status of one battery: state, health, counters."""
    hub = app_module.get_hub(request)
    await require_battery(request, READ, request.match_info["id"])
    coordinator = _coordinator(hub, request.match_info["id"])
    service = hub.registry.get(coordinator.service)
    data = {
        **_battery_summary(coordinator),
        "health": service.health.value if service else None,
        "reason": service.reason if service else None,
        "consecutive_failures": coordinator.failures,
        "polls": coordinator.polls,
    }
    # Optional driver method (docs/hooks.md): values with no place in the reading, e.g. foxBMS strings.
    details = getattr(coordinator.driver, "details", None)
    if callable(details):
        data["details"] = details()
    return envelope(request, data)


async def data(request: web.Request) -> web.Response:
    """The newest reading."""
    reading, meta = await _latest(request)
    return envelope(request, reading.to_dict(), meta=meta)


async def history(request: web.Request) -> web.Response:
    """History between ``from`` and ``to``: raw readings or rollups, at most ``points`` rows, JSON or CSV.

    ``limit`` (the original parameter) still returns the newest ``limit`` full readings.
    """
    hub = app_module.get_hub(request)
    battery_id = request.match_info["id"]
    store = await require_battery(request, READ, battery_id)
    await _known(hub, store, battery_id)
    asked = request[QUERY]
    start, end = asked.get("from"), asked.get("to")
    if start and end and start > end:
        raise ApiError(
            422, "from must not be after to", [{"path": "query.from", "message": "must not be after query.to"}]
        )
    as_csv = _wants_csv(request)
    limit = asked.get("limit")
    try:
        query = HistoryQuery(
            battery_id,
            start,
            end,
            parse_resolution(asked.get("resolution"), RAW if limit else AUTO),
            asked.get("points", limit or 1000),
            parse_fields(asked.get("fields")),
            limit,
            metrics_only=as_csv,
        )
        result = await run_history(store, query, utc_now())
    except HistoryError as err:
        raise ApiError(422, err.message, err.details) from err
    if not as_csv:
        return envelope(request, result.data, meta=result.meta)
    name = f"{battery_id}-{result.meta['resolution']}.csv"
    return web.Response(
        text=render_csv(result.data, result.fields, result.aggregated),
        content_type="text/csv",
        charset="utf-8",
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )


def _wants_csv(request: web.Request) -> bool:
    """``format=csv|json`` decides; without it, an Accept naming text/csv and not JSON."""
    chosen = request[QUERY].get("format")
    if chosen:
        return bool(chosen == "csv")
    accept = request.headers.get("Accept", "")
    return "text/csv" in accept and "application/json" not in accept


async def cells(request: web.Request) -> web.Response:
    """Cell voltages with 1-based indices, balancing flags and extremes."""
    reading, meta = await _latest(request)
    balancing = set(reading.balancing)
    body = reading.to_dict()
    result = {
        "timestamp": body["timestamp"],
        "cells": [
            {"index": i, "voltage": v, "balancing": i in balancing} for i, v in enumerate(reading.cells, start=1)
        ],
        "cell_min": body["cell_min"],
        "cell_max": body["cell_max"],
        "cell_delta": reading.cell_delta,
    }
    return envelope(request, result, meta=meta)


async def temperatures(request: web.Request) -> web.Response:
    """Temperature sensors of the newest reading."""
    reading, meta = await _latest(request)
    body = reading.to_dict()
    return envelope(request, {"timestamp": body["timestamp"], "temperatures": body["temperatures"]}, meta=meta)


async def alarms(request: web.Request) -> web.Response:
    """The BMS's own active alarms in the newest reading."""
    reading, meta = await _latest(request)
    body = reading.to_dict()
    return envelope(request, {"timestamp": body["timestamp"], "alarms": body["alarms"]}, meta=meta)


BMS = ("bms",)
UNKNOWN = (404,)
LATEST_META = "meta: link_state, age_s, stale"
CELLS = obj(
    timestamp=TIME,
    cells=array(obj(index=INT, voltage=NUM, balancing={"type": "boolean"})),
    cell_min=READING["properties"]["cell_min"],
    cell_max=READING["properties"]["cell_max"],
    cell_delta=N_NUM,
)
TYPE_INFO = obj(name=STR, description=STR, transports=array(STR), plugin=N_STR, options=array(STR))
STATUS = {
    **BATTERY,
    "properties": {
        **BATTERY["properties"],
        "health": N_STR,
        "reason": N_STR,
        "consecutive_failures": INT,
        "polls": INT,
        "details": {"type": "object", "description": "driver-specific values with no reading field (optional)"},
    },
}
HISTORY = {"anyOf": [array(READING), array(OBJECT)]}
ENDPOINTS = (
    Endpoint(
        "GET", "/api/v1/bms", list_batteries, "Batteries with driver and link state", READ, BMS, data=array(BATTERY)
    ),
    Endpoint("GET", "/api/v1/bms/types", types, "BMS families the plugins can read", READ, BMS, data=array(TYPE_INFO)),
    Endpoint(
        "GET", "/api/v1/bms/status/{id}", status, "Link status of a battery", READ, BMS, data=STATUS, errors=UNKNOWN
    ),
    Endpoint("GET", "/api/v1/bms/data/{id}", data, "The newest reading", READ, BMS, data=READING, errors=UNKNOWN),
    Endpoint(
        "GET",
        "/api/v1/bms/data/{id}/history",
        history,
        "History: raw readings or rollups, JSON or CSV (format=csv or Accept: text/csv)",
        READ,
        BMS,
        query=HISTORY_QUERY,
        data=HISTORY,
        errors=UNKNOWN,
    ),
    Endpoint(
        "GET",
        "/api/v1/bms/cells/{id}",
        cells,
        "Cell voltages of the newest reading",
        READ,
        BMS,
        data=CELLS,
        errors=UNKNOWN,
    ),
    Endpoint(
        "GET",
        "/api/v1/bms/temperatures/{id}",
        temperatures,
        "Temperatures of the newest reading",
        READ,
        BMS,
        data=obj(timestamp=TIME, temperatures=array(TEMPERATURE)),
        errors=UNKNOWN,
    ),
    Endpoint(
        "GET",
        "/api/v1/bms/alarms/{id}",
        alarms,
        "The BMS's active alarms in the newest reading",
        READ,
        BMS,
        data=obj(timestamp=TIME, alarms=array(ALARM)),
        errors=UNKNOWN,
    ),
)


def setup(app: web.Application) -> None:
    """Add the BMS routes."""
    add_endpoints(app, *ENDPOINTS)
