"""Fake bleak: a client and scanner with BleakClient/BleakScanner's names over simulated Daly modules."""

from __future__ import annotations

import asyncio
import collections
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from bleak.exc import BleakCharacteristicNotFoundError, BleakDBusError, BleakDeviceNotFoundError, BleakError

from trackingbms_daly.ble.backend import BleBackend, NotifyCallback
from trackingbms_daly.ble.fake_device import FakeBLEDevice, FakeDaly, fake_daly
from trackingbms_daly.ble.link import FALLBACK, PRIMARY

__all__ = [
    "FAKE_AIR",
    "FakeAir",
    "FakeBleakClient",
    "FakeBleakScanner",
    "FakeCharacteristic",
    "FakeDaly",
    "fake_daly",
]

NOT_PERMITTED = "org.bluez.Error.NotPermitted"
_ANSWER_ON = {PRIMARY.write: PRIMARY.notify, FALLBACK.write: FALLBACK.notify}


@dataclass(frozen=True, slots=True)
class FakeCharacteristic:
    """What bleak's BleakGATTCharacteristic offers that Daly code reads."""

    uuid: str
    handle: int
    properties: list[str] = field(default_factory=list)


class FakeServices:
    """A BleakGATTServiceCollection look-alike: characteristics by UUID or handle."""

    def __init__(self, table: dict[str, list[str]]) -> None:
        self.characteristics = {
            handle: FakeCharacteristic(uuid, handle, props) for handle, (uuid, props) in enumerate(table.items(), 10)
        }

    def get_characteristic(self, specifier: int | str) -> FakeCharacteristic | None:
        """By handle, full UUID or 16-bit UUID ("fff1"); None when absent."""
        if isinstance(specifier, int):
            return self.characteristics.get(specifier)
        wanted = str(specifier).lower()
        if len(wanted) == 4:
            wanted = f"0000{wanted}-0000-1000-8000-00805f9b34fb"
        return next((c for c in self.characteristics.values() if c.uuid == wanted), None)


class FakeAir:
    """The fake modules in range, by address; the ``fake`` backend and ``daly_ble`` simulators share one."""

    def __init__(self) -> None:
        self._devices: dict[str, FakeDaly] = {}

    def add(self, device: FakeDaly) -> FakeDaly:
        """Put a module in range (replacing one with the same address)."""
        self._devices[device.address.upper()] = device
        return device

    def remove(self, address: str) -> None:
        """Take a module out of range; a connected central is dropped."""
        device = self._devices.pop(address.upper(), None)
        if device is not None and device.central is not None:
            device.central.drop()

    def get(self, address: str) -> FakeDaly | None:
        """The module with this address, if in range."""
        return self._devices.get(str(address).upper())

    def __iter__(self) -> Iterator[FakeDaly]:
        return iter(list(self._devices.values()))

    def client(self, address_or_ble_device: Any, disconnected_callback: Any = None, **kwargs: Any) -> FakeBleakClient:
        """A client factory with BleakClient's signature."""
        return FakeBleakClient(address_or_ble_device, disconnected_callback, air=self, **kwargs)

    def backend(self) -> BleBackend:
        """This air as a BLE backend."""
        return BleBackend("fake", self.client, FakeBleakScanner(self))


FAKE_AIR = FakeAir()


class FakeBleakScanner:
    """BleakScanner's discovery calls over a fake air; answers at once instead of scanning ``timeout``."""

    def __init__(self, air: FakeAir) -> None:
        self.air = air
        self.scans = 0

    async def discover(self, timeout: float = 5.0, *, return_adv: Any = False, **kwargs: Any) -> Any:  # noqa: ASYNC109
        """Advertising modules: a list of devices, or address -> (device, advertisement)."""
        await asyncio.sleep(0)
        self.scans += 1
        seen = {d.address: d.advertisement() for d in self.air if d.advertising}
        return seen if return_adv else [device for device, _ in seen.values()]

    async def find_device_by_address(
        self,
        device_identifier: str,
        timeout: float = 10.0,  # noqa: ASYNC109
        **kwargs: Any,
    ) -> FakeBLEDevice | None:
        """The advertising module with this address, else None."""
        await asyncio.sleep(0)
        device = self.air.get(device_identifier)
        return device.advertisement()[0] if device is not None and device.advertising else None


