"""Battery analytics: kWh counters, coulomb-counted SOC, equivalent cycles and an SOH estimate (orders 300-340)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from hub.auth.policy import require_battery
from hub.hookspecs import hookimpl
from hub.specs import Processor, ProcessorSpec, Registry
from hub.web.api import Endpoint, add_endpoints
from hub.web.envelope import ApiError, envelope
from trackingbms_energy import steps
from trackingbms_energy.board import AnalyticsBoard
from trackingbms_energy.settings import CONFIG_SCHEMA, EnergySettings

if TYPE_CHECKING:
    from aiohttp import web

    from hub.core import Hub

ROUTE = "/api/v1/bms/analytics/{id}"
# name, order, description, builder: one step per concern, then the publisher.
STEPS: tuple[tuple[str, int, str, Callable[[EnergySettings, AnalyticsBoard], Processor]], ...] = (
    (steps.ENERGY, 300, "kWh charged and discharged (trapezoid rule)", steps.energy_step),
    (steps.COULOMB_SOC, 310, "coulomb-counted SOC, recalibrated at full", steps.soc_step),
    (steps.CYCLES, 320, "equivalent full cycles", steps.cycles_step),
    (steps.SOH, 330, "SOH estimate from full discharge windows", steps.soh_step),
    (steps.ANALYTICS, 340, "publishes data.bms.analytics", steps.publish_step),
)


@dataclass(frozen=True, slots=True)
class StepFactory:
    """Builds one step from the ``energy:`` section; every step of a hub shares the factory's board."""

    board: AnalyticsBoard
    build: Callable[[EnergySettings, AnalyticsBoard], Processor]

    def __call__(self, config: Mapping[str, Any]) -> Processor:
        return self.build(EnergySettings.from_config(config), self.board)


def find_board(processors: Registry[ProcessorSpec]) -> AnalyticsBoard | None:
    """The board the registered analytics steps share, or None when they are not registered."""
    spec = processors.get(steps.ANALYTICS)
    factory = spec.factory if spec is not None else None
    return factory.board if isinstance(factory, StepFactory) else None


def board_of(hub: Hub) -> AnalyticsBoard | None:
    """The analytics board of a hub (its plugin manager registered the steps), or None."""
    return find_board(hub.plugins.processors)


@hookimpl
def config_schema() -> Mapping[Any, Any]:
    """Capacities, "full" and "empty" conditions, gaps, corrections and saving, with per-battery overrides."""
    return CONFIG_SCHEMA


@hookimpl
def register_processors(processors: Registry[ProcessorSpec]) -> None:
    """Energy (300), coulomb SOC (310), cycles (320), SOH (330), then the analytics event (340)."""
    board = AnalyticsBoard()  # one per plugin manager, so per hub
    for name, order, description, build in STEPS:
        processors.add(ProcessorSpec(name, StepFactory(board, build), order=order, description=description))


@hookimpl
def hub_started(hub: Hub, config: Mapping[str, Any]) -> None:
    """Give the board the hub, whose bus carries the analytics events."""
    board = board_of(hub)
    if board is not None:
        board.hub = hub


@hookimpl
def hub_stopping(hub: Hub) -> None:
    """Stop publishing on this hub's bus."""
    board = board_of(hub)
    if board is not None and board.hub is hub:
        board.hub = None


@hookimpl
def register_routes(app: web.Application, hub: Hub) -> None:
    """GET /api/v1/bms/analytics/{id}: the latest analytics of a battery."""

    async def analytics(request: web.Request) -> web.Response:
        """The latest analytics of a battery; ``meta.problems`` lists what could not be computed."""
        battery_id = request.match_info["id"]
        await require_battery(request, "battery.read", battery_id)
        if hub.batteries is None or battery_id not in hub.batteries.coordinators:
            raise ApiError(404, f"unknown battery {battery_id!r}")
        board = board_of(hub)
        payload = board.latest(battery_id) if board is not None else None
        if board is None or payload is None:
            raise ApiError(404, f"no analytics yet for battery {battery_id!r}")
        problems = {k: v for k, v in board.problems.items() if k.endswith(f"/{battery_id}")}
        return envelope(request, payload, meta={"problems": problems})

    add_endpoints(
        app,
        Endpoint(
            "GET",
            ROUTE,
            analytics,
            "kWh counters, coulomb-counted SOC, cycles and SOH estimate",
            "battery.read",
            ("bms",),
            data={"type": "object"},
            errors=(404,),
        ),
    )
