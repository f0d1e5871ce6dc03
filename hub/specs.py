"""What plugins register through the hooks: drivers, simulators, processors, notifiers, auth providers."""

from __future__ import annotations

import argparse
from collections.abc import Awaitable, Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Generic, Protocol, TypeVar

from hub.reading import Reading

if TYPE_CHECKING:
    from hub.transport.shared import PortRegistry


class LinkError(Exception):
    """The battery did not answer, or the transport failed (timeouts, I/O errors)."""


class DataError(Exception):
    """The battery answered, but with data that cannot make a reading."""


class ControlError(Exception):
    """A control write failed or was not confirmed by reading back (HTTP 502)."""

    status = 502


class ControlRefusedError(ControlError):
    """A control write that is not allowed: writes are disabled for this battery (HTTP 403)."""

    status = 403


class ControlUnsupportedError(ControlError):
    """A control action the driver does not support, or a value out of range (HTTP 422)."""

    status = 422


# Control actions a driver may support, with the value each takes.
CONTROL_ACTIONS: dict[str, str] = {
    "charge_mos": "bool: switch the charge MOSFET on or off",
    "discharge_mos": "bool: switch the discharge MOSFET on or off",
    "soc": "number 0-100: set the BMS's state of charge (%)",
    "restart": "null: restart the BMS",
    "config": "object {setting name: value}: write BMS settings (ThingSet), each confirmed by reading back",
}


class ControllableDriver(Protocol):
    """A driver that can write to the BMS; each write is confirmed by reading back."""

    supported_controls: frozenset[str]

    async def control(self, action: str, value: Any) -> dict[str, Any]:
        """Apply one action; returns what was read back. Raises ControlError or LinkError."""


@dataclass(frozen=True, slots=True)
class BatteryConfig:
    """One validated entry of the ``batteries`` section."""

    id: str
    name: str
    driver: str
    poll_interval: float
    options: Mapping[str, Any] = field(default_factory=dict)


def _port_registry() -> PortRegistry:
    from hub.transport.shared import PortRegistry  # the transport imports LinkError from here

    return PortRegistry()


@dataclass(frozen=True, slots=True)
class DriverContext:
    """What the hub hands a driver factory besides the battery's own config."""

    data_dir: Path
    # Batteries on the same serial port (RS485 multi-drop) share one open port through this.
    ports: PortRegistry = field(default_factory=_port_registry)


class BatteryDriver(Protocol):
    """One connected battery: connect once, poll many times, close at the end."""

    async def connect(self) -> None:
        """Open the link; raises LinkError when the device cannot be reached."""

    async def poll(self) -> Reading:
        """Read the battery once; raises LinkError (no answer) or DataError (bad answer)."""

    async def close(self) -> None:
        """Release the link; must not raise."""


@dataclass(frozen=True, slots=True)
class DriverSpec:
    """A BMS family a plugin can read, with its config schema and optional CLI helpers."""

    name: str
    description: str
    factory: Callable[[BatteryConfig, DriverContext], BatteryDriver]
    # voluptuous dict schema for the driver's own keys of a battery entry.
    schema: Mapping[Any, Any] = field(default_factory=dict)
    transports: tuple[str, ...] = ()
    # `trackingbms read <driver>`: adds CLI options and maps them to a battery entry.
    add_read_arguments: Callable[[argparse.ArgumentParser], None] | None = None
    options_from_args: Callable[[argparse.Namespace], dict[str, Any]] | None = None
    # `trackingbms decode <driver> HEX...`: one dict of decoded fields per frame.
    decode: Callable[[Sequence[str]], list[dict[str, Any]]] | None = None
    # `trackingbms scan`: option sets to try, in order, on each serial port (merged with `port`).
    probes: tuple[Mapping[str, Any], ...] = ()
    # `trackingbms scan`: finds devices without a port (Bluetooth), as ready battery entries.
    discover: Callable[[float], Awaitable[list[dict[str, Any]]]] | None = None


class Simulator(Protocol):
    """A running device simulator."""

    link: str

    async def start(self) -> None:
        """Start serving the device."""

    async def stop(self) -> None:
        """Stop serving and release the link."""


@dataclass(frozen=True, slots=True)
class SimulatorSpec:
    """A device simulator for `trackingbms simulate <name>` and the ``simulators`` config section."""

    name: str
    description: str
    factory: Callable[[Mapping[str, Any], Path], Simulator]
    schema: Mapping[Any, Any] = field(default_factory=dict)
    add_arguments: Callable[[argparse.ArgumentParser], None] | None = None
    options_from_args: Callable[[argparse.Namespace], dict[str, Any]] | None = None


class Processor(Protocol):
    """A step of the reading pipeline; returns the (changed) reading, or None to drop it.

    A processor that keeps state across restarts may also define ``async attach(store)`` (called
    once after it is built, with the tenant store: load state with ``store.load_state``) and
    ``async close()`` (called at shutdown and before a reload: save state with ``save_state``).
    """

    def process(self, reading: Reading) -> Reading | Awaitable[Reading | None] | None:
        """Process one reading."""


@dataclass(frozen=True, slots=True)
class ProcessorSpec:
    """A pipeline step; lower ``order`` runs first (validate 100, derive 200, stats 300...)."""

    name: str
    factory: Callable[[Mapping[str, Any]], Processor]
    order: int = 500
    description: str = ""


@dataclass(frozen=True, slots=True)
class NotifierSpec:
    """A way to send a notification (email, SMS, webhook, MQTT)."""

    name: str
    factory: Callable[[Mapping[str, Any]], Any]
    schema: Mapping[Any, Any] = field(default_factory=dict)
    description: str = ""


@dataclass(frozen=True, slots=True)
class AuthProviderSpec:
    """A source of user identities (database, LDAP, OIDC)."""

    name: str
    factory: Callable[[Mapping[str, Any]], Any]
    description: str = ""


class HasName(Protocol):
    """Anything registered by name."""

    @property
    def name(self) -> str:
        """The registered name."""


T = TypeVar("T", bound=HasName)


class DuplicateRegistrationError(ValueError):
    """Two plugins registered the same name."""


class Registry(Generic[T]):
    """Named specs contributed by plugins; remembers which plugin gave each one."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._items: dict[str, T] = {}
        self.owners: dict[str, str] = {}
        self.current_plugin = "?"

    def add(self, spec: T) -> None:
        """Register a spec; a second registration of the same name is an error."""
        if spec.name in self._items:
            raise DuplicateRegistrationError(
                f"{self.kind} {spec.name!r} already registered by plugin {self.owners[spec.name]!r}"
            )
        self._items[spec.name] = spec
        self.owners[spec.name] = self.current_plugin

    def get(self, name: str) -> T | None:
        """A spec by name."""
        return self._items.get(name)

    def names(self) -> list[str]:
        """Registered names, sorted."""
        return sorted(self._items)

    def __iter__(self) -> Iterator[T]:
        return iter(self._items.values())

    def __len__(self) -> int:
        return len(self._items)

    def __contains__(self, name: object) -> bool:
        return name in self._items
