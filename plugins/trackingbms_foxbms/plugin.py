"""The foxBMS plugin: registers the foxBMS 2 CAN driver, its simulator and its decoder."""

from __future__ import annotations

from hub.hookspecs import hookimpl
from hub.specs import BatteryConfig, DriverContext, DriverSpec, Registry, SimulatorSpec
from trackingbms_foxbms import simulator
from trackingbms_foxbms.config import BATTERY_SCHEMA, add_read_arguments, options_from_args
from trackingbms_foxbms.driver import FoxbmsDriver
from trackingbms_foxbms.textlog import decode_lines


def _create(config: BatteryConfig, context: DriverContext) -> FoxbmsDriver:
    return FoxbmsDriver(config, context)


@hookimpl
def register_drivers(drivers: Registry[DriverSpec]) -> None:
    """foxBMS 2 over CAN (listen only by default)."""
    drivers.add(
        DriverSpec(
            name="foxbms",
            description="foxBMS 2 (Fraunhofer IISB) over CAN, 500 kbit/s, decoded with the official DBC; listen only",
            factory=_create,
            schema=BATTERY_SCHEMA,
            transports=("can",),
            add_read_arguments=add_read_arguments,
            options_from_args=options_from_args,
            decode=decode_lines,
        )
    )


@hookimpl
def register_simulators(simulators: Registry[SimulatorSpec]) -> None:
    """A foxBMS 2 master broadcasting on a python-can bus."""
    simulators.add(
        SimulatorSpec(
            name="foxbms",
            description="simulated foxBMS 2 master broadcasting its CAN messages (python-can bus, e.g. vcan0)",
            factory=simulator.create,
            schema=simulator.SIMULATOR_SCHEMA,
            add_arguments=simulator.add_arguments,
            options_from_args=simulator.options_from_args,
        )
    )
