"""BMS read endpoints: battery list, types, status, latest data, history, cells, temperatures, alarms."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from aiohttp import web

from hub.batteries import Coordinator, LinkState
from hub.export import render_csv
from hub.reading import Reading, utc_now
from hub.storage.history import AUTO, RAW, HistoryError, HistoryQuery, parse_fields, parse_resolution, run_history
from hub.web import app as app_module
from hub.web.envelope import ApiError, envelope
from hub.web.params import int_param, time_param

if TYPE_CHECKING:
    from hub.core import Hub

routes = web.RouteTableDef()
MAX_HISTORY = 10_000


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


async def _latest(request: web.Request) -> tuple[Coordinator, Reading, dict[str, Any]]:
    """The newest processed reading of a battery, with freshness in meta; 404 if none yet."""
    hub = app_module.get_hub(request)
    battery_id = request.match_info["id"]
    coordinator = _coordinator(hub, battery_id)
    assert hub.batteries is not None
    reading = hub.batteries.latest.get(battery_id) or await hub.store.latest(battery_id)
    if reading is None:
        raise ApiError(
            404, f"no reading yet for battery {battery_id!r}", {"link_state": coordinator.link_state().value}
        )
    state = coordinator.link_state()
    age = (utc_now() - reading.timestamp).total_seconds()
    # A value is current only while the link is online; otherwise say it is stale.
    meta = {"link_state": state.value, "age_s": round(age, 3), "stale": state != LinkState.ONLINE}
    return coordinator, reading, meta


@routes.get("/api/v1/bms")
async def list_batteries(request: web.Request) -> web.Response:
    """Every configured battery with its driver and link state."""
    hub = app_module.get_hub(request)
    coordinators = hub.batteries.coordinators.values() if hub.batteries else []
    data = [_battery_summary(c) for c in coordinators]
    return envelope(request, data, meta={"count": len(data)})


@routes.get("/api/v1/bms/types")
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


@routes.get("/api/v1/bms/status/{id}")
async def status(request: web.Request) -> web.Response:
    """Link status of one battery: state, health, counters."""
    hub = app_module.get_hub(request)
    coordinator = _coordinator(hub, request.match_info["id"])
    service = hub.registry.get(coordinator.service)
    data = {
        **_battery_summary(coordinator),
        "health": service.health.value if service else None,
        "reason": service.reason if service else None,
        "consecutive_failures": coordinator.failures,
        "polls": coordinator.polls,
    }
    return envelope(request, data)


@routes.get("/api/v1/bms/data/{id}")
async def data(request: web.Request) -> web.Response:
    """The newest reading."""
    _, reading, meta = await _latest(request)
    return envelope(request, reading.to_dict(), meta=meta)


@routes.get("/api/v1/bms/data/{id}/history")
async def history(request: web.Request) -> web.Response:
    """History between ``from`` and ``to``: raw readings or rollups, at most ``points`` rows, JSON or CSV.

    ``limit`` (the original parameter) still returns the newest ``limit`` full readings.
    """
    hub = app_module.get_hub(request)
    battery_id = request.match_info["id"]
    _coordinator(hub, battery_id)
    start, end = time_param(request, "from"), time_param(request, "to")
    if start and end and start > end:
        raise ApiError(422, "from must not be after to", {"from": start.isoformat(), "to": end.isoformat()})
    as_csv = _wants_csv(request)
    limit = int_param(request, "limit", 1000, 1, MAX_HISTORY) if "limit" in request.query else None
    try:
        query = HistoryQuery(
            battery_id,
            start,
            end,
            parse_resolution(request.query.get("resolution"), RAW if limit else AUTO),
            int_param(request, "points", limit or 1000, 1, MAX_HISTORY),
            parse_fields(request.query.get("fields")),
            limit,
            metrics_only=as_csv,
        )
        result = await run_history(hub.store, query, utc_now())
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
    chosen = request.query.get("format")
    if chosen not in (None, "", "csv", "json"):
        raise ApiError(422, "format must be csv or json", {"format": chosen})
    if chosen:
        return chosen == "csv"
    accept = request.headers.get("Accept", "")
    return "text/csv" in accept and "application/json" not in accept


@routes.get("/api/v1/bms/cells/{id}")
async def cells(request: web.Request) -> web.Response:
    """Cell voltages with 1-based indices, balancing flags and extremes."""
    _, reading, meta = await _latest(request)
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


@routes.get("/api/v1/bms/temperatures/{id}")
async def temperatures(request: web.Request) -> web.Response:
    """Temperature sensors of the newest reading."""
    _, reading, meta = await _latest(request)
    body = reading.to_dict()
    return envelope(request, {"timestamp": body["timestamp"], "temperatures": body["temperatures"]}, meta=meta)


@routes.get("/api/v1/bms/alarms/{id}")
async def alarms(request: web.Request) -> web.Response:
    """The BMS's own active alarms in the newest reading."""
    _, reading, meta = await _latest(request)
    body = reading.to_dict()
    return envelope(request, {"timestamp": body["timestamp"], "alarms": body["alarms"]}, meta=meta)


def setup(app: web.Application) -> None:
    """Add the BMS routes."""
    app.add_routes(routes)