class FakeBleakClient:
    """BleakClient's connection, notify and write calls against a FakeDaly in a FakeAir.

    Notifications go out one per event-loop turn from a single queue, in order, like a real
    connection's notification stream; the answer to a write is never delivered inside the write.
    """

    def __init__(
        self,
        address_or_ble_device: Any,
        disconnected_callback: Callable[[FakeBleakClient], None] | None = None,
        services: Any = None,
        *,
        air: FakeAir,
        timeout: float = 10.0,
        **kwargs: Any,
    ) -> None:
        self.address = str(getattr(address_or_ble_device, "address", address_or_ble_device))
        self.air = air
        self._disconnected_callback = disconnected_callback
        self._device: FakeDaly | None = None
        self._services: FakeServices | None = None
        self._callbacks: dict[str, NotifyCallback] = {}
        self._queue: collections.deque[tuple[str, bytes]] = collections.deque()
        self._delivering = False
        self._writes = 0

    @property
    def is_connected(self) -> bool:
        """Whether connected."""
        return self._device is not None

    @property
    def services(self) -> FakeServices:
        """The GATT table; like bleak, an error before service discovery (connect)."""
        if self._services is None:
            raise BleakError("Service Discovery has not been performed yet")
        return self._services

    async def connect(self, **kwargs: Any) -> None:
        """Connect; the module must be in range, connectable and free."""
        await asyncio.sleep(0)
        device = self.air.get(self.address)
        if device is None:
            raise BleakDeviceNotFoundError(self.address, f"Device with address {self.address} was not found.")
        if not device.connectable:
            raise TimeoutError(f"{self.address} did not accept the connection")
        if device.central is not None and device.central is not self:
            raise BleakError(f"{self.address}: le-connection-abort-by-local (another central is connected)")
        device.central, device.connects = self, device.connects + 1
        self._device, self._services, self._writes = device, FakeServices(device.characteristics()), 0

    async def disconnect(self) -> None:
        """Disconnect (the disconnected callback runs, as with bleak)."""
        await asyncio.sleep(0)
        self.drop()

    def drop(self) -> None:
        """The link goes down now (range, module reset, our own disconnect)."""
        device, self._device, self._services = self._device, None, None
        self._callbacks.clear()
        self._queue.clear()
        if device is None:
            return
        if device.central is self:
            device.central = None
        if self._disconnected_callback is not None:
            self._disconnected_callback(self)

    def _resolve(self, specifier: Any) -> FakeCharacteristic:
        key = getattr(specifier, "uuid", specifier)
        characteristic = self.services.get_characteristic(key)
        if characteristic is None:
            raise BleakCharacteristicNotFoundError(key)
        return characteristic

    async def start_notify(self, char_specifier: Any, callback: NotifyCallback, **kwargs: Any) -> None:
        """Subscribe; fff1 refuses with NotPermitted when the module is set up so."""
        await asyncio.sleep(0)
        characteristic = self._resolve(char_specifier)
        assert self._device is not None
        if "notify" not in characteristic.properties:
            raise BleakError(f"{characteristic.uuid} does not notify")
        if characteristic.uuid == PRIMARY.notify and self._device.notify_not_permitted:
            raise BleakDBusError(NOT_PERMITTED, ["Notify acquired"])
        self._callbacks[characteristic.uuid] = callback

    async def stop_notify(self, char_specifier: Any) -> None:
        """Unsubscribe."""
        self._callbacks.pop(self._resolve(char_specifier).uuid, None)

    async def write_gatt_char(self, char_specifier: Any, data: Any, response: bool | None = None) -> None:
        """Hand the bytes to the module; its answers come back as notifications on the paired characteristic."""
        await asyncio.sleep(0)
        characteristic = self._resolve(char_specifier)
        device = self._device
        if device is None or characteristic.uuid not in _ANSWER_ON:
            raise BleakError(f"cannot write {characteristic.uuid}")
        self._writes += 1
        if device.drop_after_writes is not None and self._writes >= device.drop_after_writes:
            device.drop_after_writes = None
            device.writes.append(bytes(data))
            asyncio.get_running_loop().call_soon(self.drop)
            return
        self.notify(device.notifications(bytes(data)), _ANSWER_ON[characteristic.uuid])

    def notify(self, payloads: list[bytes], uuid: str = PRIMARY.notify) -> None:
        """Queue notification payloads (tests push arbitrary chunkings through here)."""
        self._queue.extend((uuid, bytes(p)) for p in payloads)
        if self._queue and not self._delivering:
            self._delivering = True
            asyncio.get_running_loop().call_soon(self._deliver)

    def _deliver(self) -> None:
        if not self._queue or self._device is None:
            self._delivering = False
            return
        uuid, payload = self._queue.popleft()
        callback = self._callbacks.get(uuid)
        if callback is not None and self._services is not None:
            callback(self._services.get_characteristic(uuid), bytearray(payload))
        asyncio.get_running_loop().call_soon(self._deliver)
