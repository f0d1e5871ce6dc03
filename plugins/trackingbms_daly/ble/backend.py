"""The bleak API subset the BLE code uses, and the choice between real bleak and the fake backend."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Protocol

__all__ = [
    "BACKENDS",
    "BleBackend",
    "ClientFactory",
    "GattClient",
    "NotifyCallback",
    "Scanner",
    "backend_named",
    "bleak_backend",
]

BACKENDS = ("bleak", "fake")
# bleak calls notification callbacks with (characteristic, bytearray).
NotifyCallback = Callable[[Any, bytearray], None]


class GattClient(Protocol):
    """What the link needs from a ``bleak.BleakClient`` (the fake implements the same names)."""

    @property
    def is_connected(self) -> bool:
        """Whether the central is connected."""

    @property
    def services(self) -> Any:
        """The GATT service collection; ``get_characteristic(uuid)`` returns None when absent."""

    async def connect(self, **kwargs: Any) -> None:
        """Connect and discover services."""

    async def disconnect(self) -> None:
        """Disconnect."""

    async def start_notify(self, char_specifier: Any, callback: NotifyCallback, **kwargs: Any) -> None:
        """Subscribe to notifications of a characteristic."""

    async def write_gatt_char(self, char_specifier: Any, data: Any, response: bool | None = None) -> None:
        """Write a characteristic (``response=False``: write without response)."""


class Scanner(Protocol):
    """What scanning needs from ``bleak.BleakScanner`` (its class methods) or the fake scanner."""

    def discover(self, timeout: float = 5.0, *, return_adv: Any = False, **kwargs: Any) -> Awaitable[Any]:
        """Scan for ``timeout`` seconds; with ``return_adv=True`` a dict address -> (device, advertisement)."""

    def find_device_by_address(self, device_identifier: str, timeout: float = 10.0, **kwargs: Any) -> Awaitable[Any]:
        """The device with this address (MAC, or UUID on macOS), or None when it was not seen."""


# Called as factory(device_or_address, disconnected_callback=cb, timeout=seconds), like BleakClient.
ClientFactory = Callable[..., GattClient]


@dataclass(frozen=True, slots=True)
class BleBackend:
    """A client factory and a scanner that belong together: real bleak, or a fake air."""

    name: str
    client_factory: ClientFactory
    scanner: Scanner


def bleak_backend() -> BleBackend:
    """The real radio through bleak (imported only when a battery or scan needs it)."""
    from bleak import BleakClient, BleakScanner

    scanner: Any = BleakScanner  # its class methods are the Scanner protocol
    return BleBackend("bleak", BleakClient, scanner)


def backend_named(name: str) -> BleBackend:
    """``bleak`` or ``fake`` (the process-wide fake air that ``daly_ble`` simulators join)."""
    if name == "bleak":
        return bleak_backend()
    if name == "fake":
        from trackingbms_daly.ble.fake import FAKE_AIR

        return FAKE_AIR.backend()
    raise ValueError(f"unknown BLE backend {name!r} (known: {', '.join(BACKENDS)})")
