"""Libre Solar BMS over ThingSet: registers the serial and CAN drivers, their simulators and the decoder."""

from __future__ import annotations

from hub.hookspecs import hookimpl
from hub.specs import DriverSpec, Registry, SimulatorSpec
from trackingbms_thingset import registration as reg
from trackingbms_thingset.describe import decode_inputs


@hookimpl
def register_drivers(drivers: Registry[DriverSpec]) -> None:
    """``thingset`` (UART, text mode) and ``thingset_can`` (python-can)."""
    drivers.add(
        DriverSpec(
            name="thingset",
            description="Libre Solar BMS, ThingSet text mode over UART (115200 8N1)",
            factory=reg.create_driver,
            schema=reg.BATTERY_SCHEMA,
            transports=("uart",),
            add_read_arguments=reg.add_read_arguments,
            options_from_args=reg.options_from_args,
            decode=decode_inputs,
            # A ThingSet device answers any era's request at 115200 baud; the era is detected (§2.2).
            probes=({},),
        )
    )
    drivers.add(
        DriverSpec(
            name="thingset_can",
            description="Libre Solar BMS, ThingSet reports over CAN (29-bit IDs, 500 kbit/s) via python-can",
            factory=reg.create_can_driver,
            schema=reg.CAN_BATTERY_SCHEMA,
            transports=("can",),
            add_read_arguments=reg.add_can_read_arguments,
            options_from_args=reg.can_options_from_args,
            decode=decode_inputs,
        )
    )


@hookimpl
def register_simulators(simulators: Registry[SimulatorSpec]) -> None:
    """A simulated BMS on a pty, and one on a python-can bus."""
    simulators.add(
        SimulatorSpec(
            name="thingset",
            description="simulated Libre Solar BMS (ThingSet text mode) on a pseudo-terminal, any firmware era",
            factory=reg.create_simulator,
            schema=reg.SIMULATOR_SCHEMA,
            add_arguments=reg.add_simulator_arguments,
            options_from_args=reg.simulator_options_from_args,
        )
    )
    simulators.add(
        SimulatorSpec(
            name="thingset_can",
            description="simulated Libre Solar BMS publishing ThingSet reports on a python-can bus",
            factory=reg.create_can_simulator,
            schema=reg.CAN_SIMULATOR_SCHEMA,
            add_arguments=reg.add_can_simulator_arguments,
            options_from_args=reg.can_simulator_options_from_args,
        )
    )
