"""A Daly BLE GATT connection with the serial link's byte-stream interface, reconnects and keep-alive."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from bleak.exc import BleakError

from hub.specs import LinkError
from trackingbms_daly.ble.backend import BleBackend, GattClient

__all__ = [
    "CLOUD_HINT",
    "FALLBACK",
    "PRIMARY",
    "BleLink",
    "BluetoothUnavailableError",
    "GattPair",
    "KeepAlive",
    "uuid16",
]

_LOGGER = logging.getLogger(__name__)
# Why a Daly module may be invisible or refuse connections (daly.md §3.4, §4.6).
CLOUD_HINT = (
    "is the BMS awake and in range, and is no phone app connected to it? A module bound to "
    "Daly Cloud over WiFi keeps BLE off until the device is deleted in the Daly app"
)
_BLE_ERRORS = (BleakError, TimeoutError, OSError, EOFError)


def uuid16(short: int) -> str:
    """The full 128-bit UUID of a 16-bit Bluetooth SIG-base UUID, as bleak normalises them."""
    return f"0000{short:04x}-0000-1000-8000-00805f9b34fb"


class BluetoothUnavailableError(LinkError):
    """The host cannot scan at all (no adapter, Bluetooth off, no BlueZ)."""


@dataclass(frozen=True, slots=True)
class GattPair:
    """A notify (device to host) and a write (host to device) characteristic."""

    notify: str
    write: str


# Service fff0: notify fff1, write fff2 (aiobmsble, syssi); newer firmware also has ff00 with
# ff01/ff02, used when fff1 notify fails with org.bluez.Error.NotPermitted (batmon-ha #356).
PRIMARY = GattPair(uuid16(0xFFF1), uuid16(0xFFF2))
FALLBACK = GattPair(uuid16(0xFF01), uuid16(0xFF02))


class BleLink:
    """One Daly BLE module as a byte stream: the methods SerialLink offers and the Daly masters use.

    Notification payloads are buffered as they come, so frames split across notifications
    or joined in one are cut apart by the protocol framers, never by this link (daly.md
    §3.4, §3.5). Requests go out as write-without-response. A disconnect wakes a waiting
    read, which raises LinkError; the next exchange reopens the link with backoff.
    """

    def __init__(
        self,
        address: str,
        backend: BleBackend,
        *,
        connect_timeout: float = 15.0,
        scan_timeout: float = 10.0,
        attempts: int = 3,
        backoff: float = 1.0,
        backoff_max: float = 16.0,
    ) -> None:
        self.url = address
        self.backend = backend
        self.connect_timeout = connect_timeout
        self.scan_timeout = scan_timeout
        self.attempts = max(1, attempts)
        self.backoff = backoff
        self.backoff_max = backoff_max
        self.pair: GattPair | None = None
        self.capture: Callable[[str, bytes], None] | None = None
        self.connects = 0
        self.disconnects = 0
        self.bytes_in = self.bytes_out = 0
        self.last_activity = 0.0
        self._client: GattClient | None = None
        self._lost: str | None = None
        self._buffer = bytearray()
        self._data_ready = asyncio.Event()
        self._writes: list[bytes] = []
        self._writer: asyncio.Task[None] | None = None

    @property
    def is_open(self) -> bool:
        """Connected, subscribed, and not lost since."""
        return self._client is not None and self.pair is not None and self._lost is None

    async def open(self) -> None:
        """Connect, trying ``attempts`` times with exponential backoff; raises LinkError with a hint."""
        await self._drop_client()
        error: LinkError | None = None
        for attempt in range(self.attempts):
            if attempt:
                await asyncio.sleep(min(self.backoff_max, self.backoff * 2 ** (attempt - 1)))
            try:
                await self._connect_once()
                return
            except BluetoothUnavailableError:
                raise  # no adapter, no BlueZ: retrying and the module hints would not help
            except LinkError as err:
                error = err
                _LOGGER.debug("BLE connect to %s failed (try %d): %s", self.url, attempt + 1, err)
        raise LinkError(f"{error}; {CLOUD_HINT}")

    async def _connect_once(self) -> None:
        device = await self._find()
        client = self.backend.client_factory(
            device, disconnected_callback=self._on_disconnect, timeout=self.connect_timeout
        )
        try:
            async with asyncio.timeout(self.connect_timeout):
                await client.connect()
            self._client, self._lost = client, None
            self.pair = await self._subscribe(client)
        except _BLE_ERRORS as err:
            self._client = None
            with contextlib.suppress(*_BLE_ERRORS):
                await client.disconnect()
            raise LinkError(f"cannot connect to {self.url}: {type(err).__name__}: {err}") from err
        except LinkError:
            self._client = None
            with contextlib.suppress(*_BLE_ERRORS):
                await client.disconnect()
            raise
        self.connects += 1
        self.discard_input()
        _LOGGER.info("BLE %s connected (notify %s)", self.url, self.pair.notify[4:8])

    async def _find(self) -> Any:
        try:
            device = await self.backend.scanner.find_device_by_address(self.url, timeout=self.scan_timeout)
        except _BLE_ERRORS as err:
            raise BluetoothUnavailableError(f"cannot scan for {self.url}: {type(err).__name__}: {err}") from err
        if device is None:
            raise LinkError(f"Daly BLE device {self.url} not found in a {self.scan_timeout:g} s scan")
        return device

    async def _subscribe(self, client: GattClient) -> GattPair:
        """fff1/fff2, else ff01/ff02 when fff1 is missing or its notify is refused."""
        reasons: list[str] = []
        for pair in (PRIMARY, FALLBACK):
            services = client.services
            if services.get_characteristic(pair.notify) is None or services.get_characteristic(pair.write) is None:
                reasons.append(f"{pair.notify[4:8]}/{pair.write[4:8]} absent")
                continue
            try:
                await client.start_notify(pair.notify, self._on_notify)
            except BleakError as err:
                reasons.append(f"{pair.notify[4:8]} notify refused: {err}")
                _LOGGER.info("BLE %s: notify on %s refused (%s), trying the next pair", self.url, pair.notify, err)
                continue
            return pair
        raise LinkError(f"{self.url} has no usable Daly characteristics ({'; '.join(reasons)})")

    def _on_notify(self, _sender: Any, data: bytearray) -> None:
        chunk = bytes(data)
        self.bytes_in += len(chunk)
        if self.capture is not None:
            self.capture("rx", chunk)
        self._buffer += chunk
        self._data_ready.set()

    def _on_disconnect(self, client: Any) -> None:
        if client is not self._client:
            return  # a client we already dropped
        self.disconnects += 1
        self._lost = "disconnected"
        _LOGGER.info("BLE %s disconnected", self.url)
        self._data_ready.set()

    def write(self, data: bytes) -> None:
        """Queue a request; it goes out as write-without-response in order. Raises LinkError if closed."""
        if not self.is_open:
            raise LinkError(f"{self.url} is not connected{f' ({self._lost})' if self._lost else ''}")
        self.bytes_out += len(data)
        self.last_activity = asyncio.get_running_loop().time()
        if self.capture is not None:
            self.capture("tx", data)
        self._writes.append(bytes(data))
        if self._writer is None or self._writer.done():
            self._writer = asyncio.get_running_loop().create_task(self._send_writes())

    async def _send_writes(self) -> None:
        while self._writes and self._client is not None and self.pair is not None:
            data = self._writes.pop(0)
            try:
                await self._client.write_gatt_char(self.pair.write, data, response=False)
            except _BLE_ERRORS as err:
                self._lost = f"write failed: {type(err).__name__}: {err}"
                self._writes.clear()
                self._data_ready.set()

    def discard_input(self) -> bytes:
        """Drop (and return) unread bytes, e.g. late answers to an earlier request."""
        stale = bytes(self._buffer)
        self._buffer.clear()
        self._data_ready.clear()
        return stale

    async def read(self, timeout: float) -> bytes:  # noqa: ASYNC109 - a timed read is the point
        """Whatever arrived, waiting up to ``timeout`` for the first byte; b'' on timeout."""
        if not self._buffer:
            self._check_lost()
            self._data_ready.clear()
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(timeout):
                    await self._data_ready.wait()
            if not self._buffer:
                self._check_lost()
        data = bytes(self._buffer)
        self._buffer.clear()
        return data

    def _check_lost(self) -> None:
        if self._lost is not None:
            raise LinkError(f"{self.url}: {self._lost}")
        if self._client is None:
            raise LinkError(f"{self.url} is not connected")

    async def release(self) -> None:
        """Disconnect until the next exchange reconnects (release mode: lets the phone app in)."""
        await self._drop_client()

    async def close(self) -> None:
        """Disconnect; never raises."""
        await self._drop_client()

    async def _drop_client(self) -> None:
        client, self._client, self.pair = self._client, None, None
        self._writes.clear()
        if self._writer is not None and not self._writer.done():
            self._writer.cancel()
            with contextlib.suppress(asyncio.CancelledError, *_BLE_ERRORS):
                await self._writer
        self._writer = None
        if client is not None:
            with contextlib.suppress(*_BLE_ERRORS):
                async with asyncio.timeout(self.connect_timeout):
                    await client.disconnect()


class KeepAlive:
    """Pings the BMS when the link has been idle ``interval`` seconds, so the module keeps the connection."""

    def __init__(self, link: BleLink, interval: float, ping: Callable[[], Awaitable[object]]) -> None:
        self.link = link
        self.interval = interval
        self.ping = ping
        self.pings = 0
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        """Start pinging (again); a running task is kept."""
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self._run(), name=f"ble-keepalive-{self.link.url}")

    async def stop(self) -> None:
        """Stop pinging."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            idle = loop.time() - self.link.last_activity
            if idle < self.interval:
                await asyncio.sleep(self.interval - idle)
                continue
            if not self.link.is_open:
                # Released or lost: the next poll reconnects; a keep-alive must not hold the module.
                await asyncio.sleep(self.interval)
                continue
            try:
                await self.ping()
                self.pings += 1
            except Exception as err:  # a failed ping is reported by the next poll, never here
                _LOGGER.debug("BLE keep-alive to %s failed: %s", self.link.url, err)
                await asyncio.sleep(self.interval)
