"""Core endpoints of the seed: health, services, reload, config per module, logs."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import voluptuous as vol
from aiohttp import web

from hub.config import ConfigError
from hub.web import api_control
from hub.web import app as app_module
from hub.web.api import BODY, QUERY, Endpoint, add_endpoints
from hub.web.envelope import ApiError, envelope
from hub.web.params import iso_time, page_query, pagination
from hub.web.schemas import ANY, COUNTS, INT, OBJECT, PLUGIN, SERVICE, STR, array, nullable, obj

if TYPE_CHECKING:
    from hub.core import Hub

LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
LOGS_QUERY = {
    **page_query(),
    vol.Optional("level"): vol.All(vol.Upper, vol.In(LEVELS)),
    vol.Optional("module"): str,
    vol.Optional("since"): iso_time,
    vol.Optional("until"): iso_time,
}
LOG_RECORD = obj(time=STR, level=STR, logger=STR, module=STR, message=STR, seq=INT)
HEALTH = obj(status=STR, name=STR, version=STR, services=COUNTS, batteries=COUNTS)
SERVICES = obj(services=array(SERVICE), plugins=array(PLUGIN), bus=array(OBJECT))
RELOAD = obj(("reloaded", "restart_required"), reloaded=array(STR), restart_required=array(STR))
ISSUE = obj(path=STR, line=nullable(INT), message=STR, text=STR)


def _issues(err: ConfigError) -> list[dict[str, Any]]:
    return [{"path": i.path, "line": i.line, "message": i.message, "text": str(i)} for i in err.issues]


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
    data = {
        "status": hub.registry.overall().value,
        "name": hub.config.data["hub"]["name"],
        "version": hub.version,
        "services": counts,
        "batteries": links,
    }
    return envelope(request, data)


async def services(request: web.Request) -> web.Response:
    """Every module with its health, and every plugin with its load state."""
    hub = app_module.get_hub(request)
    data = {
        "services": [s.to_dict() for s in hub.registry.all()],
        "plugins": [p.to_dict() for p in hub.plugins.infos()],
        "bus": hub.bus.stats(),
    }
    return envelope(request, data)


async def reload_services(request: web.Request) -> web.Response:
    """Re-read the config file and reload what changed."""
    hub = app_module.get_hub(request)
    before = _sections_as_written(hub)
    try:
        result = await hub.reload_all()
    except ConfigError as err:
        await api_control.audit(hub, request, "config.reload", "all", "rejected", error=str(err))
        raise ApiError(422, "config file is invalid; nothing was reloaded", _issues(err)) from err
    after = _sections_as_written(hub)
    changed = sorted(k for k in before.keys() | after.keys() if before.get(k) != after.get(k))
    await api_control.audit(
        hub,
        request,
        "config.reload",
        "all",
        "ok",
        before={k: v for k, v in before.items() if k in changed},
        after={k: v for k, v in after.items() if k in changed},
        changed=changed,
        reloaded=result["reloaded"],
        restart_required=result["restart_required"],
    )
    message = f"{len(result['reloaded'])} section(s) reloaded"
    if result["restart_required"]:
        message += f"; restart to apply {', '.join(result['restart_required'])}"
    return envelope(request, result, message=message)


def _sections_as_written(hub: Hub) -> dict[str, Any]:
    """Every section as the file holds it (secret and ${ENV} references unexpanded)."""
    return {name: hub.config.section_as_written(name) for name in hub.config.sections()}


def _section_name(request: web.Request) -> str:
    hub = app_module.get_hub(request)
    name = request.match_info["module"]
    if name not in hub.config.sections():
        raise ApiError(404, f"unknown config module {name!r}", {"modules": hub.config.sections()})
    return name


async def get_config(request: web.Request) -> web.Response:
    """A module's section as written in the file (secrets and ${ENV} references unexpanded)."""
    hub = app_module.get_hub(request)
    name = _section_name(request)
    return envelope(request, hub.config.section_as_written(name), meta={"module": name})


async def put_config(request: web.Request) -> web.Response:
    """Validate a new section, write it to the file and reload that module."""
    hub = app_module.get_hub(request)
    name = _section_name(request)
    value = request[BODY]
    before = hub.config.section_as_written(name)
    try:
        await hub.config.update_section(name, value)
    except ConfigError as err:
        await api_control.audit(hub, request, "config.update", name, "rejected", before=before, error=str(err))
        raise ApiError(422, f"invalid {name} section; nothing was changed", _issues(err)) from err
    except OSError as err:
        raise ApiError(507, f"could not write the config file: {err.strerror}") from err
    result = await hub.reload_section(name)
    after = hub.config.section_as_written(name)
    await api_control.audit(hub, request, "config.update", name, "ok", before=before, after=after, **result)
    return envelope(
        request,
        after,
        meta={"module": name, **result},
        message="restart required to apply" if result["restart_required"] else "applied",
    )


async def logs(request: web.Request) -> web.Response:
    """Recent log records, newest first, filtered by level, module and time, paginated."""
    hub = app_module.get_hub(request)
    query = request[QUERY]
    page, per_page = query["page"], query["per_page"]
    records = hub.logs.ring.query(
        level=query.get("level"), module=query.get("module"), since=query.get("since"), until=query.get("until")
    )
    start = (page - 1) * per_page
    meta = {"pagination": pagination(page, per_page, len(records))}
    return envelope(request, records[start : start + per_page], meta=meta)


CORE = ("core",)
MODULE_ERRORS = (404,)
ENDPOINTS = (
    Endpoint("GET", "/api/v1/core/health", health, "Overall health with counts per state", None, CORE, data=HEALTH),
    Endpoint("GET", "/api/v1/core/services", services, "Modules, plugins and bus", "system.read", CORE, data=SERVICES),
    Endpoint(
        "POST",
        "/api/v1/core/services/reload",
        reload_services,
        "Re-read the config file and reload what changed",
        "system.manage",
        CORE,
        data=RELOAD,
        errors=(422,),
    ),
    Endpoint(
        "GET",
        "/api/v1/core/config/{module}",
        get_config,
        "A config section as written in the file",
        "system.read",
        CORE,
        data=ANY,
        errors=MODULE_ERRORS,
    ),
    Endpoint(
        "PUT",
        "/api/v1/core/config/{module}",
        put_config,
        "Validate, save and apply a config section",
        "system.manage",
        CORE,
        body=vol.Schema(object),
        data=ANY,
        errors=(*MODULE_ERRORS, 507),
    ),
    Endpoint(
        "GET",
        "/api/v1/core/logs",
        logs,
        "Recent log records, newest first",
        "system.read",
        CORE,
        query=LOGS_QUERY,
        data=array(LOG_RECORD),
    ),
)


def setup(app: web.Application) -> None:
    """Add the core routes."""
    add_endpoints(app, *ENDPOINTS)
