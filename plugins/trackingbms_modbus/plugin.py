"""The Modbus plugin: registers the generic ``modbus`` driver (any map), its simulator and its decoder."""

from __future__ import annotations

from hub.hookspecs import hookimpl
from hub.specs import BatteryConfig, DriverContext, DriverSpec, Registry, SimulatorSpec
from trackingbms_modbus import simconfig
from trackingbms_modbus.describe import decode_frames
from trackingbms_modbus.driver import ModbusDriver
from trackingbms_modbus.options import BATTERY_SCHEMA, add_read_arguments, options_from_args


def _create(config: BatteryConfig, context: DriverContext) -> ModbusDriver:
    return ModbusDriver(config, context)


@hookimpl
def register_drivers(drivers: Registry[DriverSpec]) -> None:
    """Any Modbus RTU/TCP battery described by a YAML register map."""
    drivers.add(
        DriverSpec(
            name="modbus",
            description="any Modbus RTU or TCP battery described by a YAML register map (Seplos V3, Renogy...)",
            factory=_create,
            schema=BATTERY_SCHEMA,
            transports=("rs485", "tcp"),
            add_read_arguments=add_read_arguments,
            options_from_args=options_from_args,
            decode=decode_frames,
        )
    )


@hookimpl
def register_simulators(simulators: Registry[SimulatorSpec]) -> None:
    """A pymodbus server serving any map, over TCP or RTU on a pseudo-terminal."""
    simulators.add(
        SimulatorSpec(
            name="modbus",
            description="a Modbus device serving any register map (pymodbus server, TCP or RTU on a pty)",
            factory=simconfig.create,
            schema=simconfig.SIMULATOR_SCHEMA,
            add_arguments=simconfig.add_arguments,
            options_from_args=simconfig.options_from_args,
        )
    )
