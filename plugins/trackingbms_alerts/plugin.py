"""Alert rules and the alert lifecycle: the plugin's hooks."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from hub.hookspecs import hookimpl
from trackingbms_alerts import api, api_rules
from trackingbms_alerts.service import service_of
from trackingbms_alerts.settings import CONFIG_SCHEMA

if TYPE_CHECKING:
    from aiohttp import web

    from hub.core import Hub


@hookimpl
def config_schema() -> Mapping[Any, Any]:
    """The ``alerts:`` section: rules directory, reminders, quiet hours, maintenance windows."""
    return CONFIG_SCHEMA


@hookimpl
async def hub_started(hub: Hub, config: Mapping[str, Any]) -> None:
    """Load the rules and the open alerts, then start evaluating readings."""
    await service_of(hub).start(config)


@hookimpl
async def hub_stopping(hub: Hub) -> None:
    """Stop evaluating; publish and store what is queued."""
    await service_of(hub).stop()


@hookimpl
def register_routes(app: web.Application, hub: Hub) -> None:
    """``/api/v1/alerts...``: alerts, acknowledgement, rules and rule dry runs."""
    api_rules.setup(app)  # first: /alerts/rules must not be taken for /alerts/{id}
    api.setup(app)
