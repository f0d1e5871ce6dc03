"""Core endpoints of the seed: health, services, reload, config per module, logs."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from hub.config import ConfigError
from hub.web import api_control
from hub.web import app as app_module
from hub.web.envelope import ApiError, envelope, json_body
from hub.web.params import int_param, time_param

routes = web.RouteTableDef()


def _issues(err: ConfigError) -> list[dict[str, Any]]:
    return [{"path": i.path, "line": i.line, "message": i.message, "text": str(i)} for i in err.issues]


@routes.get("/api/v1/core/health")
async def health(request: web.Request) -> web.Response:
    """Overall health with counts per state."""
    hub = app_module.get_hub(request)
    services = hub.registry.all()
    counts: dict[str, int] = {}
    for service in services:
        counts[service.health.value] = counts.get(service.health.value, 0) + 1
    batteries = hub.batteries.coordinators.values() if hub.batteries else []
    links: dict[str, int] = {}
    for coordinator in batteries:
        state = coordinator.link_state().value
        links[state] = links.get(state, 0) + 1
    data = {"status": hub.registry.overall().value, "version": hub.version, "services": counts, "batteries": links}
    return envelope(request, data)


@routes.get("/api/v1/core/services")
async def services(request: web.Request) -> web.Response:
    """Every module with its health, and every plugin with its load state."""
    hub = app_module.get_hub(request)
    data = {
        "services": [s.to_dict() for s in hub.registry.all()],
        "plugins": [p.to_dict() for p in hub.plugins.infos()],
        "bus": hub.bus.stats(),
    }
    return envelope(request, data)


@routes.post("/api/v1/core/services/reload")
async def reload_services(request: web.Request) -> web.Response:
    """Re-read the config file and reload what changed."""
    hub = app_module.get_hub(request)
    try:
        result = await hub.reload_all()
    except ConfigError as err:
        await api_control.audit(hub, request, "config.reload", "all", "rejected", error=str(err))
        raise ApiError(422, "config file is invalid; nothing was reloaded", _issues(err)) from err
    await api_control.audit(
        hub,
        request,
        "config.reload",
        "all",
        "ok",
        reloaded=result["reloaded"],
        restart_required=result["restart_required"],
    )
    message = f"{len(result['reloaded'])} section(s) reloaded"
    if result["restart_required"]:
        message += f"; restart to apply {', '.join(result['restart_required'])}"
    return envelope(request, result, message=message)


def _section_name(request: web.Request) -> str:
    hub = app_module.get_hub(request)
    name = request.match_info["module"]
    if name not in hub.config.sections():
        raise ApiError(404, f"unknown config module {name!r}", {"modules": hub.config.sections()})
    return name


@routes.get("/api/v1/core/config/{module}")
async def get_config(request: web.Request) -> web.Response:
    """A module's section as written in the file (secrets and ${ENV} references unexpanded)."""
    hub = app_module.get_hub(request)
    name = _section_name(request)
    return envelope(request, hub.config.section_as_written(name), meta={"module": name})


@routes.put("/api/v1/core/config/{module}")
async def put_config(request: web.Request) -> web.Response:
    """Validate a new section, write it to the file and reload that module."""
    hub = app_module.get_hub(request)
    name = _section_name(request)
    value = await json_body(request)
    try:
        await hub.config.update_section(name, value)
    except ConfigError as err:
        await api_control.audit(hub, request, "config.update", name, "rejected", error=str(err))
        raise ApiError(422, f"invalid {name} section; nothing was changed", _issues(err)) from err
    except OSError as err:
        raise ApiError(507, f"could not write the config file: {err.strerror}") from err
    result = await hub.reload_section(name)
    await api_control.audit(hub, request, "config.update", name, "ok", **result)
    return envelope(
        request,
        hub.config.section_as_written(name),
        meta={"module": name, **result},
        message="restart required to apply" if result["restart_required"] else "applied",
    )


@routes.get("/api/v1/core/logs")
async def logs(request: web.Request) -> web.Response:
    """Recent log records, newest first, filtered by level, module and time, paginated."""
    hub = app_module.get_hub(request)
    level = request.query.get("level")
    if level and level.upper() not in ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"):
        raise ApiError(422, "level must be one of DEBUG, INFO, WARNING, ERROR, CRITICAL", {"level": level})
    page = int_param(request, "page", 1, 1, 1_000_000)
    per_page = int_param(request, "per_page", 100, 1, 1000)
    records = hub.logs.ring.query(
        level=level,
        module=request.query.get("module"),
        since=time_param(request, "since"),
        until=time_param(request, "until"),
    )
    start = (page - 1) * per_page
    meta = {
        "pagination": {
            "page": page,
            "per_page": per_page,
            "total": len(records),
            "pages": (len(records) + per_page - 1) // per_page,
        }
    }
    return envelope(request, records[start : start + per_page], meta=meta)


def setup(app: web.Application) -> None:
    """Add the core routes."""
    app.add_routes(routes)
